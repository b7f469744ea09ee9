import type { Http2Session } from 'node:http2'
import { Server as NetServer } from 'node:net'
import type { ServerDrain } from './server-drain.ts'
import { SocketSet } from './socket-set.ts'

/**
 * Drains the HTTP/2 sessions of a server (h2c, or h2 over TLS; its HTTP/1 side is Http1Drain's).
 *
 * At the drain proper every session gets GOAWAY through `session.close()`: nghttp2 names the last
 * stream it processed, streams up to it finish, a client retries anything above it elsewhere
 * (RFC 9113 6.8), and a session with no open stream closes at once. At the cut, sessions still open
 * are destroyed.
 */
export class Http2Drain implements ServerDrain {
  readonly server: NetServer
  readonly #sessions = new SocketSet<Http2Session>()
  #draining = false

  constructor(server: NetServer) {
    this.server = server
    server.on('session', (session: Http2Session) => {
      this.#sessions.add(session)
      // A session that connects during the drain (accepted just before the listener closed, or while it
      // is kept open for probes): GOAWAY before any stream, which the client retries elsewhere.
      if (this.#draining) session.close()
    })
  }

  stopAccepting(_arrivals: unknown, keepListening: boolean, closeListenerNow = true): void {
    if (this.#draining) return
    this.#draining = true
    if (!keepListening && closeListenerNow) this.closeListener()
    for (const session of this.#sessions) if (!session.closed) session.close()
  }

  keepListener(): void {
    // Every session that connects during the drain gets its GOAWAY, whatever the listener does.
  }

  closeListener(): void {
    // net.Server#close: Http2Server#close would also close every session at once (Node 24).
    if (this.server.listening) NetServer.prototype.close.call(this.server, ignore)
  }

  cut(): number {
    return this.#sessions.destroyAll()
  }
}

function ignore(): void {}
