import { createNoopMeter, type Meter, metrics, type ProxyTracerProvider, trace, type Tracer } from '@opentelemetry/api'
import { instrumentationScope } from './otel-global.ts'

/** The registered SDK's tracer and meter (`activeTracer()`, `activeMeter()`); at least one is set. */
export interface ActiveProviders {
  readonly tracer: Tracer | null
  readonly meter: Meter | null
}

/**
 * The tracer of the SDK registered with the OpenTelemetry API (by lameduck's
 * `register` entry or by the application), or `null` when there is none.
 * Asked once, when the plugin registers: telemetry off costs nothing per request.
 */
function activeTracer(): Tracer | null {
  // The API always hands out a proxy; only a registered SDK gives it a delegate.
  const provider = trace.getTracerProvider() as ProxyTracerProvider
  return provider.getDelegateTracer?.(instrumentationScope) ?? null
}

/** The meter of the registered SDK, or `null` when metrics go nowhere. */
function activeMeter(): Meter | null {
  const meter = metrics.getMeter(instrumentationScope)
  return meter === createNoopMeter() ? null : meter
}

/**
 * The registered SDK's tracer and meter, looked up once when the plugin registers. The plugin loads
 * this module (and the API) only when the global says an SDK registered something (otel-global.ts).
 */
export function activeProviders(): ActiveProviders {
  return { tracer: activeTracer(), meter: activeMeter() }
}

interface Flushable {
  forceFlush?: () => Promise<void>
}

/**
 * Exports what the SDK still buffers, waiting at most `timeoutMs`. Never
 * rejects: a collector that is down must not change how the process exits.
 */
export async function flushTelemetry(timeoutMs: number): Promise<void> {
  const tracerProvider = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate?.() as Flushable | undefined
  const meterProvider = metrics.getMeterProvider() as Flushable
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs)
    timer.unref()
  })
  try {
    await Promise.race([Promise.allSettled([tracerProvider?.forceFlush?.(), meterProvider.forceFlush?.()]), deadline])
  } finally {
    clearTimeout(timer)
  }
}
