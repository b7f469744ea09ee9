import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import { NodeSDK } from '@opentelemetry/sdk-node'

// Loaded by a computed name so that @fastify/otel's type augmentation (it adds a field to Fastify's
// FastifyContextConfig) stays out of the project's type check; see the benchmark report.
type Instrumentation = NonNullable<NonNullable<ConstructorParameters<typeof NodeSDK>[0]>['instrumentations']>[number]
const fastifyOtel = '@fastify/otel'
const { FastifyOtelInstrumentation } = (await import(fastifyOtel)) as {
  FastifyOtelInstrumentation: new (options: { registerOnInitialization: boolean }) => Instrumentation
}

/**
 * Variant 5, "the usual alternative for tracing", loaded with `--import` before the
 * service: the OpenTelemetry Node SDK with the HTTP instrumentation and @fastify/otel
 * (registered on Fastify's initialization channel), 100% sampling (the SDK default,
 * or OTEL_TRACES_SAMPLER), batch export over OTLP/HTTP protobuf to
 * OTEL_EXPORTER_OTLP_ENDPOINT. Metrics and logs exporters are off (OTEL_*_EXPORTER=none
 * in the variant's environment) so only traces are compared.
 */
const sdk = new NodeSDK({
  traceExporter: new OTLPTraceExporter(),
  instrumentations: [new HttpInstrumentation(), new FastifyOtelInstrumentation({ registerOnInitialization: true })],
})
sdk.start()

// Flush what is batched when the service exits; never turn a clean exit into a failure.
process.once('beforeExit', () => {
  sdk.shutdown().catch(() => {})
})
