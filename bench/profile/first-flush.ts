import { performance } from 'node:perf_hooks'
import { trace } from '@opentelemetry/api'
import { startOtlpSink } from '../otlp-sink.ts'

/**
 * How long lameduck's final telemetry flush takes, first in a process and then again:
 * starts the SDK as the `register` entry does (OTLP/HTTP protobuf to the local sink), ends one span
 * and flushes, three times. `node bench/profile/first-flush.ts` after `tsc -p bench/tsconfig.json`.
 */
const build = new URL('../../.tmp/bench-build/src/telemetry/', import.meta.url)
const sink = await startOtlpSink()
// The exporters read their endpoint from the environment themselves.
process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.endpointFor('flush')
process.env.OTEL_METRICS_EXPORTER = 'none'
const { readTelemetryConfig } = (await import(new URL('telemetry-config.js', build).href)) as typeof import('../../src/telemetry/telemetry-config.ts')
const { startTelemetry } = (await import(new URL('telemetry-sdk.js', build).href)) as typeof import('../../src/telemetry/telemetry-sdk.ts')
const { flushTelemetry } = (await import(new URL('active-providers.js', build).href)) as typeof import('../../src/telemetry/active-providers.ts')
startTelemetry(readTelemetryConfig(process.env), {
  report: (error) => process.stderr.write(`export failed: ${String(error)}\n`),
  summarize: () => {},
  suppressed: () => 0,
})
const tracer = trace.getTracer('first-flush')
for (let i = 1; i <= 3; i++) {
  tracer.startSpan(`span ${i}`).end()
  const start = performance.now()
  await flushTelemetry(2000)
  process.stdout.write(`flush ${i}: ${(performance.now() - start).toFixed(1)} ms (sink has ${sink.counts('flush').spans} spans)\n`)
}
await sink.close()
process.exit(0)
