import { ServerResponse } from 'node:http'
import type { Server, Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { Http1Drain } from './http1-drain.ts'
import { Http2Drain } from './http2-drain.ts'
import { watchListeningServers } from './listening-servers.ts'
import type { ServerDrain } from './server-drain.ts'
import { SocketSet } from './socket-set.ts'

/** Resolves when no connection is held for this process elsewhere; `accepted` reads the count of connections so far. */
export type ListenerGate = (accepted: () => number) => Promise<void>

/** HTTP/2 servers (h2c and TLS) have `updateSettings`; HTTP/1 servers do not. */
const isHttp2Server = (server: Server) => typeof (server as { updateSettings?: unknown }).updateSettings === 'function'

/**
 * Every connection of every server the application listens on, drained together: the one object the
 * lifecycle's `stopAccepting` and the final cut talk to. One drain per kind of connection and server.
 */
export class ConnectionDrains {
  readonly #drains: ServerDrain[] = []
  readonly #http1: Http1Drain[] = []
  /** Every TCP connection, for the cut: a TLS handshake that never finished is no one else's. */
  readonly #tcp = new SocketSet<Socket>()
  readonly #stopWatching: () => void
  /** Set when the drain proper begins. */
  #arrivals: RequestLedger | null = null
  #keepListening = false
  /** Connections accepted so far, on every server (a cluster worker's gate watches it move). */
  accepted = 0
  /** Set in a cluster worker: resolves when no connection waits for this process in the primary. */
  readonly #gate: ListenerGate | null

  constructor(main: Server, gate: ListenerGate | null = null) {
    this.#gate = gate
    this.#stopWatching = watchListeningServers(main, (server) => this.#adopt(server))
  }

  /**
   * The drain proper. `inFlight` lists the responses in flight, newest first; `arrivals` is the lifecycle's;
   * `idleGraceMs`: how long an idle connection waits for a request on its way (a cluster worker only);
   * `keepListening`: the listeners stay open (for probes) until `closeListeners`.
   */
  stopAccepting(inFlight: Iterable<object>, arrivals: RequestLedger, keepListening = false, idleGraceMs?: number): void {
    if (this.#arrivals !== null) return
    this.#arrivals = arrivals
    this.#keepListening = keepListening
    for (const res of inFlight) {
      // HTTP/1 responses only: an HTTP/2 stream ends with its session's GOAWAY.
      if (!(res instanceof ServerResponse)) continue
      const server = (res.req.socket as Socket & { server?: Server }).server
      this.#http1.find((d) => d.server === server)?.claimInFlight(res)
    }
    if (this.#gate === null) {
      for (const drain of this.#drains) drain.stopAccepting(arrivals, keepListening)
      return
    }
    // A cluster worker: its primary may hold connections it accepted for this worker before the drain
    // (docs/cluster.md, "The round-robin queue"). Until it has handed them over, whatever comes is one of
    // them: an arrival, served. The drain waits for that too (a token in `arrivals`). Then the listener
    // closes, or stays for probes, and what comes after is new.
    for (const drain of this.#drains) drain.stopAccepting(arrivals, false, false, idleGraceMs)
    const handover = {}
    arrivals.begin(handover)
    void this.#gate(() => this.accepted).then(() => {
      if (keepListening && this.#keepListening) for (const drain of this.#drains) drain.keepListener()
      else this.closeListeners()
      arrivals.end(handover, true)
    })
  }

  /** At stop: no listener stays open, whatever the drain kept. At once, even in a cluster worker (forced stops). */
  closeListeners(): void {
    this.#keepListening = false
    for (const drain of this.#drains) drain.closeListener()
  }

  /**
   * Closes the listeners once nothing is queued for this process elsewhere: in a cluster worker, the
   * primary closes the connections it still holds when the last worker leaves its round-robin
   * (docs/cluster.md), so a worker leaves only once its primary has handed it everything. At once otherwise.
   */
  async closeListenersWhenFree(): Promise<void> {
    if (this.#gate !== null) await this.#gate(() => this.accepted)
    this.closeListeners()
  }

  /** Resolves when every connection has closed (lingering closes are bounded), or after `ms`. */
  async settle(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms)
    })
    try {
      return await Promise.race([this.#tcp.whenEmpty().then(() => true as const), timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Destroys whatever is still open; returns how many TCP connections that was. */
  cut(): number {
    for (const drain of this.#drains) drain.cut()
    return this.#tcp.destroyAll()
  }

  /** Stops watching for new servers (after stop). */
  dispose(): void {
    this.#stopWatching()
  }

  #adopt(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.accepted++
      this.#tcp.add(socket)
    })
    const drains: ServerDrain[] = []
    if (isHttp2Server(server)) drains.push(new Http2Drain(server))
    // HTTP/1: every server but h2c (cleartext HTTP/2 speaks nothing else); over TLS, what ALPN did not make h2.
    if (!isHttp2Server(server) || server instanceof TlsServer) {
      const http1 = new Http1Drain(server)
      this.#http1.push(http1)
      drains.push(http1)
    }
    this.#drains.push(...drains)
    // A server that starts listening after the drain began (a secondary bound late) is drained at once.
    if (this.#arrivals !== null) for (const drain of drains) drain.stopAccepting(this.#arrivals, this.#keepListening)
  }
}
