import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { envVariables } from '../src/config/env-config.ts'
import { defaultOptions } from '../src/http/plugin-options.ts'

const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8')

/** Rows of the markdown table whose first cell is `name`: [name, default, ...]. */
function row(name: string): string[] | undefined {
  const line = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`))
  return line?.split('|').map((cell) => cell.trim()).slice(1, -1)
}

describe('README stays true to the code', () => {
  it.each(Object.entries(envVariables))('documents %s with its real default', (name, variable) => {
    expect(row(name)?.[1]).toBe(`\`${variable.default}\``)
  })

  it('documents no environment variable the service does not read', () => {
    const documented = [...readme.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1])
    expect(new Set(documented)).toEqual(new Set(Object.keys(envVariables)))
  })

  it.each(Object.entries(defaultOptions))('documents plugin option %s with its real default', (name, value) => {
    const shown = typeof value === 'string' ? `\`'${value}'\`` : `\`${value}\``
    expect(row(name)?.[1]?.replaceAll('_', '')).toBe(shown)
  })
})
