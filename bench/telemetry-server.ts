/**
 * The server side of bench/telemetry-request-span.ts: the reference service on
 * the port given, with request tracing done one of three ways (BENCH_MODE):
 *   off           no OTLP endpoint: no SDK, no hook (what every service without telemetry pays)
 *   lean          lameduck's own SERVER span per request (the default with an endpoint)
 *   lean-sampled-out  the same hook with OTEL_TRACES_SAMPLER=always_off: what the hook costs when nothing is recorded
 *   fastify-otel  @fastify/otel + @opentelemetry/instrumentation-http, lameduck's request spans off
 * Started with `--import ./src/telemetry/register.ts`, like production.
 */
import { createRequire } from 'node:module'
import { readEnvConfig } from '../src/config/env-config.ts'

const mode = process.env.BENCH_MODE ?? 'off'
if (mode === 'fastify-otel') {
  // Not a dependency of lameduck: installed beside it only for this comparison (see docs/observability.md).
  const dir = process.env.FASTIFY_OTEL_DIR
  if (!dir) throw new Error('BENCH_MODE=fastify-otel needs FASTIFY_OTEL_DIR: a folder with @fastify/otel and @opentelemetry/instrumentation-http installed')
  const require = createRequire(`${dir}/package.json`)
  const { registerInstrumentations } = require('@opentelemetry/instrumentation')
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http')
  const { FastifyOtelInstrumentation } = require('@fastify/otel')
  registerInstrumentations({ instrumentations: [new HttpInstrumentation(), new FastifyOtelInstrumentation({ registerOnInitialization: true })] })
}

const { buildService } = await import('../src/service/build-service.ts')
const config = readEnvConfig(process.env)
const app = buildService(config, { requestSpans: mode.startsWith('lean') })
await app.listen({ port: config.port, host: config.host })
process.send?.('listening')
process.channel?.unref() // the IPC pipe must not hold the process open after the drain
// CPU time is steadier than throughput on a shared machine: the driver asks before and after the load.
process.on('message', () => {
  const { user, system } = process.cpuUsage()
  process.send?.(user + system)
})
