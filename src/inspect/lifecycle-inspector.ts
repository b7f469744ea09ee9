import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net'
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls'
import { createInspector } from '@statelyai/inspect'
import { configure } from 'safe-stable-stringify'
import WebSocket, { type ClientOptions } from 'ws'
import type { InspectionEvent, Observer } from 'xstate'
import { redactUrl } from '../redact-secrets.ts'
import { RequestLedger } from '../machine/request-ledger.ts'
import { replicaWorkerId } from '../cluster/worker-link.ts'

export interface LifecycleInspectorOptions {
  /** The inspector relay, `ws://` or `wss://` (e.g. a local `@statelyai/inspect/server`). */
  readonly url: string
  /** Where connection trouble is reported: once when it starts, once when it is over. */
  readonly log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void }
  /** First wait before reconnecting; doubles up to 30 s. Default 1000. */
  readonly retryMs?: number
  /** Events kept while not connected, oldest dropped first. Default 200. */
  readonly maxPendingEvents?: number
  /**
   * Put before every actor's session id (`<prefix>:x:0`). XState numbers sessions per process, so every
   * process of a cluster has an `x:0`, and the inspector would take them for one actor. Default: in a
   * worker of lameduck's cluster, `worker-<id>`; otherwise none.
   */
  readonly sessionPrefix?: string
}

export interface LifecycleInspector {
  /** Pass to the plugin's `inspect` option. */
  readonly inspect: Observer<InspectionEvent>
  /** Sends what is pending, closes the socket and cancels any reconnection. Never rejects; bounded to about half a second. */
  stop(): Promise<void>
}

const maxRetryMs = 30_000
const closeWaitMs = 500
const handshakeTimeoutMs = 2_000
const stringify = configure({ maximumDepth: 10 })

// The library exports the function but not its adapter's type.
type Adapter = Parameters<typeof createInspector>[0]
type StatelyInspectionEvent = Parameters<Adapter['send']>[0]

/**
 * The XState inspector of `@statelyai/inspect`, over a WebSocket that never holds the process.
 *
 * The library's own `createWebSocketInspector` cannot be stopped for good: with no relay listening it
 * retries every 5 s on a timer that `stop()` does not cancel, and an open socket keeps the process
 * alive (a stopped inspector with no relay kept a bare Node process alive past 12 s here). So the library
 * converts the events (`createInspector`, same messages as its WebSocket inspector) and this module
 * carries them: sockets are unref'd, reconnection waits on an unref'd timer, and `stop()` ends both.
 */
export function createLifecycleInspector(options: LifecycleInspectorOptions): LifecycleInspector {
  const transport = new InspectorSocket(options)
  const inspector = createInspector(transport, {
    // Actor events carry the live snapshot: show the ledger as its counts, not its fields.
    // Child actors (startup work, idle watch) have no context at all.
    sanitizeContext: (context) =>
      context?.requests instanceof RequestLedger ? { ...context, requests: context.requests.counts() } : context,
  })
  inspector.start()
  return {
    inspect: {
      next(event) {
        // The library converts events on a later tick; by then the ledger has moved on. Count now.
        if (event.type === '@xstate.snapshot' && hasLedger(event.snapshot)) {
          const { context } = event.snapshot
          event = { ...event, snapshot: { ...event.snapshot, context: { ...context, requests: context.requests.counts() } } as never }
        }
        inspector.inspect.next?.(event)
      },
    },
    stop: () => transport.stop(),
  }
}

function hasLedger(snapshot: unknown): snapshot is { context: { requests: RequestLedger } } {
  return (snapshot as { context?: { requests?: unknown } }).context?.requests instanceof RequestLedger
}

class InspectorSocket implements Adapter {
  readonly #url: string
  readonly #log: LifecycleInspectorOptions['log']
  readonly #retryMs: number
  readonly #maxPending: number
  #socket: WebSocket | null = null
  #pending: string[] = []
  #retryTimer: NodeJS.Timeout | null = null
  #nextRetryMs: number
  #failing = false
  #stopped = false
  readonly #prefix: string | null

  constructor(options: LifecycleInspectorOptions) {
    this.#url = options.url
    this.#log = options.log
    this.#retryMs = options.retryMs ?? 1_000
    this.#nextRetryMs = this.#retryMs
    this.#maxPending = options.maxPendingEvents ?? 200
    const workerId = replicaWorkerId()
    this.#prefix = options.sessionPrefix ?? (workerId === null ? null : `worker-${workerId}`)
  }

  start(): void {
    this.#connect()
  }

  send(event: StatelyInspectionEvent): void {
    if (this.#stopped) return
    const message = stringify(this.#prefix === null ? event : withSessionPrefix(event, this.#prefix))
    if (message === undefined) return
    if (this.#socket?.readyState === WebSocket.OPEN) {
      this.#socket.send(message)
      return
    }
    this.#pending.push(message)
    if (this.#pending.length > this.#maxPending) this.#pending.shift()
  }

  async stop(): Promise<void> {
    if (this.#stopped) return
    // The library converts each inspection event on a zero-delay timer: let those already queued arrive.
    await new Promise((resolve) => setTimeout(resolve, 0))
    this.#stopped = true
    if (this.#retryTimer) clearTimeout(this.#retryTimer)
    this.#retryTimer = null
    const socket = this.#socket
    this.#socket = null
    this.#pending = []
    if (!socket) return
    if (socket.readyState !== WebSocket.OPEN) {
      socket.terminate()
      return
    }
    // A close handshake lets the relay receive everything sent before it; a silent relay is cut.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.terminate()
        resolve()
      }, closeWaitMs)
      timer.unref()
      socket.once('close', () => {
        clearTimeout(timer)
        resolve()
      })
      socket.close(1000, 'lameduck stopped')
    })
  }

  #connect(): void {
    if (this.#stopped) return
    const options: ClientOptions = { handshakeTimeout: handshakeTimeoutMs, createConnection: unrefConnection(this.#url) }
    const socket = new WebSocket(this.#url, options)
    this.#socket = socket
    socket.on('open', () => {
      if (this.#failing) this.#log?.info({ url: redactUrl(this.#url) }, 'inspector: connected')
      this.#failing = false
      this.#nextRetryMs = this.#retryMs
      for (const message of this.#pending) socket.send(message)
      this.#pending = []
    })
    socket.on('error', (error) => {
      // Said once per outage, not once per attempt.
      // The URL may carry credentials (user:password@, ?token=): never logged as given (issue 19).
      if (!this.#failing) this.#log?.warn({ url: redactUrl(this.#url), err: redactUrl(error.message) }, 'inspector: cannot reach the relay; retrying in the background')
      this.#failing = true
    })
    socket.on('close', () => {
      if (this.#socket !== socket || this.#stopped) return
      this.#socket = null
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = null
        this.#connect()
      }, this.#nextRetryMs)
      this.#retryTimer.unref()
      this.#nextRetryMs = Math.min(this.#nextRetryMs * 2, maxRetryMs)
    })
  }
}

/** The event with every session id it names (its own, its parent's, its root's, its sender's) prefixed. */
function withSessionPrefix(event: StatelyInspectionEvent, prefix: string): StatelyInspectionEvent {
  const named = { ...event } as Record<string, unknown>
  for (const key of ['sessionId', 'parentId', 'rootId', 'sourceId']) {
    const id = named[key]
    // `anonymous` is the library's placeholder root, not a session.
    if (typeof id === 'string' && id !== 'anonymous') named[key] = `${prefix}:${id}`
  }
  return named as unknown as StatelyInspectionEvent
}

/** The inspector is a bystander: its socket alone must not keep the process running. */
function unrefConnection(url: string): ClientOptions['createConnection'] {
  const secure = new URL(url).protocol === 'wss:'
  // What ws does by default (a unix socket path is `socketPath`, never `path`), plus unref().
  const connect = (options: NetConnectOpts & { socketPath?: string; host?: string }): Socket => {
    const opts = { ...options, path: options.socketPath } as NetConnectOpts
    const host = options.host ?? ''
    const socket = secure ? tlsConnect({ ...(opts as ConnectionOptions), servername: isIP(host) ? '' : host }) : netConnect(opts)
    socket.unref()
    return socket
  }
  return connect as ClientOptions['createConnection']
}
