import type { ProxyTracerProvider } from '@opentelemetry/api'
import { instrumentationScope, otelApi, otelSdkRegistered } from './otel-global.ts'

export interface TraceIds {
  trace_id?: string
  span_id?: string
  trace_flags?: string
}

/**
 * pino mixin: the active span's ids on every line logged inside a request.
 * A fresh object each time: pino merges the line's fields into what the mixin returns.
 */
export function traceIdsMixin(): TraceIds {
  const { trace, isSpanContextValid } = otelApi()
  const span = trace.getActiveSpan()
  if (span === undefined) return {}
  const ids = span.spanContext()
  if (!isSpanContextValid(ids)) return {}
  return { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: ids.traceFlags === 1 ? '01' : '00' }
}

/**
 * Logger options that put trace ids on log lines, or none when no tracer is
 * registered: decided once when the logger is built, so a service without
 * tracing does not pay for a mixin call on every line (nor load the API).
 */
export function logCorrelation(): { mixin?: () => TraceIds } {
  if (!otelSdkRegistered()) return {}
  const provider = otelApi().trace.getTracerProvider() as ProxyTracerProvider
  return provider.getDelegateTracer?.(instrumentationScope) == null ? {} : { mixin: traceIdsMixin }
}
