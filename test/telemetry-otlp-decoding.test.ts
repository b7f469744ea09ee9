import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto'
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'
import { afterEach, describe, expect, it } from 'vitest'
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver.ts'

/**
 * The test receiver decodes `http/protobuf` with a schema written in
 * test/support/otlp-proto.ts. Here the same data goes through the SDK's JSON
 * exporter and its protobuf exporter: if a field number or type in that schema
 * were wrong, the two decodings would differ.
 */
class Reader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const exportOnce = <T>(exporter: { export(data: T, done: (r: { code: number; error?: Error }) => void): void }, data: T) =>
  new Promise<void>((resolve, reject) => exporter.export(data, (r) => (r.code === 0 ? resolve() : reject(r.error))))

let receivers: OtlpReceiver[] = []
afterEach(async () => {
  await Promise.all(receivers.map((r) => r.close()))
  receivers = []
})

async function sample(): Promise<{ spans: ReadableSpan[]; metrics: ResourceMetrics }> {
  const resource = resourceFromAttributes({ 'service.name': 'decoder-check', 'service.instance.id': 'abc' })
  const memory = new InMemorySpanExporter()
  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: memory })] }).getTracer('scope')
  const span = tracer.startSpan('POST /hello', {
    kind: SpanKind.SERVER,
    attributes: { s: 'x', i: 42, big: 2 ** 40, d: 0.5, b: true, list: ['a', 'b'] },
  })
  span.addEvent('draining.drain', { 'lameduck.requests.in_flight': 3 })
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'abandoned' })
  span.end()

  const reader = new Reader()
  const meter = new MeterProvider({ resource, readers: [reader] }).getMeter('scope')
  meter.createCounter('c', { unit: '{request}' }).add(5, { reason: 'draining' })
  meter.createUpDownCounter('u').add(-2)
  meter.createHistogram('h', { unit: 's' }).record(1.5)
  meter.createGauge('g').record(0.25)
  const { resourceMetrics } = await reader.collect()
  return { spans: memory.getFinishedSpans(), metrics: resourceMetrics }
}

describe('the test receiver’s protobuf decoding', () => {
  it('reads exactly what the JSON encoding of the same spans and metrics says', async () => {
    const { spans, metrics } = await sample()
    const json = await startOtlpReceiver()
    const protobuf = await startOtlpReceiver()
    receivers.push(json, protobuf)
    await exportOnce(new JsonTraceExporter({ url: `${json.endpoint}/v1/traces` }), spans)
    await exportOnce(new ProtobufTraceExporter({ url: `${protobuf.endpoint}/v1/traces` }), spans)
    await exportOnce(new JsonMetricExporter({ url: `${json.endpoint}/v1/metrics` }), metrics)
    await exportOnce(new ProtobufMetricExporter({ url: `${protobuf.endpoint}/v1/metrics` }), metrics)

    expect(protobuf.contentTypes).toEqual(['application/x-protobuf', 'application/x-protobuf'])
    expect(json.contentTypes).toEqual(['application/json', 'application/json'])
    expect(protobuf.spans).toEqual(json.spans)
    expect(protobuf.metrics).toEqual(json.metrics)

    // And both say what was recorded.
    const [span] = protobuf.spans
    expect(span).toMatchObject({
      name: 'POST /hello',
      kind: 2,
      traceId: spans[0]!.spanContext().traceId,
      attributes: { s: 'x', i: 42, big: 2 ** 40, d: 0.5, b: true, list: ['a', 'b'] },
      events: [{ name: 'draining.drain', attributes: { 'lameduck.requests.in_flight': 3 } }],
      status: { code: 2, message: 'abandoned' },
      resource: { 'service.name': 'decoder-check' },
      scope: 'scope',
    })
    expect(protobuf.metrics.map((m) => [m.name, m.type, m.points[0]!.value])).toEqual([
      ['c', 'sum', 5],
      ['u', 'sum', -2],
      ['h', 'histogram', 1.5],
      ['g', 'gauge', 0.25],
    ])
  })
})
