import type { Server } from 'node:net'

/**
 * The drain of one listening server, whatever it speaks. The plugin holds one
 * per server Fastify opened and calls them together; nothing outside
 * src/transport knows about sockets, sessions or HTTP versions.
 */
export interface ServerDrain {
  readonly server: Server
  /** The drain proper: close the listener, close idle connections, let in-flight work end its connection. */
  stopAccepting(): void
  /** The end: every connection still open is destroyed. Returns how many were. */
  cut(): number
}
