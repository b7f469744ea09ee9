/**
 * How much exporting delays a replica's exit: SIGTERM to process exit for the
 * built service with one request in flight (work_ms 200), without telemetry,
 * with a working collector, with a collector that is down (nothing listening)
 * and with one that answers after 5 s. Median of `runs` runs each.
 *
 *   npm run build && node bench/telemetry-exit-delay.ts [runs=5]
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { deadEndpoint, startOtlpReceiver } from '../test/support/otlp-receiver.ts'

const runs = Number(process.argv[2] ?? 5)
const live = await startOtlpReceiver()
const slow = await startOtlpReceiver({ delayMs: 5_000 })
const setups: [string, Record<string, string>][] = [
  ['no telemetry', {}],
  ['collector up', { OTEL_EXPORTER_OTLP_ENDPOINT: live.endpoint }],
  ['collector down', { OTEL_EXPORTER_OTLP_ENDPOINT: await deadEndpoint() }],
  ['collector slow (5 s)', { OTEL_EXPORTER_OTLP_ENDPOINT: slow.endpoint }],
]

const results = new Map<string, number[]>()
for (let run = 0; run < runs; run++) {
  for (const [name, env] of setups) {
    const child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const origin = await new Promise<string>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const match = /Server listening at (http:\/\/\S+)/.exec(JSON.parse(line).msg ?? '')
        if (match) resolve(match[1]!)
      })
    })
    const inFlight = request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"work_ms":200}' })
    await sleep(50)
    const signalAt = performance.now()
    child.kill('SIGTERM')
    await (await inFlight).body.text()
    const [code] = await once(child, 'exit')
    const ms = performance.now() - signalAt
    if (code !== 0) throw new Error(`${name}: exit code ${code}`)
    results.set(name, [...(results.get(name) ?? []), ms])
  }
}
await Promise.all([live.close(), slow.close()])

console.log('setup                   SIGTERM to exit, ms (median, min-max)   drain itself: ~150 ms of work left')
for (const [name, values] of results) {
  const sorted = [...values].sort((a, b) => a - b)
  const median = sorted[sorted.length >> 1]!
  console.log(`${name.padEnd(22)} ${median.toFixed(0).padStart(8)}   (${sorted[0]!.toFixed(0)}-${sorted.at(-1)!.toFixed(0)})`)
}
