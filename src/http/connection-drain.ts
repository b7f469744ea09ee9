import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { RequestLedger } from '../machine/request-ledger.ts'

/**
 * The drain proper begins: stop taking connections and stop keeping them.
 *
 * - The listener closes, so new connections are refused (ECONNREFUSED, which a
 *   proxy may retry), never accepted and reset.
 * - Idle keep-alive sockets close now, not after keepAliveTimeout
 *   (Fastify 5 alone waits it out: fastify/fastify#7044).
 * - In-flight responses go out with `Connection: close`; those already
 *   streaming close their socket when they finish.
 * - Any request still arriving on an open connection is answered with
 *   `Connection: close` too (lameduck's own hook answers it 503).
 */
export function stopAccepting(server: Server, ledger: RequestLedger<ServerResponse>): void {
  server.prependListener('request', closeAfterResponse)
  if (server.listening) server.close(ignoreNotRunning)
  server.closeIdleConnections()
  for (const res of ledger.items()) {
    if (!res.headersSent) res.shouldKeepAlive = false
    else res.once('finish', endSocketAfterResponse)
  }
}

/** At stop: whatever is left (abandoned work, connections that never finished a request) is cut. */
export function destroyRemainingConnections(server: Server): void {
  server.closeAllConnections()
}

function closeAfterResponse(_req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false
}

function endSocketAfterResponse(this: ServerResponse): void {
  this.socket?.end()
}

function ignoreNotRunning(): void {}
