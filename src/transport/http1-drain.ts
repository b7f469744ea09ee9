import { type IncomingMessage, ServerResponse } from 'node:http'
import { Server as NetServer, type Socket } from 'node:net'
import { Server as TlsServer } from 'node:tls'
import { isLingering, lingeringClose } from './lingering-close.ts'
import type { ServerDrain } from './server-drain.ts'
import { SocketSet } from './socket-set.ts'

/** What Node keeps on an HTTP/1 socket: the response being written on it, if any (`closeIdleConnections` reads it too). */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; parser?: unknown }

/**
 * Drains an HTTP/1.1 server (http, https, or the HTTP/1 side of an HTTP/2 server with `allowHTTP1`).
 *
 * - The listener closes through `net.Server#close`, not `http.Server#close`: the latter also stops the
 *   interval that enforces `requestTimeout` and `headersTimeout`, and a slow body or a client that never
 *   reads would then hold the drain to its deadline.
 * - Idle sockets get a lingering close (FIN, then read and discard), never a bare destroy.
 * - On a socket with several requests read (pipelining), only the newest response says
 *   `Connection: close`: Node drops every response queued behind one that does.
 * - A socket whose response was already streaming when the drain began closes after it, lingering.
 */
export class Http1Drain implements ServerDrain {
  readonly server: NetServer
  readonly #sockets = new SocketSet<HttpSocket>()
  /** During the drain: the newest response on each socket, the only one allowed to close it. */
  readonly #newest = new WeakMap<Socket, ServerResponse>()
  /** The keep-alive the client asked for, before the drain overrode it. */
  readonly #askedKeepAlive = new WeakMap<ServerResponse, boolean>()
  #draining = false

  constructor(server: NetServer) {
    this.server = server
    // The socket the HTTP parser sees: after the handshake for TLS, the TCP one otherwise.
    const event = server instanceof TlsServer ? 'secureConnection' : 'connection'
    server.on(event, (socket: HttpSocket) => {
      // HTTP/2 sessions on a server with allowHTTP1 are drained by Http2Drain.
      if ((socket as { alpnProtocol?: string | false }).alpnProtocol === 'h2') return
      this.#sockets.add(socket)
      if (this.#draining) this.#closeWhenDone(socket)
    })
  }

  stopAccepting(): void {
    if (this.#draining) return
    this.#draining = true
    this.server.prependListener('request', this.#onRequestWhileDraining)
    if (this.server.listening) NetServer.prototype.close.call(this.server, ignore)
    for (const socket of this.#sockets) this.#closeWhenDone(socket)
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
    }
    // Node ends a socket after a `Connection: close` response with destroySoon (a destroy once written);
    // the same moment becomes a lingering close. A response sent keep-alive is followed by one too.
    lingerInsteadOfDestroy(socket)
    if (res.headersSent && !res.writableFinished) res.once('finish', () => this.#closeIfIdle(socket))
  }

  #closeWhenDone(socket: HttpSocket): void {
    // Upgraded (Node freed its HTTP parser): the socket belongs to its protocol now, and its goodbye to
    // upgraded-sessions.ts. A FIN here would cut a WebSocket before its close frame.
    if (!socket.parser) return
    lingerInsteadOfDestroy(socket)
    const current = socket._httpMessage
    // A response in progress that lameduck does not count (a probe, a request still in earlier
    // onRequest hooks): it is the newest on its socket unless a later request says otherwise.
    if (current && !this.#newest.has(socket)) this.#markNewest(socket, current)
    else if (current) return
    // A connection accepted just before the listener closed whose first request is still on the wire:
    // a moment for it to arrive, so it is served (`Connection: close`; see firstRequestGrace below)
    // rather than met by a FIN that a client cannot tell from a crash. A keep-alive socket between
    // requests closes at once.
    else if (socket.bytesRead === 0) {
      awaitingFirstRequest.add(socket)
      later(firstRequestGraceMs, () => {
        awaitingFirstRequest.delete(socket)
        this.#closeIfIdle(socket)
      })
    }
    else lingeringClose(socket)
  }

  #closeIfIdle(socket: HttpSocket): void {
    if (socket.parser && !socket._httpMessage && !isLingering(socket)) lingeringClose(socket)
  }
}

/** How long a connection that has not sent a byte yet gets, at the drain, for its first request. */
export const firstRequestGraceMs = 250

/** Connections accepted before the drain that had sent nothing when it began, until their first request or the grace ends. */
const awaitingFirstRequest = new WeakSet<object>()

/**
 * Whether this request is the first on a connection the balancer opened before the drain began: it was
 * routed here before the platform stopped routing, and its bytes were still on the wire (a busy replica,
 * a proxy that connects, then writes). Such a request is served while the drain still runs instead of
 * refused as new work; `Connection: close` sends the client's next request elsewhere. `use` takes the
 * grace up (true at most once per connection); without it the question only looks.
 */
export function firstRequestGrace(socket: object | null | undefined, use: boolean): boolean {
  if (socket == null) return false
  return use ? awaitingFirstRequest.delete(socket) : awaitingFirstRequest.has(socket)
}

function later(ms: number, run: () => void): void {
  setTimeout(run, ms).unref()
}

function lingerInsteadOfDestroy(socket: Socket): void {
  const s = socket as Socket & { destroySoon?: () => void }
  if (Object.hasOwn(s, 'destroySoon')) return
  Object.defineProperty(s, 'destroySoon', { value: () => lingeringClose(socket), configurable: true, writable: true })
}

function ignore(): void {}
