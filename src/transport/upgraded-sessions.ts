import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { lingeringClose } from './lingering-close.ts'
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

/** The part of `@fastify/websocket`'s `ws` server the goodbye uses: its sessions, and the news of new ones. */
export interface SessionServer {
  readonly clients?: Set<Session>
  on?(event: 'connection', listener: (session: Session) => void): unknown
}

const open = 1
const closing = 2

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
 * A refused upgrade's socket is no HTTP connection any more (Node freed its parser; no drain closes it, and
 * `@fastify/websocket`, whose hooks a refusal skips, does not either): the answer says `Connection: close`,
 * and a lingering close follows it.
 */
export function closeAfterRefusal(res: ServerResponse, socket: Duplex): void {
  res.shouldKeepAlive = false
  res.once('finish', () => lingeringClose(socket))
}

/**
 * At the drain proper: every WebSocket session gets a close frame, spread over `spreadMs`; one that
 * does not finish the handshake within `closeTimeoutMs` is terminated. So is a session already closing
 * (its application closed it, or `@fastify/websocket` did on a route without a WebSocket handler), which
 * otherwise only `ws`'s own 30 s timer bounds, and a session whose upgrade was admitted before the drain
 * and completed after this ran. Upgraded sockets that are not WebSockets lameduck knows get a FIN, then
 * are destroyed after the same bound.
 */
export function sayGoodbye(sessions: RequestLedger, server: SessionServer | undefined, goodbye: WebsocketGoodbye): void {
  const boundClose = (ws: Session) => {
    const cut = later(goodbye.closeTimeoutMs, () => ws.terminate())
    ws.once('close', () => clearTimeout(cut))
  }
  const sayIt = (ws: Session) => {
    if (ws.readyState !== open) return
    ws.close(goodbye.code, goodbye.reason)
    boundClose(ws)
  }
  const clients = server?.clients ? [...server.clients] : []
  const opened = clients.filter((ws) => ws.readyState === open)
  opened.forEach((ws, index) => {
    const delay = opened.length > 1 ? Math.floor((goodbye.spreadMs * index) / opened.length) : 0
    later(delay, () => sayIt(ws))
  })
  for (const ws of clients) if (ws.readyState === closing) boundClose(ws)
  server?.on?.('connection', sayIt)
  // With a WebSocket server, every upgraded socket is a session of it, open already or opening (the
  // 'connection' listener's): a FIN would cut its handshake.
  if (server?.on) return
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
