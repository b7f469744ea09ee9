import { connect, type Socket } from 'node:net'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import WebSocket from 'ws'
import { launch, type LaunchSpec, type ServerProcess, waitFor200 } from '../server-process.ts'

/**
 * One promptness trial in a process of its own: starts the server as its child, opens the clients, sends
 * SIGTERM and times everything the clients see, and the exit, on this process's one clock.
 * Usage: node bench/promptness/promptness-driver.ts '<PromptnessJob as JSON>'; prints one JSON line (TrialResult).
 *
 * Scenarios:
 * - `idle-sockets`: `count` keep-alive connections, each has had one `GET /health` answered and is idle.
 * - `in-flight`: `count` `POST /hello` on connections of their own, `work_ms` 200 ms and up (20 ms apart),
 *   SIGTERM 100 ms after they were sent.
 * - `sse`: `count` `GET /stream` streams, paced, each past its first token.
 * - `ws`: `count` `/ws` sessions, each past its first echo, then idle.
 */
export interface PromptnessJob {
  readonly scenario: Scenario
  readonly count: number
  readonly spec: LaunchSpec
  readonly port: number
  /** The stream each SSE client reads (paced; long enough to outlast the trial). */
  readonly sseQuery: string
  /** Longest wait for the exit after SIGTERM before SIGKILL. */
  readonly capMs: number
}

export type Scenario = 'idle-sockets' | 'in-flight' | 'sse' | 'ws'

/** What one client saw, in ms from SIGTERM. */
interface Seen {
  outcome: string
  /** When the client learned its connection was over: FIN or close for a socket, the answer or the cut for a request, the reconnect event or the cut for a stream, the close for a session. */
  at: number | null
  /** When a client that follows the protocol reconnects: the reconnect event plus its `retry:`, a session's close; null if it would not. */
  reconnectAt: number | null
  /** When its connection closed (for a stream, after its answer ended). */
  closedAt: number | null
}

export interface TrialResult {
  readonly scenario: Scenario
  readonly asked: number
  /** Clients that were open (or requests in flight) at SIGTERM. */
  readonly opened: number
  /** SIGTERM to the exit seen by the parent; null: killed at the cap. */
  readonly exitMs: number | null
  readonly exitCode: number | null
  /** SIGTERM to the last client's `at`. */
  readonly lastMs: number | null
  /** SIGTERM to the last connection closed. */
  readonly lastClosedMs: number | null
  /** Every client's `at`, `reconnectAt` and outcome, in ms from SIGTERM. */
  readonly at: (number | null)[]
  readonly reconnectAt: (number | null)[]
  readonly outcomes: Record<string, number>
  readonly setupMs: number
  /** The driver's own event-loop delay from SIGTERM to the exit, max (ms): how late it may have seen what it timed. */
  readonly driverLagMaxMs: number
  /**
   * The server's own view (socket-probe.ts, if preloaded): its last connection closed (its exit, if some were
   * still open then) and its exit, in ms from SIGTERM (its epoch times less the driver's epoch time of the
   * signal), and how many connections were still open at its exit.
   */
  readonly server: { readonly lastCloseMs: number | null; readonly exitMs: number; readonly open: number } | null
}

const job = JSON.parse(process.argv[2] ?? 'null') as PromptnessJob | null
if (!job) {
  process.stderr.write("usage: promptness-driver.ts '<job as JSON>'\n")
  process.exit(2)
}
const origin = `http://127.0.0.1:${job.port}`
let signalAt = Number.NaN
const since = () => performance.now() - signalAt

async function main(job: PromptnessJob): Promise<void> {
  const server = launch(job.spec, job.port)
  try {
    await waitFor200(server, `${origin}/ready`, 20_000)
    const setupStart = performance.now()
    const open = await scenarios[job.scenario](job.count)
    const setupMs = performance.now() - setupStart
    const opened = open.opened
    // Let the last setup writes settle, so the signal meets idle clients, not a handshake in progress.
    if (job.scenario !== 'in-flight') await sleep(200)
    else await sleep(100)
    const lag = monitorEventLoopDelay({ resolution: 5 })
    lag.enable()
    signalAt = performance.now()
    server.child.kill('SIGTERM')
    const cap = setTimeout(() => server.child.kill('SIGKILL'), job.capMs)
    const exit = await server.exited
    clearTimeout(cap)
    lag.disable()
    // Clients the exit did not reach yet (their FIN or close still in the loop) get a moment to hear it.
    await Promise.race([open.settled, sleep(2000)])
    const seen = open.seen
    const outcomes: Record<string, number> = {}
    for (const s of seen) outcomes[s.outcome] = (outcomes[s.outcome] ?? 0) + 1
    const ats = seen.map((s) => s.at)
    const finite = ats.filter((a): a is number => a !== null)
    const closed = seen.map((s) => s.closedAt).filter((a): a is number => a !== null)
    const result: TrialResult = {
      scenario: job.scenario,
      asked: job.count,
      opened,
      exitMs: exit.signal === 'SIGKILL' ? null : exit.at - signalAt,
      exitCode: exit.code,
      lastMs: finite.length ? Math.max(...finite) : null,
      lastClosedMs: closed.length ? Math.max(...closed) : null,
      at: ats.map(round),
      reconnectAt: seen.map((s) => round(s.reconnectAt)),
      outcomes,
      setupMs,
      driverLagMaxMs: round(lag.max / 1e6) ?? 0,
      server: serverView(server.output(), performance.timeOrigin + signalAt),
    }
    // BENCH_PROMPTNESS_DEBUG=1: the server's own last output (its lifecycle log, with LOG_LEVEL=info) on stderr.
    if (process.env.BENCH_PROMPTNESS_DEBUG) process.stderr.write(`signal at ${(performance.timeOrigin + signalAt).toFixed(1)} (epoch ms)\n${server.output()}\n`)
    process.stdout.write(`${JSON.stringify(result)}\n`)
    process.exit(0)
  } catch (error) {
    server.child.kill('SIGKILL')
    process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n${server.output().slice(-1500)}\n`)
    process.exit(1)
  }
}

/** The probe's line from the server's output, its epoch times made ms from the signal. */
function serverView(output: string, signalEpoch: number): TrialResult['server'] {
  const line = /^promptness-probe (\{.*\})$/m.exec(output)?.[1]
  if (!line) return null
  const probe = JSON.parse(line) as { lastCloseAt: number | null; open: number; exitAt: number }
  // Connections still open at the exit (destroyed, their `close` not yet emitted; bare Fastify exits right after
  // close() destroys them) are closed by the exit itself.
  const lastCloseAt = probe.open > 0 ? probe.exitAt : probe.lastCloseAt
  return {
    lastCloseMs: lastCloseAt === null ? null : round(lastCloseAt - signalEpoch),
    exitMs: round(probe.exitAt - signalEpoch) as number,
    open: probe.open,
  }
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 100) / 100
}

interface Opened {
  readonly opened: number
  readonly seen: Seen[]
  /** Every client has its outcome. */
  readonly settled: Promise<unknown>
}

/** Runs `open` for each of `count`, at most `width` at a time. */
async function inBatches(count: number, width: number, open: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < count) await open(next++)
  }
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker))
}

function tcp(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(job!.port, '127.0.0.1')
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** Resolves when `socket` has received `GET /health`'s whole answer (content-length body). */
function getHealth(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = ''
    const onData = (chunk: Buffer) => {
      got += chunk.toString('latin1')
      const headEnd = got.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const length = Number(/content-length: *(\d+)/i.exec(got.slice(0, headEnd))?.[1] ?? Number.NaN)
      if (got.length - headEnd - 4 >= length) {
        socket.off('data', onData)
        if (!got.startsWith('HTTP/1.1 200')) reject(new Error(`GET /health answered ${got.slice(0, 40)}`))
        else resolve()
      }
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.write('GET /health HTTP/1.1\r\nHost: bench\r\n\r\n')
  })
}

/** A socket's end as the client sees it: FIN (clean), reset, or data it was not waiting for. */
function watchSocket(socket: Socket, entry: Seen): Promise<void> {
  return new Promise((resolve) => {
    let fin = false
    let extra = ''
    socket.on('data', (chunk: Buffer) => {
      if (extra.length < 64) extra += chunk.toString('latin1')
    })
    socket.on('end', () => {
      fin = true
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      entry.outcome = error.code === 'ECONNRESET' ? 'reset' : (error.code ?? 'error')
    })
    socket.on('close', () => {
      entry.at = since()
      entry.closedAt = entry.at
      if (entry.outcome === 'open') entry.outcome = extra ? `unasked answer ${extra.slice(0, 12).trim()}` : fin ? 'FIN' : 'closed'
      resolve()
    })
  })
}

const scenarios: Record<Scenario, (count: number) => Promise<Opened>> = {
  async 'idle-sockets'(count) {
    const seen: Seen[] = []
    const ends: Promise<void>[] = []
    await inBatches(count, 256, async () => {
      const socket = await tcp()
      await getHealth(socket)
      const entry: Seen = { outcome: 'open', at: null, reconnectAt: null, closedAt: null }
      seen.push(entry)
      ends.push(watchSocket(socket, entry))
    })
    return { opened: seen.length, seen, settled: Promise.all(ends) }
  },

  async 'in-flight'(count) {
    const seen: Seen[] = []
    const done: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      const client = new Client(origin)
      const entry: Seen = { outcome: 'pending', at: null, reconnectAt: null, closedAt: null }
      seen.push(entry)
      done.push(
        (async () => {
          try {
            const res = await client.request({
              method: 'POST',
              path: '/hello',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ work_ms: 200 + 20 * i }),
            })
            await res.body.text()
            entry.outcome = `${res.statusCode}${res.headers.connection === 'close' ? ' Connection: close' : ''}`
          } catch (error) {
            entry.outcome = `cut (${(error as { code?: string }).code ?? 'error'})`
          }
          entry.at = since()
          entry.closedAt = entry.at
          await client.destroy().catch(() => {})
        })(),
      )
    }
    return { opened: count, seen, settled: Promise.all(done) }
  },

  async sse(count) {
    const seen: Seen[] = []
    const ends: Promise<void>[] = []
    await inBatches(count, 128, async () => {
      const socket = await tcp()
      const entry: Seen = { outcome: 'open', at: null, reconnectAt: null, closedAt: null }
      seen.push(entry)
      let started!: () => void
      const first = new Promise<void>((resolve) => (started = resolve))
      ends.push(watchStream(socket, entry, started))
      socket.write(`GET /stream?${job!.sseQuery} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`)
      await first
    })
    return { opened: seen.length, seen, settled: Promise.all(ends) }
  },

  async ws(count) {
    const seen: Seen[] = []
    const ends: Promise<void>[] = []
    await inBatches(count, 128, async () => {
      const entry: Seen = { outcome: 'open', at: null, reconnectAt: null, closedAt: null }
      seen.push(entry)
      const socket = new WebSocket(`ws://127.0.0.1:${job!.port}/ws`)
      ends.push(
        new Promise((resolve) => {
          socket.on('error', (error: NodeJS.ErrnoException) => {
            if (entry.outcome === 'open') entry.outcome = `error ${error.code ?? error.message}`
          })
          socket.on('close', (code: number) => {
            entry.at = since()
            entry.closedAt = entry.at
            if (entry.outcome === 'open') entry.outcome = String(code)
            // The protocol's "come back" codes; anything else is a client deciding on its own.
            entry.reconnectAt = entry.at
            resolve()
          })
        }),
      )
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => socket.send('hello'))
        socket.once('message', () => resolve())
        socket.once('error', reject)
      })
    })
    return { opened: seen.length, seen, settled: Promise.all(ends) }
  },
}

/**
 * A raw `GET /stream`: the first token starts it; then `event: reconnect` and its `retry:`, the chunked
 * terminator (the response's clean end), and the socket's close. A stream that closes without the
 * terminator was cut, whatever it got before.
 */
function watchStream(socket: Socket, entry: Seen, started: () => void): Promise<void> {
  return new Promise((resolve) => {
    let tail = ''
    let first = false
    let reconnect = false
    let retryMs: number | null = null
    let ended = false
    socket.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1')
      if (!first && text.includes('event: token')) {
        first = true
        started()
      }
      if (!reconnect) {
        const m = /event: reconnect\nretry: (\d+)\n/.exec(text)
        if (m) {
          reconnect = true
          retryMs = Number(m[1])
          entry.at = since()
          entry.reconnectAt = entry.at + retryMs
        }
      }
      if (/\r\n0\r\n\r\n$/.test(text)) ended = true
      tail = text.slice(-96)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (entry.outcome === 'open') entry.outcome = error.code === 'ECONNRESET' ? 'reset' : (error.code ?? 'error')
    })
    socket.on('close', () => {
      const closedAt = since()
      entry.closedAt = closedAt
      if (entry.outcome === 'open') entry.outcome = reconnect ? (ended ? 'reconnect' : 'reconnect, then cut') : ended ? 'ended without reconnect' : 'cut'
      else if (reconnect) entry.outcome = `reconnect, then ${entry.outcome}`
      if (!reconnect) {
        // Cut: the client learns it at the close, and can only reconnect at once (no retry: was sent).
        entry.at = closedAt
        entry.reconnectAt = closedAt
      }
      if (!first) started()
      resolve()
    })
  })
}

await main(job)
