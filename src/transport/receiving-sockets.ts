import type { Server, Socket } from 'node:net'

/** The parser of an HTTP/1 connection, as Node's list of connections holds it. */
interface ListedParser {
  readonly socket?: Socket
}

/** Node's own list of the HTTP/1 connections of a server (set up when it listens), as far as this module reads it. */
interface ConnectionsList {
  active(): ListedParser[]
}

/**
 * The sockets of an HTTP/1 server with a request partly read: llhttp has begun a message (the first
 * byte of a request line) and not completed it. Node keeps this list to enforce `headersTimeout` and
 * `requestTimeout` (and `closeIdleConnections` reads its other half). It also lists connections that
 * have sent nothing yet, which callers tell apart by `bytesRead`. Read once per batch: it walks every
 * connection of the server.
 */
export function receivingSockets(server: Server): ReadonlySet<Socket> {
  const list = connectionsOf(server)
  const sockets = new Set<Socket>()
  if (list === undefined) return sockets
  for (const parser of list.active()) if (parser.socket !== undefined) sockets.add(parser.socket)
  return sockets
}

function connectionsOf(server: Server): ConnectionsList | undefined {
  const key = Object.getOwnPropertySymbols(server).find((symbol) => symbol.description === 'http.server.connections')
  const list = key === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[key]
  return typeof (list as ConnectionsList | undefined)?.active === 'function' ? (list as ConnectionsList) : undefined
}
