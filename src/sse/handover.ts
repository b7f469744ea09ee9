import type { FastifyReply, RouteOptions } from 'fastify'
import { describeValue, LameduckError } from '../errors.ts'

/**
 * When a stream is handed over to another replica (issue 21):
 * - `at-notice`: finish if it can; at the drain notice, `drainNoticeMs` before the deadline, hand over.
 * - `at-drain`: hand over as soon as the drain proper begins. For streams a client can resume anywhere
 *   (an LLM's tokens): the sooner they move, the sooner the replica exits.
 * - `finish`: never handed over. The drain waits for it up to its deadline, then cuts it.
 */
export const streamHandovers = ['at-notice', 'at-drain', 'finish'] as const
export type StreamHandover = (typeof streamHandovers)[number]

/** The last event of a stream that is handed over, and the client's reconnection delay it carries. */
export interface StreamReconnect {
  /** The event's name. Default `reconnect`. */
  readonly event: string
  /** Shortest `retry:` sent. Default 1000. */
  readonly retryMs: number
  /**
   * `retry:` is spread at random over this much more. Every stream on a replica is handed over at the
   * same instant: without a spread all its clients would reconnect in the same millisecond. Default 1000.
   */
  readonly spreadMs: number
}

export const defaultStreamReconnect: StreamReconnect = Object.freeze({ event: 'reconnect', retryMs: 1_000, spreadMs: 1_000 })

/** A route's own policy, as `config: { streamHandover }` in its options. */
declare module 'fastify' {
  interface FastifyContextConfig {
    /** How lameduck hands this route's event streams over (overrides the plugin's `streamHandover`). */
    streamHandover?: StreamHandover
  }
}

/**
 * Fastify's `onRoute` hook (the plugin adds it): a route's `config.streamHandover` is checked when the route is
 * declared, so that a mistyped policy fails the app's start rather than the route's first stream.
 */
export function checkRouteStreamHandover(route: RouteOptions): void {
  const value = (route.config as { streamHandover?: unknown } | undefined)?.streamHandover
  if (value === undefined || (streamHandovers as readonly unknown[]).includes(value)) return
  const method = Array.isArray(route.method) ? route.method.join(',') : route.method
  throw new LameduckError(
    'LAMEDUCK_INVALID_OPTION',
    `route ${method} ${route.url}: config.streamHandover must be one of ${streamHandovers.join(', ')}; received ${describeValue(value)}`,
  )
}

/** What one stream goes by: its policy and reconnect event, and the signal that ends it. */
export interface StreamTerms {
  readonly handover: StreamHandover
  readonly reconnect: StreamReconnect
  /**
   * Aborted at the policy's moment (reason `LAMEDUCK_DRAINING` or `LAMEDUCK_DRAIN_NOTICE`) or when the
   * response closes (`LAMEDUCK_REQUEST_CLOSED`). Under `finish`, only the latter.
   */
  readonly signal: AbortSignal
}

export interface HandoverOptions {
  /** This stream's policy. Default: the route's `config.streamHandover`, else the plugin's `streamHandover`. */
  readonly handover?: StreamHandover
  /** This stream's reconnect event. Default: the plugin's `streamReconnect`. */
  readonly reconnect?: Partial<StreamReconnect>
}

/** lameduck's settings as the stream reads them; absent when the plugin is not registered. */
interface PluginStreamOptions {
  readonly streamHandover: StreamHandover
  readonly streamReconnect: StreamReconnect
}

/**
 * The terms of the stream answering `reply`. Without lameduck registered there is no drain to hear
 * about: the stream runs until it ends or its client leaves, as under `finish`.
 */
export function streamTerms(reply: FastifyReply, options: HandoverOptions | undefined, onClosed: (listener: () => void) => void): StreamTerms {
  const plugin = (reply.server as { lameduck?: { options: PluginStreamOptions } }).lameduck?.options
  const handover = options?.handover ?? reply.request.routeOptions.config.streamHandover ?? plugin?.streamHandover ?? 'at-notice'
  if (!(streamHandovers as readonly string[]).includes(handover)) {
    throw new TypeError(`stream handover must be one of ${streamHandovers.join(', ')}; received ${JSON.stringify(handover)}`)
  }
  const base = plugin?.streamReconnect ?? defaultStreamReconnect
  const reconnect = options?.reconnect ? { ...base, ...options.reconnect } : base
  if (plugin !== undefined && handover !== 'finish') {
    // lameduck's per-request signals: the process's moment, or this response closing.
    const notice = reply.request.lameduck
    return { handover, reconnect, signal: handover === 'at-drain' ? notice.drainSignal : notice.noticeSignal }
  }
  const closed = new AbortController()
  onClosed(() => closed.abort(clientGone))
  return { handover, reconnect, signal: closed.signal }
}

// Made once: an abort without a reason builds a DOMException and its stack (bench/findings.md).
const clientGone = new LameduckError('LAMEDUCK_REQUEST_CLOSED', 'the stream ended or its client went away')

/** Whether an abort means "hand over now", rather than "the response is over". */
export function isHandover(signal: AbortSignal): boolean {
  const code = (signal.reason as { code?: unknown } | undefined)?.code
  return code === 'LAMEDUCK_DRAIN_NOTICE' || code === 'LAMEDUCK_DRAINING'
}

/** `retry:` for one stream: `retryMs` plus a random part of `spreadMs`. */
export function retryDelay(reconnect: StreamReconnect): number {
  return reconnect.retryMs + Math.floor(Math.random() * reconnect.spreadMs)
}
