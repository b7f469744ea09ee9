import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runRehearse } from './support/rehearse-cli.ts'
import { repoRoot } from './support/service-process.ts'

const pkg = JSON.parse(readFileSync(resolve(repoRoot, 'package.json'), 'utf8')) as {
  bin: Record<string, string>
  files: string[]
  dependencies: Record<string, string>
}

/** The module URLs loaded by `script` (an ES module run from the repository root), recorded by a load hook. */
function loadedBy(script: string): Promise<string[]> {
  const hook = `import { registerHooks } from 'node:module'
globalThis.loadedUrls = []
registerHooks({ load(url, context, next) { globalThis.loadedUrls.push(url); return next(url, context) } })`
  return new Promise((resolvePromise, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--input-type=module', '-e', `${script}\nconsole.log(JSON.stringify(globalThis.loadedUrls))`],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.once('error', reject)
    child.once('exit', () => resolvePromise(JSON.parse(out) as string[]))
  })
}

describe('the lameduck command in the package', () => {
  it('is a bin built into dist (shipped by `files`), with a node shebang, its client and parsers bundled in, not dependencies', () => {
    expect(pkg.bin).toEqual({ lameduck: './dist/rehearse/cli.js' })
    expect(pkg.files).toContain('dist')
    const bin = readFileSync(resolve(repoRoot, pkg.bin.lameduck ?? ''), 'utf8')
    expect(bin.split('\n')[0]).toBe('#!/usr/bin/env node')
    // Bundled (scripts/build-cli.ts): the plugin's users do not install what only the command needs.
    for (const name of ['undici', 'smol-toml', 'yaml']) expect(pkg.dependencies[name], name).toBeUndefined()
    expect(bin).not.toMatch(/from ['"](undici|smol-toml|yaml)['"]/)
  })

  it('answers --help with its usage, exit 0', async () => {
    const run = await runRehearse(['rehearse', '--help'])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^usage: lameduck rehearse \[options\] -- <command that starts the service>/)
  })

  it("the library's entry loads none of the CLI's dependencies: only the command pays for them", async () => {
    const urls = await loadedBy(`await import('./dist/index.js')`)
    expect(urls.some((u) => u.includes('/dist/index.js'))).toBe(true)
    expect(urls.filter((u) => /\/node_modules\/(undici|smol-toml|yaml)\//.test(u))).toEqual([])
    // The command itself is one file: copied alone where no node_modules can be found, it still runs.
    const dir = mkdtempSync(join(tmpdir(), 'lameduck-cli-'))
    try {
      copyFileSync(resolve(repoRoot, 'dist/rehearse/cli.js'), join(dir, 'cli.mjs'))
      const run = spawnSync(process.execPath, [join(dir, 'cli.mjs'), 'rehearse', '--help'], { cwd: dir, encoding: 'utf8' })
      expect(run.status, run.stderr).toBe(0)
      expect(run.stdout).toMatch(/^usage: lameduck rehearse/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
