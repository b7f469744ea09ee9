import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { readEventStream } from './event-stream.ts'
import { classifyError, classifyStatus, type FailureKind, isRetryable } from './failure-kinds.ts'
import type { LoadRequest, SseLoad } from './rehearse-options.ts'

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
  readonly sse: SseLoad | null
  readonly timeoutMs: number
  readonly connectionsPerInstance: number
  /** Send a request refused before accept to another ready instance (gateways do; a bare Kubernetes Service does not). */
  readonly retryRefused: boolean
}

interface Upstream {
  readonly route: Route
  readonly pool: Pool
  removed: boolean
  inFlight: number
}

/**
 * The platform's router: round-robin over the instances whose readiness check passes and that the
 * termination order has not removed, over keep-alive connections (an undici Pool per instance, like a
 * proxy's upstream connection pool). A connection refused before accept never reached the service, so
 * it is sent to another ready instance, as gateways do; nothing else is retried.
 */
export class Router {
  readonly #upstreams: Upstream[]
  readonly #options: RouterOptions
  // One rotation per kind, so streams and requests each alternate over the instances on their own.
  readonly #next = { request: 0, stream: 0 }

  constructor(routes: readonly Route[], options: RouterOptions) {
    this.#options = options
    this.#upstreams = routes.map((route) => ({
      route,
      pool: new Pool(`http://127.0.0.1:${route.port}`, { connections: options.connectionsPerInstance }),
      removed: false,
      inFlight: 0,
    }))
  }

  /** Takes the instance out of rotation; requests already sent to it go on. */
  remove(name: string): void {
    for (const upstream of this.#upstreams) if (upstream.route.name === name) upstream.removed = true
  }

  /** Requests and streams sent to the instance and not finished yet. */
  inFlight(name: string): number {
    return this.#upstreams.find((u) => u.route.name === name)?.inFlight ?? 0
  }

  /** `end`, when the load ends: closes a stream still open, and stops waiting for a ready instance (neither is counted). */
  async send(kind: 'request' | 'stream', end?: AbortSignal): Promise<Sent> {
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
      const attempt = await (kind === 'stream' ? this.#stream(upstream, end) : this.#request(upstream)).finally(() => upstream.inFlight--)
      attempts.push(attempt)
      if (attempt.failure === null || !this.#options.retryRefused || !isRetryable(attempt.failure)) return { attempts, final: attempt }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#upstreams.map((u) => u.pool.destroy()))
  }

  /**
   * With no instance ready, a platform holds the request (Cerebrium queues beyond replica_concurrency) rather
   * than failing it at once: wait for one, up to the request timeout.
   */
  async #waitForRoute(kind: 'request' | 'stream', end: AbortSignal | undefined): Promise<Upstream | undefined> {
    const deadline = performance.now() + this.#options.timeoutMs
    while (performance.now() < deadline && !end?.aborted) {
      await sleep(routeWaitMs)
      const upstream = this.#pick(kind, new Set())
      if (upstream) return upstream
    }
    return undefined
  }

  #pick(kind: 'request' | 'stream', tried: ReadonlySet<Upstream>): Upstream | undefined {
    const count = this.#upstreams.length
    for (let i = 0; i < count; i++) {
      const upstream = this.#upstreams[(this.#next[kind] + i) % count]!
      if (tried.has(upstream) || upstream.removed || !upstream.route.isReady()) continue
      this.#next[kind] = (this.#next[kind] + i + 1) % count
      return upstream
    }
    return undefined
  }

  async #request(upstream: Upstream): Promise<Attempt> {
    const { request, timeoutMs } = this.#options
    const instance = upstream.route.name
    // The whole exchange has one deadline, as a proxy's request timeout; undici's own timeouts tick too coarsely.
    const deadline = AbortSignal.timeout(timeoutMs)
    try {
      const response = await upstream.pool.request({
        method: request.method as 'GET',
        path: request.path,
        headers: request.headers,
        body: request.body ?? null,
        signal: deadline,
      })
      for await (const _ of response.body) {
        // The whole body must arrive: a response cut after its headers is a failure too.
      }
      return { instance, failure: classifyStatus(response.statusCode, response.headers['retry-after']), detail: String(response.statusCode) }
    } catch (error) {
      if (deadline.aborted) return { instance, failure: 'timed-out', detail: `no complete answer within ${timeoutMs} ms` }
      return { instance, failure: classifyError(error), detail: (error as { code?: string }).code ?? String(error) }
    }
  }

  async #stream(upstream: Upstream, end: AbortSignal | undefined): Promise<Attempt> {
    const { sse, timeoutMs } = this.#options
    const instance = upstream.route.name
    try {
      const response = await upstream.pool.request({
        method: 'GET',
        path: sse!.path,
        headers: { accept: 'text/event-stream' },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: end ?? null,
      })
      const status = classifyStatus(response.statusCode, response.headers['retry-after'])
      const type = String(response.headers['content-type'] ?? '')
      if (status !== null || !type.startsWith('text/event-stream')) {
        await response.body.dump()
        return { instance, failure: status ?? 'other-status', detail: status ? String(response.statusCode) : `${response.statusCode} with content-type ${JSON.stringify(type)}` }
      }
      const outcome = await readEventStream(response.body, sse!.endEvents)
      if (end?.aborted) return { instance, failure: null, detail: `closed at the end after ${outcome.events} events`, events: outcome.events, closedAtEnd: true }
      return { instance, failure: outcome.failure, detail: outcome.detail, events: outcome.events, ...(outcome.lastEvent ? { lastEvent: outcome.lastEvent } : {}) }
    } catch (error) {
      if (end?.aborted) return { instance, failure: null, detail: 'closed at the end', events: 0, closedAtEnd: true }
      return { instance, failure: classifyError(error), detail: (error as { code?: string }).code ?? String(error), events: 0 }
    }
  }
}
