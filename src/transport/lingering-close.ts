import type { Duplex } from 'node:stream'

/** How long a closed-for-writing socket keeps reading before it is dropped (nginx's lingering_time is 30 s). */
export const lingerMs = 2_000

const lingering = Symbol('lameduck.lingering')
type Lingering = Duplex & { [lingering]?: true }

/**
 * Closes a socket the way nginx's lingering close does: FIN after what is
 * written, then read and discard until the client closes its side or
 * `lingerMs` passes. Closing with unread bytes in the receive buffer makes the
 * kernel send RST (RFC 1122 4.2.2.13), which can also destroy a response the
 * client has not read yet; a request already on the wire must meet a FIN.
 */
export function lingeringClose(socket: Duplex, ms = lingerMs): void {
  const s = socket as Lingering
  if (s.destroyed || s[lingering]) return
  s[lingering] = true
  // Detach the HTTP parser: a request arriving now is not answered, only discarded. Adding a
  // 'data' listener makes Node's HTTP server stop feeding the socket to its parser (unconsume).
  socket.removeAllListeners('data')
  // Node's HTTP server ends the socket again when the client's FIN comes, building an
  // ERR_STREAM_ALREADY_FINISHED it then drops: a quarter of the work of closing 10,000 idle sockets.
  socket.removeAllListeners('end')
  // Node's server pauses a socket whose responses back up and undoes any resume while it does.
  socket.removeAllListeners('pause')
  socket.removeAllListeners('resume')
  socket.on('data', discard)
  socket.on('end', () => socket.destroy())
  socket.on('error', discard)
  socket.resume()
  socket.end()
  const timer = setTimeout(() => socket.destroy(), ms)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

export function isLingering(socket: Duplex): boolean {
  return (socket as Lingering)[lingering] === true
}

function discard(): void {}
