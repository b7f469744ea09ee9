import { type Context, createContextKey, isSpanContextValid, type Span, trace } from '@opentelemetry/api'
import type { FastifyRequest } from 'fastify'

/**
 * The span another instrumentation already made for this request, if any (issue 12: with
 * `@opentelemetry/instrumentation-http` or `@fastify/otel` beside lameduck's own span, every
 * request had two SERVER spans in two traces). lameduck then adds its attributes to that span
 * instead of starting one.
 */
export interface InstrumentedSpan {
  readonly span: Span
  /** The HTTP instrumentation's per-request record; its `route` names that SERVER span at its end. */
  readonly rpc: RpcMetadata | undefined
}

interface RpcMetadata {
  type?: string
  route?: string
  span?: Span
}

// @opentelemetry/core's RPC metadata (getRPCMetadata): the HTTP instrumentation keeps its SERVER
// span there. The API makes a context key from its description, so the same key is read here
// without importing the SDK.
const rpcMetadataKey = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA')

interface FastifyOtelRequest {
  opentelemetry?: () => { enabled?: boolean; span?: Span | null }
}

/**
 * The request's SERVER span if another instrumentation made it: the HTTP instrumentation's
 * (through its RPC metadata in the active context), else `@fastify/otel`'s request span
 * (registered before lameduck, it wraps lameduck's hooks in spans of their own, so the active
 * span is not the request's), else the active span.
 */
export function activeRequestSpan(active: Context, request: FastifyRequest): InstrumentedSpan | null {
  const rpc = active.getValue(rpcMetadataKey) as RpcMetadata | undefined
  // The first two belong to this request by construction. A bare active span might not (an app that
  // listens inside a span of its own hands that context to every connection): only a live one counts.
  const span =
    rpc?.type === 'http' && rpc.span !== undefined ? rpc.span : (fastifyOtelSpan(request) ?? liveSpan(trace.getSpan(active)))
  if (span === undefined || !isSpanContextValid(span.spanContext()) || span.spanContext().isRemote === true) return null
  return { span, rpc: rpc?.type === 'http' ? rpc : undefined }
}

/**
 * `@fastify/otel` registered after lameduck: its onRequest hook runs after lameduck's and will
 * start the request's span itself, so lameduck must not start one.
 */
export function fastifyOtelPending(request: FastifyRequest): boolean {
  const decorator = (request as FastifyOtelRequest).opentelemetry
  if (typeof decorator !== 'function') return false
  const state = decorator.call(request)
  return state.enabled === true && state.span == null
}

/** The span `@fastify/otel` has made for this request, once its hook has run. */
export function fastifyOtelSpan(request: FastifyRequest): Span | null {
  const decorator = (request as FastifyOtelRequest).opentelemetry
  return typeof decorator === 'function' ? (decorator.call(request).span ?? null) : null
}

function liveSpan(span: Span | undefined): Span | undefined {
  return span?.isRecording() === true ? span : undefined
}
