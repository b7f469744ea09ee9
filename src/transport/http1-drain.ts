import { type IncomingMessage, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { closingWriteHead } from './closing-write-head.ts'
import { isLingering, lingeringClose } from './lingering-close.ts'
import { receivingSockets } from './receiving-sockets.ts'
import type { ServerDrain } from './server-drain.ts'
import { SocketSet } from './socket-set.ts'

/** What Node keeps on an HTTP/1 socket: the response being written on it, if any (`closeIdleConnections` reads it too). */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; parser?: unknown }

/**
 * Drains an HTTP/1.1 server (http, https, or the HTTP/1 side of an HTTP/2 server with `allowHTTP1`).
 *
 * - The listener closes through `net.Server#close`, not `http.Server#close`: the latter also stops the
 *   interval that enforces `requestTimeout` and `headersTimeout`, and a slow body or a client that never
 *   reads would then hold the drain to its deadline. With `listenerAtDrain: 'keep'` it closes only at
 *   stop, and what connects meanwhile gets its answers (probes; 503 for work) with `Connection: close`.
 * - A connection without a response in flight is an arrival (the lifecycle's `arrivals` ledger) until
 *   it is known to carry no request: bytes of a request read by the server are never met by a bare FIN.
 *   A head partly read waits for the rest (Node's `headersTimeout` bounds it); a keep-alive connection
 *   between requests, or one that has sent nothing yet, waits `arrivalGraceMs` (and one more turn of the
 *   event loop, so that a request already in the kernel's buffer is read). A request that arrives is
 *   served with `Connection: close`; otherwise the connection gets a lingering close (FIN, then read and
 *   discard).
 * - On a socket with several requests read (pipelining), only the newest response says
 *   `Connection: close`: Node drops every response queued behind one that does. The newest says it even
 *   when its handler asked for keep-alive.
 * - A socket whose response was already streaming when the drain began closes after it, the same way.
 */
export class Http1Drain implements ServerDrain {
  readonly server: NetServer
  readonly #sockets = new SocketSet<HttpSocket>()
  /** During the drain: the newest response on each socket, the only one allowed to close it. */
  readonly #newest = new WeakMap<Socket, ServerResponse>()
  /** The keep-alive the client asked for, before the drain overrode it. */
  readonly #askedKeepAlive = new WeakMap<ServerResponse, boolean>()
  /** Sockets to look at again after the next poll of the event loop (one batch, one read of Node's list). */
  #recheck = new Set<HttpSocket>()
  #arrivals: RequestLedger | null = null
  #keepListening = false
  /** How long an idle connection waits for a request on its way: `arrivalGraceMs`, longer for a cluster worker leaving alone. */
  #idleGraceMs = arrivalGraceMs

  constructor(server: NetServer) {
    this.server = server
    // The socket the HTTP parser sees: after the handshake for TLS, the TCP one otherwise.
    const event = server instanceof TlsServer ? 'secureConnection' : 'connection'
    server.on(event, (socket: HttpSocket) => {
      // HTTP/2 sessions on a server with allowHTTP1 are drained by Http2Drain.
      if ((socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2') return
      this.#sockets.add(socket)
      if (this.#arrivals === null) return
      // Accepted while the listener is kept open for probes: new, not on its way before the drain. Its
      // requests are answered (a probe, or 503 for work), each with `Connection: close`.
      if (this.#keepListening) lingerInsteadOfDestroy(socket)
      else this.#closeWhenDone(socket, null)
    })
  }

  stopAccepting(arrivals: RequestLedger, keepListening: boolean, closeListenerNow = true, idleGraceMs = arrivalGraceMs): void {
    if (this.#arrivals !== null) return
    this.#arrivals = arrivals
    this.#idleGraceMs = idleGraceMs
    this.#keepListening = keepListening
    this.server.prependListener('request', this.#onRequestWhileDraining)
    // Not closed yet (a cluster worker waiting for its primary's queue): what is still handed to it was
    // accepted before the drain, and is an arrival like any connection already here.
    if (!keepListening && closeListenerNow) this.closeListener()
    const receiving = receivingSockets(this.server)
    for (const socket of this.#sockets) this.#closeWhenDone(socket, receiving)
  }

  keepListener(): void {
    if (this.server.listening) this.#keepListening = true
  }

  closeListener(): void {
    this.#keepListening = false
    if (this.server.listening) NetServer.prototype.close.call(this.server, ignore)
  }

  /** Called by the plugin for the responses in flight when the drain began, newest first. */
  claimInFlight(res: ServerResponse): void {
    const socket = res.req.socket
    if (this.#newest.has(socket)) return
    this.#markNewest(socket, res)
  }

  cut(): number {
    return this.#sockets.destroyAll()
  }

  readonly #onRequestWhileDraining = (req: IncomingMessage, res: ServerResponse): void => {
    if (!(res instanceof ServerResponse)) return
    const socket = req.socket
    const previous = this.#newest.get(socket)
    // The response before it is no longer the last one on this socket: let it keep the socket open.
    if (previous !== undefined && !previous.headersSent) previous.shouldKeepAlive = this.#askedKeepAlive.get(previous) ?? true
    this.#markNewest(socket, res)
  }

  #markNewest(socket: Socket, res: ServerResponse): void {
    this.#newest.set(socket, res)
    if (!res.headersSent) {
      this.#askedKeepAlive.set(res, res.shouldKeepAlive)
      res.shouldKeepAlive = false
      closingWriteHead(res, () => this.#newest.get(socket) === res)
    }
    // Node ends a socket after a `Connection: close` response with destroySoon (a destroy once written);
    // the same moment becomes a lingering close. A response that went out keep-alive anyway (already
    // streaming when the drain began) is looked at again once it has finished.
    lingerInsteadOfDestroy(socket)
    if (!res.writableFinished) res.once('finish', () => this.#recheckSoon(socket))
  }

  /** `receiving`: the sockets with a request partly read, when the caller has read Node's list already. */
  #closeWhenDone(socket: HttpSocket, receiving: ReadonlySet<Socket> | null): void {
    // Upgraded (Node freed its HTTP parser): the socket belongs to its protocol now, and its goodbye to
    // upgraded-sessions.ts. A FIN here would cut a WebSocket before its close frame.
    if (!socket.parser) return
    lingerInsteadOfDestroy(socket)
    const current = socket._httpMessage
    // A response in progress that lameduck does not count (a probe, a request still in earlier
    // onRequest hooks): it is the newest on its socket unless a later request says otherwise.
    if (current) {
      if (!this.#newest.has(socket)) this.#markNewest(socket, current)
      return
    }
    const arrivals = this.#arrivals!
    arrivals.begin(socket)
    socket.once('close', () => arrivals.end(socket, false))
    // A head partly read: its request comes (and is served), or Node's headersTimeout ends the socket.
    if (socket.bytesRead > 0 && receiving?.has(socket)) return
    // Accepted before the drain with nothing sent yet, or idle between requests: the balancer may have
    // routed a request here whose bytes are still on their way (a proxy that connects, then writes; a
    // pool that picked this connection just before the platform stopped routing, in a process whose
    // event loop is late). A FIN now would meet that request; one after the grace meets none, because
    // the platform routes nothing new by then.
    later(this.#idleGraceMs, () => this.#recheckSoon(socket))
  }

  /** After the next poll of the event loop (bytes already in the kernel are read by then): close the socket if it is idle. */
  #recheckSoon(socket: HttpSocket): void {
    if (this.#recheck.size === 0) setImmediate(() => setImmediate(() => this.#recheckIdle()))
    this.#recheck.add(socket)
  }

  #recheckIdle(): void {
    const sockets = this.#recheck
    this.#recheck = new Set()
    let receiving: ReadonlySet<Socket> | undefined
    for (const socket of sockets) {
      // A request came: its response closes the socket (and looks again when it finishes).
      if (socket.destroyed || socket._httpMessage) continue
      receiving ??= receivingSockets(this.server)
      // A request is partly read: it will come. (Node also lists a connection that has sent nothing.)
      if (socket.parser && !isLingering(socket) && socket.bytesRead > 0 && receiving.has(socket)) continue
      this.#arrivals!.end(socket, false)
      // Upgraded meanwhile: the session is the goodbye's (upgraded-sessions.ts), not this FIN's.
      if (socket.parser) lingeringClose(socket)
    }
  }
}

/** How long a connection with no request in progress gets, at the drain, for a request already on its way. */
export const arrivalGraceMs = 250

function later(ms: number, run: () => void): void {
  setTimeout(run, ms).unref()
}

function lingerInsteadOfDestroy(socket: Socket): void {
  const s = socket as Socket & { destroySoon?: () => void }
  if (Object.hasOwn(s, 'destroySoon')) return
  Object.defineProperty(s, 'destroySoon', { value: () => lingeringClose(socket), configurable: true, writable: true })
}

function ignore(): void {}
