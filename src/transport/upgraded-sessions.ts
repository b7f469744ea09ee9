import type { Duplex } from 'node:stream'
import type { RequestLedger } from '../machine/request-ledger.ts'

/** How lameduck says goodbye to WebSocket sessions at the drain proper. */
export interface WebsocketGoodbye {
  /** Close code: 1012 (Service Restart) tells a client to reconnect (RFC 6455, IANA registry). */
  readonly code: number
  readonly reason: string
  /** Closes are spread over this window, so thousands of clients do not reconnect in the same millisecond. */
  readonly spreadMs: number
  /** A client that has not finished the closing handshake this long after its close frame is cut. */
  readonly closeTimeoutMs: number
}

/** The part of a `ws` WebSocket (as `@fastify/websocket` keeps them) the goodbye uses. */
interface Session {
  readonly readyState: number
  close(code: number, reason: string): void
  terminate(): void
  once(event: 'close', listener: () => void): unknown
}

const open = 1

/**
 * Upgraded connections are not requests: once upgraded, a socket belongs to its protocol. They are
 * counted in the lifecycle's `sessions` ledger from the upgrade until the socket closes, so the drain
 * waits for them without any of them holding it past its own close.
 */
export function trackUpgradedSocket(sessions: RequestLedger, socket: Duplex): void {
  if (socket.destroyed) return
  sessions.begin(socket)
  socket.once('close', () => sessions.end(socket, true))
}

/**
 * At the drain proper: every WebSocket session gets a close frame, spread over `spreadMs`; one that
 * does not finish the handshake within `closeTimeoutMs` is terminated. Upgraded sockets that are not
 * WebSockets lameduck knows (`@fastify/websocket`) get a FIN, then are destroyed after the same bound.
 */
export function sayGoodbye(sessions: RequestLedger, websockets: Iterable<Session> | undefined, goodbye: WebsocketGoodbye): void {
  const clients = websockets ? [...websockets].filter((ws) => ws.readyState === open) : []
  clients.forEach((ws, index) => {
    const delay = clients.length > 1 ? Math.floor((goodbye.spreadMs * index) / clients.length) : 0
    later(delay, () => {
      if (ws.readyState !== open) return
      ws.close(goodbye.code, goodbye.reason)
      const cut = later(goodbye.closeTimeoutMs, () => ws.terminate())
      ws.once('close', () => clearTimeout(cut))
    })
  })
  if (websockets !== undefined) return
  for (const socket of sessions.items() as Iterable<Duplex>) {
    socket.end()
    const cut = later(goodbye.closeTimeoutMs, () => socket.destroy())
    socket.once('close', () => clearTimeout(cut))
  }
}

function later(ms: number, run: () => void): NodeJS.Timeout {
  const timer = setTimeout(run, ms)
  // The sockets themselves keep the process alive while they are open; the timers need not.
  timer.unref()
  return timer
}
