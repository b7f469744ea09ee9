import type { Server } from 'node:net'
import type { RequestLedger } from '../machine/request-ledger.ts'

/**
 * The drain of one listening server, whatever it speaks. The plugin holds one
 * per server Fastify opened and calls them together; nothing outside
 * src/transport knows about sockets, sessions or HTTP versions.
 */
export interface ServerDrain {
  readonly server: Server
  /**
   * The drain proper: close the listener, close idle connections, let in-flight work end its connection.
   * A connection whose request may still be on its way is held in `arrivals` until that is settled.
   */
  stopAccepting(arrivals: RequestLedger, keepListening: boolean, closeListenerNow?: boolean, idleGraceMs?: number): void
  /**
   * Closes the listening socket, if `stopAccepting` kept it open (for probes with `keepListening`, or
   * without it, `closeListenerNow: false`: until a cluster worker knows its primary holds nothing for it).
   */
  closeListener(): void
  /** From now on, a new connection is new (answered, then closed), not one that was on its way: the listener stays for probes. */
  keepListener(): void
  /** The end: every connection still open is destroyed. Returns how many were. */
  cut(): number
}
