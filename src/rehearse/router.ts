import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { classifyError, classifyStatus, errorDetail, type FailureKind } from './failure-kinds.ts'
import type { LoadKind, LoadRequest } from './rehearse-options.ts'

const routeWaitMs = 10

/** One instance behind the router. */
export interface Route {
  readonly name: string
  readonly port: number
  /** What the readiness poller last saw. */
  readonly isReady: () => boolean
}

export interface Attempt {
  /** `null`: no instance could take it. */
  readonly instance: string | null
  readonly failure: FailureKind | null
  /** Status, error code, or the stream's summary. */
  readonly detail: string
  /** Server-Sent Events received, for a stream. */
  readonly events?: number
  /** For a stream: the name of its last event. */
  readonly lastEvent?: string
  /** A 503's `Retry-After`, in ms: a client that honours it comes back after that long. */
  readonly retryAfterMs?: number
  /** When the attempt began (the rehearsal's clock), so a failure can be placed against SIGTERM. */
  readonly startedAt?: number
  /** A stream still open when the load ended, closed by the rehearsal itself, or a request still waiting for a ready instance then: neither answered nor lost. */
  readonly closedAtEnd?: boolean
}

/** A request as the client saw it: the attempts the router made for it, the last one deciding. */
export interface Sent {
  readonly attempts: readonly Attempt[]
  readonly final: Attempt
}

export interface RouterOptions {
  readonly request: LoadRequest
  readonly timeoutMs: number
  readonly connectionsPerInstance: number
  /** Connections of each instance's pool for the --keepalive clients. */
  readonly keepaliveConnections?: number
  /** Send a request refused before accept to another ready instance (gateways do; a bare Kubernetes Service does not). */
  readonly retryRefused: boolean
  /** The rehearsal's clock, to stamp each attempt's start. */
  readonly clock?: () => number
  /**
   * Honour a 503's `Retry-After` as a client does: come back after it (capped) through the router, at most
   * `retryAfterTimes` times. A draining instance answers new work that way; the request never ran.
   */
  readonly retryAfter?: boolean
}

// A client waits what Retry-After says, up to this: the rehearsal's load is short.
const maxRetryAfterWaitMs = 1000
const retryAfterTimes = 3

/** What an attempt is handed: the instance's name and port, and its pools. */
export interface Upstream {
  readonly route: Route
  /** The router's own keep-alive pool, shared by the closed-loop requests and the streams. */
  readonly pool: Pool
  /** The --keepalive clients' pool: theirs alone, so their idle sockets are theirs. */
  readonly keepalivePool: Pool
  /** One HTTP/2 connection (h2c, prior knowledge) for the --h2 clients. */
  readonly h2Pool: Pool
  /** A new connection for each request (`reset: true` closes it after the answer). */
  readonly freshPool: Pool
  removed: boolean
  inFlight: number
}

export type RequestKind = Extract<LoadKind, 'request' | 'keepalive' | 'fresh' | 'h2'>

/**
 * The platform's router: round-robin over the instances whose readiness check passes and that the
 * termination order has not removed, over keep-alive connections (an undici Pool per instance, like a
 * proxy's upstream connection pool). A connection refused before accept never reached the service, so
 * it is sent to another ready instance, as gateways do; nothing else is retried.
 */
export class Router {
  readonly #upstreams: Upstream[]
  readonly #options: RouterOptions
  // One rotation per kind, so each kind alternates over the instances on its own.
  readonly #next = new Map<LoadKind, number>()

  constructor(routes: readonly Route[], options: RouterOptions) {
    this.#options = options
    this.#upstreams = routes.map((route) => {
      const origin = `http://127.0.0.1:${route.port}`
      return {
        route,
        pool: new Pool(origin, { connections: options.connectionsPerInstance }),
        keepalivePool: new Pool(origin, { connections: options.keepaliveConnections ?? 1 }),
        // h2c by prior knowledge (RFC 9113, 3.3). `useH2c` is undici's; its types lag behind its options.
        h2Pool: new Pool(origin, { connections: 1, allowH2: true, useH2c: true } as Pool.Options),
        freshPool: new Pool(origin),
        removed: false,
        inFlight: 0,
      }
    })
  }

  /** Takes the instance out of rotation; requests already sent to it go on. */
  remove(name: string): void {
    for (const upstream of this.#upstreams) if (upstream.route.name === name) upstream.removed = true
  }

  /** Requests, streams and sessions sent to the instance and not finished yet. */
  inFlight(name: string): number {
    return this.#upstreams.find((u) => u.route.name === name)?.inFlight ?? 0
  }

  /** `end`, when the load ends: stops waiting for a ready instance (uncounted). */
  send(kind: RequestKind, end?: AbortSignal): Promise<Sent> {
    return this.through(kind, end, (upstream) => this.#request(upstream, kind))
  }

  /**
   * One exchange of any kind through the router: picks an instance (waiting for one when none is ready), runs
   * `attempt` on it, and sends a refused connection on to another ready instance.
   */
  async through(kind: LoadKind, end: AbortSignal | undefined, attempt: (upstream: Upstream) => Promise<Attempt>): Promise<Sent> {
    const attempts: Attempt[] = []
    const tried = new Set<Upstream>()
    for (;;) {
      const upstream = this.#pick(kind, tried) ?? (attempts.length === 0 ? await this.#waitForRoute(kind, end) : undefined)
      if (!upstream && end?.aborted && attempts.length === 0) {
        const final: Attempt = { instance: null, failure: null, detail: 'the load ended while it waited for a ready instance', closedAtEnd: true }
        return { attempts: [final], final }
      }
      if (!upstream) {
        const final: Attempt = attempts.at(-1) ?? { instance: null, failure: 'no-route', detail: `no instance was ready and in rotation for ${this.#options.timeoutMs} ms` }
        return { attempts: attempts.length ? attempts : [final], final }
      }
      tried.add(upstream)
      upstream.inFlight++
      const startedAt = this.#options.clock?.()
      const made = await attempt(upstream).finally(() => upstream.inFlight--)
      const result = startedAt === undefined ? made : { ...made, startedAt }
      attempts.push(result)
      if (result.failure === 'unavailable-retry-after' && this.#options.retryAfter && attempts.filter((a) => a.failure === 'unavailable-retry-after').length <= retryAfterTimes) {
        await sleep(Math.min(result.retryAfterMs ?? 0, maxRetryAfterWaitMs))
        // Coming back later is a new request: any ready instance, the same one included.
        tried.clear()
        continue
      }
      if (result.failure === null || !this.#options.retryRefused || result.failure !== 'refused') return { attempts, final: result }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#upstreams.flatMap((u) => [u.pool.destroy(), u.keepalivePool.destroy(), u.h2Pool.destroy(), u.freshPool.destroy()]))
  }

  /**
   * With no instance ready, a platform holds the request (Cerebrium queues beyond replica_concurrency) rather
   * than failing it at once: wait for one, up to the request timeout.
   */
  async #waitForRoute(kind: LoadKind, end: AbortSignal | undefined): Promise<Upstream | undefined> {
    const deadline = performance.now() + this.#options.timeoutMs
    while (performance.now() < deadline && !end?.aborted) {
      await sleep(routeWaitMs)
      const upstream = this.#pick(kind, new Set())
      if (upstream) return upstream
    }
    return undefined
  }

  #pick(kind: LoadKind, tried: ReadonlySet<Upstream>): Upstream | undefined {
    const count = this.#upstreams.length
    const next = this.#next.get(kind) ?? 0
    for (let i = 0; i < count; i++) {
      const upstream = this.#upstreams[(next + i) % count]!
      if (tried.has(upstream) || upstream.removed || !upstream.route.isReady()) continue
      this.#next.set(kind, (next + i + 1) % count)
      return upstream
    }
    return undefined
  }

  async #request(upstream: Upstream, kind: RequestKind): Promise<Attempt> {
    const { request, timeoutMs } = this.#options
    const instance = upstream.route.name
    const pool = kind === 'keepalive' ? upstream.keepalivePool : kind === 'h2' ? upstream.h2Pool : kind === 'fresh' ? upstream.freshPool : upstream.pool
    // The whole exchange has one deadline, as a proxy's request timeout; undici's own timeouts tick too coarsely.
    const deadline = AbortSignal.timeout(timeoutMs)
    try {
      const response = await pool.request({
        method: request.method as 'GET',
        path: request.path,
        headers: request.headers,
        body: request.body ?? null,
        signal: deadline,
        // A fresh client sends Connection: close and opens a new connection for its next request.
        ...(kind === 'fresh' ? { reset: true } : {}),
      })
      for await (const _ of response.body) {
        // The whole body must arrive: a response cut after its headers is a failure too.
      }
      const failure = classifyStatus(response.statusCode, response.headers['retry-after'])
      return { instance, failure, detail: String(response.statusCode), ...(failure === 'unavailable-retry-after' ? { retryAfterMs: retryAfterMs(response.headers['retry-after']) } : {}) }
    } catch (error) {
      if (deadline.aborted) return { instance, failure: 'timed-out', detail: `no complete answer within ${timeoutMs} ms` }
      return { instance, failure: classifyError(error), detail: errorDetail(error) }
    }
  }
}

/** `Retry-After` in ms: delay-seconds, or an HTTP date (RFC 9110, 10.2.3); 0 when unreadable. */
export function retryAfterMs(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined) return 0
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now())
}
