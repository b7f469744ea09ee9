import { performance } from 'node:perf_hooks'

/**
 * Where lameduck's start-up time goes: the time each import adds, in load order, measured in a fresh
 * process (module caches empty). Run after `tsc -p bench/tsconfig.json`:
 * `node bench/profile/import-cost.ts` (the modules are the compiled ones the benchmark runs).
 */
const build = new URL('../../.tmp/bench-build/', import.meta.url)
const steps: [string, () => Promise<unknown>][] = [
  ['fastify', () => import('fastify')],
  ['xstate', () => import('xstate')],
  ['rxjs', () => import('rxjs')],
  ['ajv', () => import('ajv')],
  ['src/config/schema-check (new Ajv)', () => import(new URL('src/config/schema-check.js', build).href)],
  ['src/http/plugin-options (compiles the options schema)', () => import(new URL('src/http/plugin-options.js', build).href)],
  ['src/machine/lifecycle-machine', () => import(new URL('src/machine/lifecycle-machine.js', build).href)],
  ['src/http/lameduck-plugin (the rest)', () => import(new URL('src/http/lameduck-plugin.js', build).href)],
  ['src/debug/live-view-plugin', () => import(new URL('src/debug/live-view-plugin.js', build).href)],
  ['src/inspect/lifecycle-inspector', () => import(new URL('src/inspect/lifecycle-inspector.js', build).href)],
  ['src/service/build-service (the rest)', () => import(new URL('src/service/build-service.js', build).href)],
]
const lines: string[] = []
for (const [name, load] of steps) {
  const start = performance.now()
  await load()
  lines.push(`${(performance.now() - start).toFixed(1).padStart(7)} ms  ${name}`)
}
process.stdout.write(`${lines.join('\n')}\n`)
