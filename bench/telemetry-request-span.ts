/**
 * What request tracing costs: the reference service's POST /hello under load,
 * with no telemetry, with lameduck's lean request span, and with @fastify/otel
 * plus the HTTP instrumentation; spans exported over OTLP/HTTP protobuf to a
 * local receiver that discards them. Modes are interleaved round by round (the
 * machine is shared and noisy) and the median round is reported, with the
 * server process's CPU time per request, which contention disturbs less than throughput.
 *
 *   FASTIFY_OTEL_DIR=/tmp/fotel node bench/telemetry-request-span.ts [seconds=5] [connections=32] [rounds=4]
 *
 * (/tmp/fotel: `npm install --prefix /tmp/fotel @fastify/otel @opentelemetry/instrumentation-http
 * @opentelemetry/instrumentation@0.301.0 autocannon`.) Without FASTIFY_OTEL_DIR the third mode is skipped.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'

const seconds = Number(process.argv[2] ?? 5)
const connections = Number(process.argv[3] ?? 32)
const rounds = Number(process.argv[4] ?? 4)
const otelDir = process.env.FASTIFY_OTEL_DIR
const autocannon = createRequire(`${otelDir ?? process.cwd()}/package.json`)('autocannon')

// A collector that takes everything and keeps nothing.
let exports = 0
const sink = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    exports++
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end()
  })
})
sink.listen(0, '127.0.0.1')
await once(sink, 'listening')
const endpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`

const modes = ['off', 'lean', 'lean-sampled-out', ...(otelDir ? ['fastify-otel'] : [])]
const results: Record<string, number[]> = {}
const cpu: Record<string, number[]> = {}

for (let round = 0; round < rounds; round++) {
  for (const mode of modes) {
    const port = 18_700 + round * 10 + modes.indexOf(mode)
    const child = fork('bench/telemetry-server.ts', [], {
      execArgv: ['--import', './src/telemetry/register.ts'],
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(port),
        HOST: '127.0.0.1',
        MAX_CONCURRENCY: '1000',
        LOG_LEVEL: 'warn',
        BENCH_MODE: mode,
        ...(otelDir ? { FASTIFY_OTEL_DIR: otelDir } : {}),
        ...(mode === 'off' ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_METRICS_EXPORTER: 'none' }),
        ...(mode === 'lean-sampled-out' ? { OTEL_TRACES_SAMPLER: 'always_off' } : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    await once(child, 'message')
    const url = `http://127.0.0.1:${port}/hello`
    const options = { url, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"bench"}', connections }
    await autocannon({ ...options, duration: 2 }) // warm up the JIT
    const before = exports
    const cpuBefore = await cpuOf(child)
    const result = await autocannon({ ...options, duration: seconds })
    const cpuUs = (await cpuOf(child)) - cpuBefore
    child.kill('SIGTERM')
    await once(child, 'exit')
    const perRequestUs = cpuUs / result.requests.total
    ;(results[mode] ??= []).push(result.requests.average)
    ;(cpu[mode] ??= []).push(perRequestUs)
    console.log(
      `${mode.padEnd(16)} round ${round + 1}: ${Math.round(result.requests.average)} req/s, ${perRequestUs.toFixed(1)} µs CPU/request, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}, OTLP exports ${exports - before}`,
    )
  }
}

const off = median(results.off!)
const offCpu = median(cpu.off!)
console.log('\nmode              req/s (median)   vs off   server CPU µs/request (median)   vs off')
for (const mode of modes) {
  const rps = median(results[mode]!)
  const us = median(cpu[mode]!)
  console.log(
    `${mode.padEnd(17)} ${String(Math.round(rps)).padStart(8)}   ${`${((rps / off) * 100).toFixed(0)}%`.padStart(10)}   ${us.toFixed(1).padStart(20)}   ${`${((us / offCpu) * 100).toFixed(0)}%`.padStart(16)}`,
  )
}
sink.close()

async function cpuOf(child: ReturnType<typeof fork>): Promise<number> {
  child.send('cpu')
  const [value] = await once(child, 'message')
  return value as number
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
