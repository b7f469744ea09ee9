import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

/**
 * Preloaded (`--import`) into both sides' servers in the promptness trials: when the server itself closed
 * its last connection, in epoch milliseconds, written to stderr at exit. The driver's own view of the
 * closes comes late when its loop is busy with thousands of them; this is the server's. Nothing here
 * changes what the server does: a `close` listener per connection, and no signal handlers.
 */
let open = 0
let lastCloseAt: number | null = null
subscribe('net.server.socket', (message) => {
  const { socket } = message as { socket: Socket }
  open += 1
  socket.once('close', () => {
    open -= 1
    lastCloseAt = performance.timeOrigin + performance.now()
  })
})
process.once('exit', () => {
  process.stderr.write(`\npromptness-probe ${JSON.stringify({ lastCloseAt, open, exitAt: performance.timeOrigin + performance.now() })}\n`)
})
