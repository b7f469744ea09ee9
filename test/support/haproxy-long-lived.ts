import WebSocket from 'ws'
import { readStream, type StreamReading, streamProblems } from './sse-client.ts'

/** Counts from clients holding streams and sessions open through the balancer. */
export interface LongLivedResult {
  /** Streams read to `event: done`. */
  readonly streams: number
  readonly tokens: number
  /** `event: reconnect` received and resumed from with Last-Event-ID. */
  readonly handovers: number
  /** One line per stream that lost, repeated or reordered a token, ended unannounced, or failed. */
  readonly streamProblems: readonly string[]
  readonly sessions: number
  readonly echoes: number
  /** Close codes the clients saw from the server side, e.g. { 1012: 57 }. */
  readonly closeCodes: Readonly<Record<string, number>>
  /** WebSocket connections that did not open (refused, or a non-101 answer), and echoes out of order. */
  readonly sessionProblems: readonly string[]
}

export interface LongLivedClients {
  /** Stops starting new streams and sessions, lets the streams in progress finish, closes the sessions. */
  stop(): Promise<LongLivedResult>
}

/**
 * `streamClients` EventSource clients, each reading `tokens`-token streams one after another (a stream
 * handed over resumes with Last-Event-ID wherever the balancer sends it), and `socketClients` WebSocket
 * clients sending a message every `sendEveryMs`, reconnecting whenever the server closes.
 */
export function startLongLived(
  origin: string,
  options: { streamClients: number; socketClients: number; tokens: number; intervalMs: number; sendEveryMs: number },
): LongLivedClients {
  let stopping = false
  let streams = 0
  let tokens = 0
  let handovers = 0
  const problems: string[] = []
  // A stream lasts tokens x interval, plus a reconnection (1-2 s) for each handover.
  const streamTimeoutMs = options.tokens * options.intervalMs + 15_000

  const streamClient = async (client: number) => {
    while (!stopping) {
      const reading: StreamReading = await readStream(`${origin}/stream?tokens=${options.tokens}&interval_ms=${options.intervalMs}`, {
        timeoutMs: streamTimeoutMs,
      })
      streams += 1
      tokens += reading.tokens.length
      handovers += reading.handovers
      for (const problem of streamProblems(reading, options.tokens)) problems.push(`stream client ${client}: ${problem}`)
    }
  }

  let sessions = 0
  let echoes = 0
  const closeCodes: Record<string, number> = {}
  const sessionProblems: string[] = []
  const open = new Set<WebSocket>()

  /** One session; resolves when it has closed. */
  const session = (client: number) =>
    new Promise<void>((resolve) => {
      const socket = new WebSocket(`${origin.replace('http:', 'ws:')}/ws`)
      let sent = 0
      let timer: NodeJS.Timeout | undefined
      socket.on('open', () => {
        sessions += 1
        open.add(socket)
        timer = setInterval(() => {
          sent += 1
          socket.send(`c${client}-${sent}`)
        }, options.sendEveryMs)
      })
      socket.on('message', (data) => {
        const { echo, seq } = JSON.parse(String(data)) as { echo: string; seq: number }
        echoes += 1
        if (echo !== `c${client}-${seq}`) sessionProblems.push(`socket client ${client}: echo ${JSON.stringify(echo)} with seq ${seq}`)
      })
      socket.on('unexpected-response', (_request, response) => {
        sessionProblems.push(`socket client ${client}: upgrade answered ${response.statusCode}`)
        socket.terminate()
      })
      socket.on('error', (error) => {
        sessionProblems.push(`socket client ${client}: ${(error as NodeJS.ErrnoException).code ?? error.message}`)
      })
      socket.on('close', (code) => {
        clearInterval(timer)
        // The clients' own goodbye at the end is not the server's close.
        if (open.delete(socket) || !stopping) closeCodes[code] = (closeCodes[code] ?? 0) + 1
        resolve()
      })
    })

  const socketClient = async (client: number) => {
    while (!stopping) {
      await session(client)
      if (!stopping) await new Promise((r) => setTimeout(r, 100))
    }
  }

  const running = [
    ...Array.from({ length: options.streamClients }, (_, i) => streamClient(i)),
    ...Array.from({ length: options.socketClients }, (_, i) => socketClient(i)),
  ]

  return {
    stop: async () => {
      stopping = true
      for (const socket of open) {
        open.delete(socket)
        socket.close(1000, 'test over')
      }
      await Promise.all(running)
      return { streams, tokens, handovers, streamProblems: problems, sessions, echoes, closeCodes, sessionProblems }
    },
  }
}
