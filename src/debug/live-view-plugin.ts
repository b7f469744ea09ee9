import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyPluginCallback, FastifyReply, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { Subscription } from '../streams/rx.ts'
import type { AnyStateMachine } from 'xstate'
import { invalidOption } from '../errors.ts'
import type { Lameduck } from '../http/lameduck-plugin.ts'
import { probeRouteConfig } from '../admission/probe-route.ts'
import { lifecycleFrame } from './lifecycle-frame.ts'
import { lifecycleSvg } from './lifecycle-svg.ts'
import { liveViewPage } from './live-view-page.ts'
import { machineGraph } from './machine-graph.ts'

export interface LiveViewOptions {
  /**
   * Required from every client (`Authorization: Bearer <token>` or `?token=<token>`) when set.
   * Without it only loopback clients are served, and never through a proxy (forwarding headers).
   */
  token?: string | null
  /** Where the page is served; the events are at `<path>/events`. Default `/debug/lifecycle`. */
  path?: string
  /** How often the counts are looked at between transitions, in ms. Default 200. */
  sampleMs?: number
  /**
   * SSE comment interval that keeps idle proxies from cutting the stream, in ms. Default 15000.
   * Also how long a client that stopped reading may stay behind before it is dropped.
   */
  heartbeatMs?: number
  /** Event streams served at once; past it a new one answers 503. Default 16. */
  maxEventStreams?: number
}

/** A handful of people watching a replica, with room to spare; each stream costs two timers. */
export const defaultMaxEventStreams = 16

/**
 * The live view: `GET /debug/lifecycle` (the page) and `GET /debug/lifecycle/events` (Server-Sent
 * Events of lifecycle frames). Register it after lameduck, only when asked for: it is off by default.
 *
 * The event stream is lameduck's own traffic, like the probes: it is never counted as in-flight work,
 * so it cannot hold the drain open, and it is not refused during the drain, so the page can watch it.
 * It ends when the lifecycle stops, after sending the `stopped` frame.
 */
const liveViewPlugin: FastifyPluginCallback<LiveViewOptions> = (fastify, options, done) => {
  const path = options.path ?? '/debug/lifecycle'
  if (!/^\/[^\s?#]*$/.test(path)) return done(invalidOption('path', path, 'a path starting with /'))
  const token = options.token ?? null
  if (token !== null && (typeof token !== 'string' || token.length < 16)) {
    return done(invalidOption('token', '(hidden)', 'a string of at least 16 characters, or null'))
  }
  const sampleMs = options.sampleMs ?? 200
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const maxEventStreams = options.maxEventStreams ?? defaultMaxEventStreams
  if (!Number.isSafeInteger(maxEventStreams) || maxEventStreams < 1 || maxEventStreams > 10_000) {
    return done(invalidOption('maxEventStreams', maxEventStreams, 'an integer from 1 to 10000'))
  }

  const lameduck = fastify.lameduck
  const page = liveViewPage({
    svg: lifecycleSvg(machineGraph(lameduck.actor.logic as AnyStateMachine)),
    eventsPath: `${path}/events`,
  })
  // The token may be in the query string: keep these routes out of the request log.
  const common = { config: probeRouteConfig, logLevel: 'warn', onRequest: accessGuard(token) } as const

  fastify.get(path, common, (_request, reply) => {
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .header(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      )
      .send(page)
  })

  const open = new Set<() => void>()
  // No HEAD twin: it would open a stream with no body that lasts until stop.
  fastify.get(`${path}/events`, { ...common, exposeHeadRoute: false }, (request, reply) => {
    // Each stream holds a socket, two timers and a subscription until it ends: bounded (issue 10).
    if (open.size >= maxEventStreams) {
      return reply.code(503).header('retry-after', '5').send({
        statusCode: 503,
        error: 'Service Unavailable',
        message: `the live view already serves ${maxEventStreams} event streams, its limit (maxEventStreams)`,
      })
    }
    streamFrames(reply, lameduck, sampleMs, heartbeatMs, open, () =>
      request.log.warn('live view: dropped an event stream whose client stopped reading'),
    )
  })
  // fastify.close() without a drain closes the server before lameduck's onClose stops the actor, and a
  // server does not close while a stream is open: end the streams first.
  fastify.addHook('preClose', (hookDone) => {
    for (const end of open) end()
    hookDone()
  })

  done()
}

function streamFrames(
  reply: FastifyReply,
  lameduck: Lameduck,
  sampleMs: number,
  heartbeatMs: number,
  open: Set<() => void>,
  onDropped: () => void,
): void {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  })

  // Backpressure (issue 10): once the socket's buffer is full (`write` answers false), nothing more
  // is written until it drains; a frame is a whole state, so the client then gets the current one and
  // misses nothing it needs. A client still behind after `heartbeatMs` is dropped, so a client that
  // never reads costs at most one buffer, not a buffer that grows with every frame.
  let stalled: NodeJS.Timeout | null = null
  const write = (chunk: string) => {
    if (stalled !== null || res.writableEnded || res.destroyed) return
    if (res.write(chunk)) return
    stalled = setTimeout(() => {
      onDropped()
      res.destroy()
    }, heartbeatMs)
    stalled.unref()
  }
  res.on('drain', () => {
    if (stalled === null) return
    clearTimeout(stalled)
    stalled = null
    send(lameduck.actor.getSnapshot())
  })
  write('retry: 1000\n\n')

  let sent = ''
  const send = (frameSource: Parameters<typeof lifecycleFrame>[0]) => {
    if (stalled !== null || res.writableEnded || res.destroyed) return
    const frame = lifecycleFrame(frameSource)
    // Counts move between transitions (they live in the ledger): send a frame only when something changed.
    const { at: _at, ...content } = frame
    const key = JSON.stringify(content)
    if (key === sent) return
    sent = key
    write(`event: lifecycle\ndata: ${JSON.stringify(frame)}\n\n`)
  }

  const subscription = new Subscription()
  const sampler = setInterval(() => send(lameduck.actor.getSnapshot()), sampleMs)
  const heartbeat = setInterval(() => write(': keep-alive\n\n'), heartbeatMs)
  sampler.unref()
  heartbeat.unref()
  const stop = () => {
    clearInterval(sampler)
    clearInterval(heartbeat)
    if (stalled !== null) clearTimeout(stalled)
    subscription.unsubscribe()
    open.delete(end)
  }
  const end = () => {
    stop()
    // A client that is behind would never take the rest: ending would wait on it, and so would the
    // server's close.
    if (stalled !== null) res.destroy()
    else res.end()
  }
  open.add(end)
  res.once('close', stop)
  subscription.add(
    lameduck.snapshot$.subscribe({
      next: send,
      // The lifecycle is over (stopped, or the server closed): so is the stream.
      complete: end,
    }),
  )
}

function accessGuard(token: string | null): onRequestHookHandler {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  const expected = token === null ? null : digest(token)
  return (request, reply, done) => {
    if (expected) {
      const given = bearerToken(request.headers) ?? (request.query as { token?: unknown } | undefined)?.token
      if (typeof given === 'string' && timingSafeEqual(digest(given), expected)) return done()
      reply.code(401).header('www-authenticate', 'Bearer').send({
        error: 'unauthorized',
        message: 'the live view needs its token, as Authorization: Bearer <token> or ?token=<token>',
      })
      return
    }
    if (isLoopback(request.socket.remoteAddress) && !isForwarded(request.headers)) return done()
    // Not for this client: as if the route did not exist.
    reply.callNotFound()
  }
}

function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')
  return match?.[1]
}

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** A proxy on the same host connects from loopback too; what it forwards is not a local client. */
function isForwarded(headers: IncomingHttpHeaders): boolean {
  return headers['x-forwarded-for'] !== undefined || headers.forwarded !== undefined || headers['x-real-ip'] !== undefined
}

export const lifecycleLiveView = fp(liveViewPlugin, {
  fastify: '5.x',
  name: 'lameduck-live-view',
  dependencies: ['lameduck'],
})
