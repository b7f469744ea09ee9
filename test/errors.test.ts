import { readFileSync } from 'node:fs'
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { errorCodes } from '../src/errors.ts'

const root = resolve(import.meta.dirname, '..')
const docs = readFileSync(join(root, 'docs/errors.md'), 'utf8')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

describe('error codes', () => {
  const codes = Object.keys(errorCodes)

  it('documents every code in docs/errors.md, and documents no code that does not exist', () => {
    const documented = [...docs.matchAll(/`(LAMEDUCK_[A-Z_]+)`/g)].map((m) => m[1])
    expect(new Set(documented)).toEqual(new Set(codes))
  })

  it('raises every code somewhere in the source (no dead codes)', () => {
    const code = sources(join(root, 'src'))
      .filter((file) => !file.endsWith('errors.ts'))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n')
    const raisedDirectly = codes.filter((c) => code.includes(`'${c}'`))
    const raisedByHelpers = ['LAMEDUCK_INVALID_OPTION', 'LAMEDUCK_INVALID_ENV'].filter((c) =>
      code.includes(c === 'LAMEDUCK_INVALID_OPTION' ? 'invalidOption(' : 'invalidEnv('),
    )
    expect(new Set([...raisedDirectly, ...raisedByHelpers])).toEqual(new Set(codes))
  })
})
