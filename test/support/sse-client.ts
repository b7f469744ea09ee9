import { type Dispatcher, EventSource } from 'undici'

/** What one EventSource client saw of one `GET /stream`, across all its reconnections. */
export interface StreamReading {
  /** Token indices in the order they arrived (every token exactly once and in order: 1..N). */
  readonly tokens: number[]
  /** `event: reconnect` received: the server handed the stream over. */
  readonly handovers: number
  /** Connections that ended with neither `reconnect` nor `done` before them: a cut, a reset, a proxy's error. */
  readonly unannouncedEnds: number
  /** `event: done` arrived with this count, or null. */
  readonly done: number | null
  /** Why the client gave up (a non-200 answer, a timeout), or null. */
  readonly failure: string | null
}

/**
 * Reads one stream with undici's EventSource, which reconnects by itself after the server's `retry:`
 * and sends `Last-Event-ID`, as a browser does. Closes it at `event: done` (EventSource would
 * otherwise reconnect after a finished stream too), on failure, or after `timeoutMs`.
 */
export function readStream(
  url: string,
  options: { dispatcher?: Dispatcher; timeoutMs: number; onToken?: (index: number) => void },
): Promise<StreamReading> {
  const source = new EventSource(url, options.dispatcher ? { node: { dispatcher: options.dispatcher } } : {})
  const tokens: number[] = []
  let handovers = 0
  let unannouncedEnds = 0
  let announced = false
  return new Promise((resolve) => {
    const finish = (done: number | null, failure: string | null) => {
      clearTimeout(timer)
      source.close()
      resolve({ tokens, handovers, unannouncedEnds, done, failure })
    }
    const timer = setTimeout(() => finish(null, `no done within ${options.timeoutMs} ms (last token ${tokens.at(-1) ?? 0})`), options.timeoutMs)
    source.addEventListener('open', () => (announced = false))
    source.addEventListener('token', (event) => {
      const { index } = JSON.parse((event as MessageEvent).data) as { index: number }
      tokens.push(index)
      options.onToken?.(index)
    })
    source.addEventListener('reconnect', () => {
      handovers += 1
      announced = true
    })
    source.addEventListener('done', (event) => finish((JSON.parse((event as MessageEvent).data) as { tokens: number }).tokens, null))
    source.addEventListener('error', () => {
      // CONNECTING: the connection ended and EventSource will reconnect. CLOSED: it failed for good.
      if (source.readyState === source.CLOSED) return finish(null, `connection failed after token ${tokens.at(-1) ?? 0}`)
      if (!announced) unannouncedEnds += 1
      announced = false
    })
  })
}

/** Problems with a reading of an N-token stream: every token exactly once, in order, a done, no failure. */
export function streamProblems(reading: StreamReading, n: number): string[] {
  const problems: string[] = []
  let expected = 1
  for (const index of reading.tokens) {
    if (index !== expected) {
      problems.push(`token ${index} where ${expected} was due`)
      break
    }
    expected += 1
  }
  if (reading.tokens.length !== n) problems.push(`${reading.tokens.length} tokens of ${n}`)
  if (reading.done !== n) problems.push(`done ${reading.done}`)
  if (reading.failure) problems.push(reading.failure)
  if (reading.unannouncedEnds > 0) problems.push(`${reading.unannouncedEnds} connection ends without reconnect or done`)
  return problems
}
