import type { trace as traceApi, isSpanContextValid as isValid } from '@opentelemetry/api'
import { registeredOtel } from './otel-global.ts'

export interface TraceIds {
  trace_id?: string
  span_id?: string
  trace_flags?: string
}

interface TraceApi {
  readonly trace: typeof traceApi
  readonly isSpanContextValid: typeof isValid
}

/**
 * The API the mixin reads spans through, handed over by lameduck's telemetry wiring when it loads
 * (instrument-lifecycle.ts). Not imported here: the logger is built before any plugin loads, and a
 * service without telemetry must not load the API at all. Until then no request has a span.
 */
let api: TraceApi | null = null

export function correlateThrough(traceApi: TraceApi): void {
  api = traceApi
}

/**
 * pino mixin: the active span's ids on every line logged inside a request.
 * A fresh object each time: pino merges the line's fields into what the mixin returns.
 */
export function traceIdsMixin(): TraceIds {
  if (api === null) return {}
  const span = api.trace.getActiveSpan()
  if (span === undefined) return {}
  const ids = span.spanContext()
  if (!api.isSpanContextValid(ids)) return {}
  return { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: ids.traceFlags === 1 ? '01' : '00' }
}

/**
 * Logger options that put trace ids on log lines, or none when no tracer provider is registered
 * (read off the global every API copy shares): decided once when the logger is built, so a service
 * without tracing does not pay for a mixin call on every line.
 */
export function logCorrelation(): { mixin?: () => TraceIds } {
  return registeredOtel()?.trace === undefined ? {} : { mixin: traceIdsMixin }
}
