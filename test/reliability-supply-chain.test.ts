import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { repoDir } from './support/reliability-child.ts'

const read = (path: string) => readFileSync(`${repoDir}${path}`, 'utf8')

interface LockPackage {
  hasInstallScript?: boolean
  dev?: boolean
}

describe('supply chain', () => {
  const lock = JSON.parse(read('package-lock.json')) as { lockfileVersion: number; packages: Record<string, LockPackage> }
  const withScripts = Object.entries(lock.packages)
    .filter(([, pkg]) => pkg.hasInstallScript)
    .map(([path, pkg]) => ({ name: path.replace(/^.*node_modules\//, ''), dev: pkg.dev === true }))

  it('the committed lockfile is a v3 lockfile (npm ci installs exactly it)', () => {
    expect(lock.lockfileVersion).toBe(3)
  })

  it('every package with an install script is allowed by name in package.json and explained in docs/reliability.md', () => {
    const allowed = Object.keys((JSON.parse(read('package.json')) as { allowScripts?: Record<string, boolean> }).allowScripts ?? {})
    expect(withScripts.map((p) => p.name).sort()).toEqual(allowed.sort())
    const docs = read('docs/reliability.md')
    const section = docs.slice(docs.indexOf('## Install scripts'))
    for (const { name } of withScripts) expect(section).toContain(`| \`${name}\` |`)
  })

  it('no production dependency runs an install script (the runtime image runs none)', () => {
    expect(withScripts.filter((p) => !p.dev)).toEqual([])
  })

  it('the image installs with npm ci from the lockfile and runs as a non-root user', () => {
    const dockerfile = read('Dockerfile')
    expect(dockerfile).not.toMatch(/npm install/)
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '))
    expect(runtime).toMatch(/npm ci --omit=dev/)
    const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1])
    expect(users.length).toBeGreaterThan(0)
    expect(['root', '0', '0:0']).not.toContain(users.at(-1))
    // USER comes before CMD, so the service itself runs unprivileged.
    expect(runtime.lastIndexOf('\nUSER ')).toBeLessThan(runtime.indexOf('\nCMD '))
  })
})
