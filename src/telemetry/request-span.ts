import type { ServerResponse } from 'node:http'
import { type Attributes, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { refusalOf } from '../admission/refusal.ts'
import { isProbeRoute } from '../admission/probe-route.ts'
import { type LifecycleSnapshot, phaseName } from '../machine/snapshot-views.ts'
import { lameduckAttributes } from './attribute-names.ts'
import { activeRequestSpan, fastifyOtelPending, fastifyOtelSpan } from './instrumented-span.ts'
import { httpAttributes as http } from './http-attribute-names.ts'

// Semconv: a method outside this set is reported as `_OTHER`, keeping span names low-cardinality.
const knownMethods = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY'])

const spanOfResponse = Symbol('lameduck.requestSpan')
type TracedResponse = ServerResponse & { [spanOfResponse]?: Span }

/**
 * One SERVER span per request, the lean way: started in the first onRequest
 * hook, ended on the response's `close` (which fires exactly once, finished or
 * not), with the stable HTTP semantic-convention attributes and lameduck's own.
 * Installed only when a tracer provider is registered, so a service without
 * telemetry pays nothing per request. The choice over `@fastify/otel` is
 * measured in docs/observability.md.
 */
export function requestSpanHook(tracer: Tracer, getSnapshot: () => LifecycleSnapshot): onRequestHookHandler {
  function endRequestSpan(this: TracedResponse): void {
    const span = this[spanOfResponse]
    if (span === undefined) return
    this[spanOfResponse] = undefined
    if (this.headersSent) span.setAttribute(http.responseStatusCode, this.statusCode)
    if (!this.writableFinished) {
      // Cut before the response was complete: the drain deadline abandoned it, or the client left.
      span.setAttribute(http.errorType, wasAbandoned(getSnapshot()) ? 'abandoned' : 'aborted')
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'response not completed' })
    } else if (this.statusCode >= 500) {
      // 4xx are the client's errors, not the server span's (semconv).
      span.setAttribute(http.errorType, String(this.statusCode))
      span.setStatus({ code: SpanStatusCode.ERROR })
    }
    span.end()
  }

  return function startRequestSpan(request, reply, done) {
    const { config, url: route } = request.routeOptions
    // Probes run every few hundred milliseconds; tracing them would bury the requests that matter.
    if (isProbeRoute(config)) {
      done()
      return
    }
    const snapshot = getSnapshot()
    const lifecycle: Attributes = {
      [lameduckAttributes.lifecycleState]: phaseName(snapshot),
      [lameduckAttributes.inFlight]: snapshot.context.requests.inFlight,
    }
    // lameduck's admission hook runs next on this route and answers from the same snapshot.
    const reason = route === undefined ? null : refusalOf(snapshot, request.raw)
    if (reason !== null) lifecycle[lameduckAttributes.rejectReason] = reason
    const requestId = request.headers['x-request-id']
    if (typeof requestId === 'string') lifecycle[lameduckAttributes.requestIdHeader] = [requestId]
    const res = reply.raw as TracedResponse

    // Another instrumentation made this request's SERVER span: one span per request, so add to it.
    const instrumented = activeRequestSpan(context.active(), request)
    if (instrumented !== null) {
      // The HTTP instrumentation names its span and sets http.route from this at the span's end.
      if (instrumented.rpc !== undefined && instrumented.rpc.route === undefined && route !== undefined) instrumented.rpc.route = route
      addLifecycle(instrumented.span, lifecycle, reason, res)
      done()
      return
    }
    if (fastifyOtelPending(request)) {
      // @fastify/otel was registered after lameduck: its hook runs within done() and starts the span.
      const startTime = Date.now()
      done()
      const span = fastifyOtelSpan(request)
      if (span !== null) addLifecycle(span, lifecycle, reason, res)
      // lameduck answered before @fastify/otel's hook could run (a 503): the span is lameduck's to make.
      else startServerSpan(request, res, lifecycle, route, startTime)
      return
    }
    const parent = startServerSpan(request, res, lifecycle, route, undefined)
    // The rest of the request (hooks, handler, the application's logs) runs with this span active.
    context.with(parent, done)
  }

  /** lameduck's own SERVER span, continuing an incoming `traceparent`; returns the context it is active in. */
  function startServerSpan(request: FastifyRequest, res: TracedResponse, lifecycle: Attributes, route: string | undefined, startTime: number | undefined) {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers)
    const method = knownMethods.has(request.method) ? request.method : '_OTHER'
    const attributes: Attributes = {
      [http.requestMethod]: method,
      [http.urlPath]: pathOf(request.url),
      [http.urlScheme]: request.protocol,
      ...lifecycle,
    }
    if (method === '_OTHER') attributes[http.requestMethodOriginal] = request.method
    addServerAddress(attributes, request)
    if (route !== undefined) attributes[http.route] = route
    const name = route === undefined ? method : `${method} ${route}`
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, ...(startTime === undefined ? {} : { startTime }) }, parent)
    res[spanOfResponse] = span
    // `on`, not `once`: 'close' fires once anyway, and `once` wraps the listener in a closure per request.
    res.on('close', endRequestSpan)
    return trace.setSpan(parent, span)
  }

  /** On a span another instrumentation owns: lameduck's attributes, and an event when lameduck turned the request away or cut it. */
  function addLifecycle(span: Span, lifecycle: Attributes, reason: string | null, res: ServerResponse): void {
    span.setAttributes(lifecycle)
    if (reason !== null) span.addEvent('lameduck.request.rejected', { [lameduckAttributes.rejectReason]: reason })
    res.once('close', () => {
      // The owner may have ended its span already (then this is a no-op); it is still open when the
      // drain deadline cuts the connection before the response finished.
      if (!res.writableFinished && span.isRecording()) {
        span.addEvent(wasAbandoned(getSnapshot()) ? 'lameduck.request.abandoned' : 'lameduck.request.aborted')
      }
    })
  }
}

/** Stopped at the deadline or by a second signal: what was still in flight is abandoned and its connection cut. */
function wasAbandoned(snapshot: LifecycleSnapshot): boolean {
  const outcome = snapshot.context.outcome
  return outcome === 'timed_out' || outcome === 'forced'
}

function pathOf(url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/**
 * `server.address` and `server.port` from one read of `request.host` (Host, `:authority`, or a trusted
 * X-Forwarded-Host). Fastify's `hostname` and `port` getters read and parse the host three times
 * between them, 1.1% of a traced request's time (bench/findings.md).
 */
function addServerAddress(attributes: Attributes, request: FastifyRequest): void {
  const { name, port } = serverAddressOf(request.host)
  if (name) attributes[http.serverAddress] = name
  if (port) attributes[http.serverPort] = port
}

/** Splits a host as Fastify's `request.hostname` and `request.port` do (test/telemetry-server-address.test.ts). */
export function serverAddressOf(host: string): { name: string; port: number | null } {
  let name = host
  if (host[0] === '[') name = host.slice(0, host.indexOf(']') + 1)
  else {
    const colon = host.indexOf(':')
    if (colon !== -1) name = host.slice(0, colon)
  }
  // Digits after the last colon, as Fastify's /(:\d+)$/.
  const last = host.lastIndexOf(':')
  const port = last !== -1 && last < host.length - 1 && isDigits(host, last + 1) ? Number.parseInt(host.slice(last + 1), 10) : null
  return { name, port }
}

function isDigits(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 48 || code > 57) return false
  }
  return true
}
