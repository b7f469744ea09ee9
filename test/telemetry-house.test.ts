import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * Issue 19, "the house": src/telemetry sits below src/http (the plugin loads it), so it must not
 * import from there, and its own modules must not import each other in a circle. What both need
 * (the phase name, the refusal, the probe mark) lives below both, in src/machine and src/admission.
 */
const src = fileURLToPath(new URL('../src/', import.meta.url))

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  )
}

/** Relative imports of a module, static and dynamic, type-only ones included: each is an arrow of the house. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) => match[1]!)
  return specifiers.map((specifier) => resolve(dirname(file), specifier))
}

const room = (file: string) => relative(src, file).split('/')[0]!
const graph = new Map(sourceFiles(src).map((file) => [file, importsOf(file)]))

function cyclesWithin(files: string[]): string[][] {
  const inside = new Set(files)
  const cycles: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (file: string) => {
    state.set(file, 'open')
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      if (!inside.has(next)) continue
      if (state.get(next) === 'open') cycles.push(path.slice(path.indexOf(next)).map((f) => relative(src, f)))
      else if (state.get(next) === undefined) visit(next)
    }
    path.pop()
    state.set(file, 'done')
  }
  for (const file of files) if (state.get(file) === undefined) visit(file)
  return cycles
}

describe('the house: every import arrow of src/telemetry runs down', () => {
  const telemetry = [...graph.keys()].filter((file) => room(file) === 'telemetry')

  it('the import scan sees the telemetry modules and their imports', () => {
    expect(telemetry.length).toBeGreaterThan(10)
    expect(graph.get(join(src, 'telemetry/request-span.ts'))).toContain(join(src, 'admission/refusal.ts'))
  })

  it('src/telemetry imports nothing from src/http (nor from the service or the entry above it)', () => {
    const upward = telemetry.flatMap((file) =>
      graph.get(file)!.filter((target) => ['http', 'service', 'main.ts'].includes(room(target))).map((target) => `${relative(src, file)} -> ${relative(src, target)}`),
    )
    expect(upward).toEqual([])
  })

  it('no two modules of src/telemetry import each other, directly or round a circle', () => {
    expect(cyclesWithin(telemetry)).toEqual([])
  })

  it('the rooms below it (src/admission, src/machine) import neither src/http nor src/telemetry', () => {
    const below = [...graph.keys()].filter((file) => ['admission', 'machine'].includes(room(file)))
    const upward = below.flatMap((file) => graph.get(file)!.filter((target) => ['http', 'telemetry'].includes(room(target))))
    expect(upward).toEqual([])
  })
})
