import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { runWrk, wrkMissing } from './load/run-wrk.ts'
import { startOtlpSink } from './otlp-sink.ts'
import { cpuMsOf, freePort, launch, memoryOf, stop, waitFor200 } from './server-process.ts'
import { prepareImage } from './shipped-image.ts'
import { buildDir, variants } from './variants.ts'

/**
 * `node bench/long-run.ts` (after `tsc -p bench/tsconfig.json`): one server under wrk load for LONG_SECONDS (600)
 * in slices of LONG_SLICE seconds (10), then idle for LONG_IDLE seconds (30), then one more slice. After every
 * slice: req/s, p99, the server's CPU per request, full GCs so far, and the state of `process.nextTick`'s inline
 * caches (bench/profile/tick-probe.ts). Shows whether the fast state survives the full GCs that come with load,
 * and an idle spell after it. LONG_VARIANT: a variant id (default `shipped`, the Dockerfile's CMD exactly).
 * Observation adds `--trace-gc --allow-natives-syntax --import tick-probe.js` ahead of the variant's own flags;
 * none of them changes how V8 collects or optimises. The server's stdout is kept in .tmp/long-run-<variant>.stdout.
 */
const int = (name: string, fallback: number) => {
  const raw = process.env[name]
  if (raw === undefined) return fallback
  if (!/^[0-9]+$/.test(raw)) throw new Error(`${name} must be a whole number; received ${JSON.stringify(raw)}`)
  return Number(raw)
}
const seconds = int('LONG_SECONDS', 600)
const slice = int('LONG_SLICE', 10)
const idle = int('LONG_IDLE', 30)
const id = process.env.LONG_VARIANT ?? 'shipped'
const variant = variants.find((v) => v.id === id)
if (!variant) throw new Error(`LONG_VARIANT: unknown ${JSON.stringify(id)}; known: ${variants.map((v) => v.id).join(', ')}`)
const missingWrk = wrkMissing()
if (missingWrk) throw new Error(missingWrk)
if (id.startsWith('shipped')) await prepareImage()
const unavailable = variant.unavailable()
if (unavailable) throw new Error(`${id}: ${unavailable}`)

const probe = fileURLToPath(new URL(`../${buildDir}/bench/profile/tick-probe.js`, import.meta.url))
const sink = await startOtlpSink()
const port = await freePort()
const spec = variant.launch({ port, sinkUrl: sink.endpointFor(id), shutdownDelayMs: 0 })
// The server's stdout goes to a file: V8 prints the GC trace and the probe's dump through C's stdio, which drops
// output on a non-blocking pipe.
const stdoutPath = fileURLToPath(new URL(`../.tmp/long-run-${id}.stdout`, import.meta.url))
const stdoutFd = openSync(stdoutPath, 'w')
const server = launch({ ...spec, args: ['--trace-gc', '--allow-natives-syntax', '--import', probe, ...spec.args], stdout: stdoutFd }, port)
await waitFor200(server, `${server.origin}${variant.readyPath}`, 20_000)

// The file grows by megabytes (a GC trace line per scavenge): read only what is new.
const reader = openSync(stdoutPath, 'r')
let readUpTo = 0
let fullGcCount = 0
let carry = ''
const readNew = (): string => {
  const size = fstatSync(reader).size
  if (size <= readUpTo) return ''
  const buffer = Buffer.alloc(size - readUpTo)
  readSync(reader, buffer, 0, buffer.length, readUpTo)
  readUpTo = size
  const text = buffer.toString('utf8')
  fullGcCount += (carry + text).split('Mark-Compact').length - 1 - (carry.split('Mark-Compact').length - 1)
  carry = text.slice(-20)
  return text
}
const fullGcs = () => {
  readNew()
  return fullGcCount
}

async function tickState(): Promise<string> {
  readNew()
  server.child.kill('SIGUSR2')
  // The probe ends its dump with 'TICK-PROBE-END' (bench/profile/tick-probe.ts; not imported here: it needs the flag).
  let dump = ''
  for (let waited = 0; !dump.includes('TICK-PROBE-END') && waited < 10_000; waited += 20) {
    await sleep(20)
    dump += readNew()
  }
  const slots = dump.match(/DefineKeyedOwnPropertyInLiteral \w+/g) ?? []
  const mega = slots.filter((slot) => !slot.endsWith('MONOMORPHIC')).length
  return mega > 0 ? `slow (${mega} of ${slots.length} megamorphic)` : slots.length > 0 ? 'fast (monomorphic)' : 'not seen'
}

// The probe flushes C's stdout, so the GC trace of the start is all in the file after it.
const stateAtReady = await tickState()
const rows: string[] = [
  `${variant.label}; started ${new Date().toISOString()}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; full GCs until ready: ${fullGcs()}; tick state at ready: ${stateAtReady}`,
  '',
  '| t (s) | req/s | p99 ms | CPU µs / request | RSS MB | full GCs so far | nextTick literal |',
  '|---:|---:|---:|---:|---:|---:|---|',
]
const log = (line: string) => process.stdout.write(`${line}\n`)
for (const line of rows) log(line)
const began = performance.now()
const load = { connections: 32, threads: 1, timeoutSeconds: 5, durationSeconds: slice }
async function measuredSlice(label?: string): Promise<void> {
  const cpuBefore = cpuMsOf(server.pid)
  const result = await runWrk(`${server.origin}/hello`, load)
  const cpuUs = ((cpuMsOf(server.pid) - cpuBefore) * 1000) / Math.max(1, result.requests)
  const t = label ?? ((performance.now() - began) / 1000).toFixed(0)
  const row = `| ${t} | ${result.requestsPerSecond.toFixed(0)} | ${result.p99Ms.toFixed(2)} | ${cpuUs.toFixed(1)} | ${memoryOf(server.pid).rssMb.toFixed(0)} | ${fullGcs()} | ${await tickState()} |`
  rows.push(row)
  log(row)
}
while (performance.now() - began < seconds * 1000) await measuredSlice()
await sleep(idle * 1000)
await measuredSlice(`after ${idle} s idle`)
log(`\nload average at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
await stop(server)
closeSync(stdoutFd)
closeSync(reader)
await sink.close()
