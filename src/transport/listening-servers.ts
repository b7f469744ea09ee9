import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Server } from 'node:net'

// Node publishes every server that starts listening on this tracing channel (Node 22 and 24).
const listenChannel = 'tracing:net.server.listen:asyncEnd'

/**
 * Calls `onServer` with `main` now, and with every other server that starts listening and serves the
 * same application. Fastify opens a secondary server per extra address of the host it listens on
 * (`localhost` is 127.0.0.1 and ::1) and keeps them out of `fastify.server`; they share the main
 * server's request handler, which is how they are recognised here. Returns the unsubscribe.
 */
export function watchListeningServers(main: Server, onServer: (server: Server) => void): () => void {
  const seen = new WeakSet<Server>([main])
  onServer(main)
  const onListen = (message: unknown) => {
    const server = (message as { server?: Server }).server
    if (server === undefined || seen.has(server) || !sharesHandler(server, main)) return
    seen.add(server)
    onServer(server)
  }
  subscribe(listenChannel, onListen)
  return () => unsubscribe(listenChannel, onListen)
}

function sharesHandler(server: Server, main: Server): boolean {
  const handlers = new Set(main.listeners('request'))
  return server.listeners('request').some((listener) => handlers.has(listener))
}
