import { performance } from 'node:perf_hooks'

/**
 * Where lameduck's start-up time goes: the time each import adds, in load order, measured in a fresh
 * process (module caches empty), and with `--expose-gc` the RSS each adds (after a full GC).
 * Run after `tsc -p bench/tsconfig.json`: `node --expose-gc bench/profile/import-cost.ts`
 * (the modules are the compiled ones the benchmark runs).
 */
const gc = (globalThis as { gc?: () => void }).gc
const rssMb = () => {
  gc?.()
  return process.memoryUsage().rss / 1048576
}
const build = new URL('../../.tmp/bench-build/', import.meta.url)
const steps: [string, () => Promise<unknown>][] = [
  ['fastify', () => import('fastify')],
  ['src/service/error-replies (the baseline loads it too)', () => import(new URL('src/service/error-replies.js', build).href)],
  ['xstate', () => import('xstate')],
  ['rxjs', () => import('rxjs')],
  ['@opentelemetry/api', () => import('@opentelemetry/api')],
  ['ajv', () => import('ajv')],
  ['src/http/plugin-options (compiles the options schema)', () => import(new URL('src/http/plugin-options.js', build).href)],
  ['src/machine/lifecycle-machine', () => import(new URL('src/machine/lifecycle-machine.js', build).href)],
  ['src/http/lameduck-plugin (the rest)', () => import(new URL('src/http/lameduck-plugin.js', build).href)],
  ['src/debug/live-view-plugin', () => import(new URL('src/debug/live-view-plugin.js', build).href)],
  ['src/service/build-service (the rest)', () => import(new URL('src/service/build-service.js', build).href)],
]
const lines: string[] = []
for (const [name, load] of steps) {
  const rssBefore = rssMb()
  const start = performance.now()
  await load()
  const ms = performance.now() - start
  lines.push(`${ms.toFixed(1).padStart(7)} ms${gc ? ` ${(rssMb() - rssBefore).toFixed(1).padStart(6)} MB` : ''}  ${name}`)
}
process.stdout.write(`${lines.join('\n')}\n`)
