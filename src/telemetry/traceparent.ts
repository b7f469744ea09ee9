/**
 * A span's context as a W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header), the
 * form a cluster's primary hands its workers the replica's drain span in. Formatted and read here, not
 * through the SDK's propagator: the propagators are the application's choice (`OTEL_PROPAGATORS`), and
 * this never leaves lameduck's own IPC. No OpenTelemetry import: both sides load it without the API.
 */
export interface TraceParent {
  readonly traceId: string
  readonly spanId: string
  readonly traceFlags: number
}

const pattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

export function formatTraceparent({ traceId, spanId, traceFlags }: TraceParent): string {
  return `00-${traceId}-${spanId}-${(traceFlags & 0xff).toString(16).padStart(2, '0')}`
}

/** The parent a `traceparent` names, or null for anything else (all-zero ids are invalid, as the spec says). */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== 'string') return null
  const match = pattern.exec(value)
  if (!match) return null
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string]
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) }
}
