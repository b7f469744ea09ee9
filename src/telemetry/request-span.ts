import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Attributes, context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type TimeInput, trace, type Tracer } from '@opentelemetry/api'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, onSendHookHandler } from 'fastify'
import { refusalOf } from '../admission/refusal.ts'
import { isProbeRoute } from '../admission/probe-route.ts'
import { type LifecycleSnapshot, phaseName } from '../machine/snapshot-views.ts'
import { lameduckAttributes } from './attribute-names.ts'
import { activeRequestSpan, fastifyOtelPending, fastifyOtelSpan } from './instrumented-span.ts'
import { httpAttributes as http } from './http-attribute-names.ts'

// Semconv: a method outside this set is reported as `_OTHER`, keeping span names low-cardinality.
const knownMethods = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE', 'QUERY'])

/**
 * What lameduck keeps for a traced request until it is over: the SERVER span (its own or the one it
 * joined), and, for a WebSocket upgrade, the session that took the connection over.
 */
interface Traced {
  readonly span: Span
  /** lameduck made the span (it sets the status code and 5xx status itself; a joined span's owner does). */
  readonly own: boolean
  /** The joined span's own `end`, held back until the response or the session is over. */
  readonly realEnd: ((endTime?: TimeInput) => void) | null
  session: WebSocketLike | null
  closedBy: 'client' | 'server' | null
  over: boolean
}

/** The part of a `ws` WebSocket (as `@fastify/websocket` hands them out) a session span reads. */
export interface WebSocketLike {
  close(...args: unknown[]): unknown
  terminate(): unknown
  once(event: 'close', listener: (code: number) => void): unknown
}

const tracedSlot = Symbol('lameduck.traced')
/** lameduck's attributes for the span `@fastify/otel` (registered after lameduck) has yet to make. */
const pendingSlot = Symbol('lameduck.pendingSpan')
type TracedResponse = ServerResponse & { [tracedSlot]?: Traced; [pendingSlot]?: { lifecycle: Attributes; reason: string | null } }
/** A session that began before lameduck had its request's span (see onSession). */
const sessionSlot = Symbol('lameduck.session')
type TracedRequest = IncomingMessage & { [tracedSlot]?: Traced; [sessionSlot]?: WebSocketLike }

/** RFC 6455 1006: the connection ended without a close frame (no code was ever sent or received). */
const abnormalClosure = 1006

export interface RequestSpans {
  readonly hook: onRequestHookHandler
  /** Joins `@fastify/otel`'s span (registered after lameduck) before its route's onSend ends it. */
  readonly onSend: onSendHookHandler
  /** `@fastify/websocket`'s server emits `connection` (ws, request) for each upgrade it accepts. */
  readonly onSession: (ws: WebSocketLike, request: IncomingMessage) => void
  /**
   * Resolves once every traced request has ended its span, or after `ms`. The stop cuts what the deadline
   * abandoned just before the server closes, and a cut socket closes (and ends its span) a few ticks
   * later: without this wait the final flush ran first and those spans were never exported (issue 19).
   */
  readonly settled: (ms: number) => Promise<void>
}

/**
 * One SERVER span per request, the lean way: started in the first onRequest
 * hook, ended on the response's `close` (which fires exactly once, finished or
 * not), with the stable HTTP semantic-convention attributes and lameduck's own.
 * Installed only when a tracer provider is registered, so a service without
 * telemetry pays nothing per request. The choice over `@fastify/otel` is
 * measured in docs/observability.md.
 *
 * Whoever owns the span, it ends when the request is over, and one cut before its response was complete
 * (the drain deadline, a second signal, a client gone) ends `ERROR` with `error.type` `abandoned` or
 * `aborted` (issue 19: `@fastify/otel` ends its span when the head is sent, so a stream cut later was
 * exported as OK 200; the HTTP instrumentation reads only the status code). A WebSocket upgrade is one
 * span for the whole session: 101, the close code and who closed it, `ERROR` only for an abnormal end.
 */
export function requestSpanHook(tracer: Tracer, getSnapshot: () => LifecycleSnapshot): RequestSpans {
  // A count, not a set of spans: nothing per request beyond an increment and a decrement.
  let open = 0
  let onSettled: (() => void) | null = null
  function onResponseClose(this: TracedResponse): void {
    const traced = this[tracedSlot]
    if (traced === undefined) return
    this[tracedSlot] = undefined
    // A WebSocket took the connection over: the session's close ends the span.
    if (traced.session !== null) return
    endHttp(traced, this)
  }

  function endHttp(traced: Traced, res: ServerResponse): void {
    if (traced.over) return
    traced.over = true
    const { span } = traced
    if (!res.writableFinished) {
      // Cut before the response was complete: the drain deadline abandoned it, or the client left.
      if (res.headersSent) span.setAttribute(http.responseStatusCode, res.statusCode)
      span.setAttribute(http.errorType, wasAbandoned(getSnapshot()) ? 'abandoned' : 'aborted')
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'response not completed' })
      if (!traced.own) span.addEvent(wasAbandoned(getSnapshot()) ? 'lameduck.request.abandoned' : 'lameduck.request.aborted')
    } else if (traced.own) {
      span.setAttribute(http.responseStatusCode, res.statusCode)
      if (res.statusCode >= 500) {
        // 4xx are the client's errors, not the server span's (semconv).
        span.setAttribute(http.errorType, String(res.statusCode))
        span.setStatus({ code: SpanStatusCode.ERROR })
      }
    }
    finish(traced)
  }

  function endSession(traced: Traced, code: number): void {
    if (traced.over) return
    traced.over = true
    const { span } = traced
    // Ended without a close frame once the deadline (or a second signal) had cut what was left: lameduck's cut.
    const abandoned = code === abnormalClosure && wasAbandoned(getSnapshot())
    span.setAttribute(http.responseStatusCode, 101)
    span.setAttribute(lameduckAttributes.websocketCloseCode, code)
    // A cut is lameduck's doing; an end without a close frame nobody asked for is the client's.
    span.setAttribute(lameduckAttributes.websocketClosedBy, traced.closedBy ?? (abandoned ? 'server' : 'client'))
    if (code === abnormalClosure) {
      span.setAttribute(http.errorType, abandoned ? 'abandoned' : 'aborted')
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'session ended without a closing handshake' })
    } else if (!traced.own) {
      // The owner never saw the session end; what it may have set for the upgrade's stand-in response does not hold.
      span.setStatus({ code: SpanStatusCode.UNSET })
    }
    finish(traced)
  }

  function finish(traced: Traced): void {
    if (traced.realEnd !== null) traced.realEnd()
    else traced.span.end()
    if (--open === 0 && onSettled !== null) onSettled()
  }

  function settled(ms: number): Promise<void> {
    if (open === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      timer.unref()
      function done() {
        clearTimeout(timer)
        onSettled = null
        resolve()
      }
      onSettled = done
    })
  }

  function onSession(ws: WebSocketLike, request: IncomingMessage): void {
    const traced = (request as TracedRequest)[tracedSlot]
    // The upgrade can complete inside the hooks' done(), before lameduck has joined a span made after
    // its hook (@fastify/otel registered after lameduck): the span's record picks the session up then.
    if (traced === undefined) (request as TracedRequest)[sessionSlot] = ws
    else attachSession(traced, ws, request as TracedRequest)
  }

  function attachSession(traced: Traced, ws: WebSocketLike, request: TracedRequest): void {
    request[tracedSlot] = undefined
    request[sessionSlot] = undefined
    if (traced.over) return
    traced.session = ws
    // Who started the close: ws answers a client's close frame by calling close() itself, after marking
    // the frame received; any other close() or terminate() (the application's, lameduck's goodbye) is the server's.
    const close = ws.close
    const terminate = ws.terminate
    ws.close = function (this: WebSocketLike, ...args: unknown[]) {
      traced.closedBy ??= (this as { _closeFrameReceived?: boolean })._closeFrameReceived === true ? 'client' : 'server'
      return close.apply(this, args)
    }
    ws.terminate = function (this: WebSocketLike) {
      traced.closedBy ??= 'server'
      return terminate.call(this)
    }
    ws.once('close', (code) => endSession(traced, code))
  }

  /** Keeps lameduck's record of the request where its end will find it. */
  function track(request: FastifyRequest, res: TracedResponse, span: Span, own: boolean): void {
    let traced: Traced
    let realEnd: Traced['realEnd'] = null
    if (!own) {
      // The owner's own end waits for the request to be over (see above); lameduck then marks and ends it.
      realEnd = span.end.bind(span)
      span.end = () => {
        if (res.closed && traced.session === null) endHttp(traced, res)
      }
    }
    traced = { span, own, realEnd, session: null, closedBy: null, over: false }
    open++
    res[tracedSlot] = traced
    const raw = request.raw as TracedRequest & { upgrade?: boolean }
    if (raw.upgrade === true) {
      const session = raw[sessionSlot]
      if (session !== undefined) attachSession(traced, session, raw)
      else raw[tracedSlot] = traced
    }
    // `on`, not `once`: 'close' fires once anyway, and `once` wraps the listener in a closure per request.
    res.on('close', onResponseClose)
  }

  function startRequestSpan(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
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
      join(request, instrumented.span, lifecycle, reason, res)
      done()
      return
    }
    if (fastifyOtelPending(request)) {
      // @fastify/otel was registered after lameduck: its hook runs within done() and starts the span.
      // A short request can run its whole course inside done(), @fastify/otel ending its span in its
      // onSend: lameduck's onSend hook (below) joins the span before that.
      const startTime = Date.now()
      res[pendingSlot] = { lifecycle, reason }
      done()
      if (res[pendingSlot] === undefined) return
      res[pendingSlot] = undefined
      const span = fastifyOtelSpan(request)
      if (span !== null) join(request, span, lifecycle, reason, res)
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
    track(request, res, span, true)
    return trace.setSpan(parent, span)
  }

  /** On a span another instrumentation owns: lameduck's attributes, an event when lameduck turned the request away, and its end. */
  function join(request: FastifyRequest, span: Span, lifecycle: Attributes, reason: string | null, res: TracedResponse): void {
    span.setAttributes(lifecycle)
    if (reason !== null) span.addEvent('lameduck.request.rejected', { [lameduckAttributes.rejectReason]: reason })
    track(request, res, span, false)
  }

  function joinBeforeSend(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void): void {
    const res = reply.raw as TracedResponse
    const pending = res[pendingSlot]
    if (pending !== undefined) {
      const span = fastifyOtelSpan(request)
      if (span !== null) {
        res[pendingSlot] = undefined
        join(request, span, pending.lifecycle, pending.reason, res)
      }
    }
    done(null, payload)
  }

  return { hook: startRequestSpan, onSend: joinBeforeSend as onSendHookHandler, onSession, settled }
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
