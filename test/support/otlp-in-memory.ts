import { context, metrics, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { type DataPoint, MeterProvider, MetricReader, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace'

/** A reader the test collects from on demand, instead of on a timer; a flush (lameduck's, at close) is kept. */
class CollectingReader extends MetricReader {
  flushed: Map<string, MetricData> | null = null
  protected override async onForceFlush(): Promise<void> {
    this.flushed = byName((await this.collect()).resourceMetrics)
  }
  protected override async onShutdown(): Promise<void> {}
}

function byName(resourceMetrics: ResourceMetrics): Map<string, MetricData> {
  const metrics = new Map<string, MetricData>()
  for (const scope of resourceMetrics.scopeMetrics) for (const metric of scope.metrics) metrics.set(metric.descriptor.name, metric)
  return metrics
}

export interface InMemoryTelemetry {
  readonly spans: () => ReadableSpan[]
  /** Collects now and returns the metrics by name. */
  readonly collect: () => Promise<Map<string, MetricData>>
  /** What the last force-flush exported, by name. */
  readonly flushed: () => Map<string, MetricData> | null
  readonly reset: () => void
  readonly uninstall: () => Promise<void>
}

/**
 * Registers an SDK with the OpenTelemetry API the way `register.ts` does, but
 * exporting to memory: spans as they end, metrics when the test collects.
 */
export function installInMemoryTelemetry(signals: { traces?: boolean; metrics?: boolean } = { traces: true, metrics: true }): InMemoryTelemetry {
  const exporter = new InMemorySpanExporter()
  const reader = new CollectingReader()
  const tracerProvider = signals.traces ? new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }) : null
  const meterProvider = signals.metrics ? new MeterProvider({ readers: [reader] }) : null
  if (tracerProvider) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    propagation.setGlobalPropagator(new W3CTraceContextPropagator())
    trace.setGlobalTracerProvider(tracerProvider)
  }
  if (meterProvider) metrics.setGlobalMeterProvider(meterProvider)

  return {
    spans: () => exporter.getFinishedSpans(),
    collect: async () => byName((await reader.collect()).resourceMetrics),
    flushed: () => reader.flushed,
    reset: () => exporter.reset(),
    async uninstall() {
      await Promise.allSettled([tracerProvider?.shutdown(), meterProvider?.shutdown()])
      trace.disable()
      metrics.disable()
      context.disable()
      propagation.disable()
    },
  }
}

/** The value of the data point whose attributes include `attributes`. */
export function pointValue(metric: MetricData | undefined, attributes: Record<string, unknown> = {}): unknown {
  const points = (metric?.dataPoints ?? []) as DataPoint<unknown>[]
  const point = points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
  return point?.value
}
