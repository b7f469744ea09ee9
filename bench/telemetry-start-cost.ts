/**
 * What the instrumentation entry costs at start: spawn to "Server listening" and the idle RSS
 * half a second after, for the built service started the way the image starts it
 * (`node --import ./dist/telemetry/register.js dist/main.js`), without telemetry and exporting
 * traces and metrics over OTLP to a local receiver. Median of `runs` runs each, interleaved.
 *
 *   npm run build && node bench/telemetry-start-cost.ts [runs=7] [service dir=.]
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts'

const runs = Number(process.argv[2] ?? 7)
const dir = process.argv[3] ?? '.'
const live = await startOtlpReceiver()
const setups: [string, Record<string, string>][] = [
  ['no telemetry', {}],
  ['OTLP traces + metrics', { OTEL_EXPORTER_OTLP_ENDPOINT: live.endpoint }],
]

const startMs = new Map<string, number[]>()
const rssMb = new Map<string, number[]>()
for (let run = 0; run < runs; run++) {
  for (const [name, env] of setups) {
    const began = performance.now()
    const child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    await new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (/Server listening at/.test(line)) resolve()
      })
    })
    startMs.set(name, [...(startMs.get(name) ?? []), performance.now() - began])
    await sleep(500)
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1])
    rssMb.set(name, [...(rssMb.get(name) ?? []), kb / 1024])
    child.kill('SIGTERM')
    await once(child, 'exit')
  }
}
await live.close()

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!
console.log('setup                    spawn to listening, ms (median)   idle RSS, MB (median)')
for (const [name] of setups) {
  console.log(`${name.padEnd(24)} ${median(startMs.get(name)!).toFixed(0).padStart(10)}   ${median(rssMb.get(name)!).toFixed(1).padStart(28)}`)
}
