import { Agent, request } from 'undici'
import WebSocket from 'ws'

/**
 * The load for the long-lived figures, in its own process like wrk, so the server under test has its
 * own core. Usage: node bench/long-lived/long-lived-client.ts <sse|ws> <origin> <connections> <seconds> [<query>]
 * Prints one JSON line: { kind, events, seconds, perSecond, allEvents, errors }: `events` in the measured window,
 * `allEvents` over the whole run (ramp-up and stop included), to divide the server's CPU time by.
 *
 * - sse: each connection reads `GET /stream?<query>` streams one after another; counts events (blank-line
 *   terminated) that arrive within the window.
 * - ws: each connection is one `/ws` session sending a message and waiting for its echo, in a closed
 *   loop (as wrk does with requests); counts echoes within the window.
 */
const [kind, originArg, connectionsRaw, secondsRaw, query = 'tokens=1000&interval_ms=0'] = process.argv.slice(2)
const origin = originArg ?? ''
const connections = Number(connectionsRaw)
const seconds = Number(secondsRaw)
if ((kind !== 'sse' && kind !== 'ws') || !origin || !(connections > 0) || !(seconds > 0)) {
  process.stderr.write('usage: long-lived-client.ts <sse|ws> <origin> <connections> <seconds> [<query>]\n')
  process.exit(2)
}

let counting = false
let events = 0
let allEvents = 0
let errors = 0
let stopping = false

function count(): void {
  allEvents += 1
  if (counting) events += 1
}

async function sseConnection(agent: Agent): Promise<void> {
  while (!stopping) {
    try {
      const response = await request(`${origin}/stream?${query}`, { dispatcher: agent })
      if (response.statusCode !== 200) {
        errors += 1
        if (process.env.BENCH_CLIENT_DEBUG) process.stderr.write(`status ${response.statusCode}\n`)
        await response.body.dump()
        continue
      }
      let newline = false
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        // An event ends with a blank line: count "\n\n", including one split across chunks.
        let from = 0
        if (newline && chunk[0] === 0x0a) count()
        for (;;) {
          const at = chunk.indexOf('\n\n', from)
          if (at < 0) break
          count()
          from = at + 2
        }
        newline = chunk[chunk.length - 1] === 0x0a
        if (stopping) break
      }
    } catch (error) {
      if (!stopping) {
        errors += 1
        if (process.env.BENCH_CLIENT_DEBUG) process.stderr.write(`${String(error)}\n`)
      }
    }
  }
}

function wsConnection(): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`${origin.replace('http:', 'ws:')}/ws`)
    const message = 'x'.repeat(32)
    socket.on('open', () => socket.send(message))
    socket.on('message', () => {
      count()
      if (stopping) socket.close(1000)
      else socket.send(message)
    })
    socket.on('error', () => (errors += 1))
    socket.on('close', () => resolve())
  })
}

const agent = new Agent({ connections, keepAliveTimeout: 30_000 })
const running = Array.from({ length: connections }, () => (kind === 'sse' ? sseConnection(agent) : wsConnection()))
// Every connection open and flowing before the window starts.
await new Promise((r) => setTimeout(r, 250))
counting = true
const started = performance.now()
await new Promise((r) => setTimeout(r, seconds * 1000))
counting = false
const elapsed = (performance.now() - started) / 1000
stopping = true
await Promise.race([Promise.all(running), new Promise((r) => setTimeout(r, 2000))])
process.stdout.write(`${JSON.stringify({ kind, events, seconds: elapsed, perSecond: events / elapsed, allEvents, errors })}\n`)
process.exit(0)
