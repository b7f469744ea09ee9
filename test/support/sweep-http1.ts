import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { decodeChunked } from './chunked-body.ts'
import type { Observation } from './sweep-cell.ts'
import type { SweepChild } from './sweep-child.ts'

/** One HTTP/1.1 response as the client read it off the wire. */
export interface WireResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** Its whole body arrived (by Content-Length, or the chunked terminator). */
  complete: boolean
}

/**
 * A raw HTTP/1.1 client connection: it writes exact bytes (half a request line, half a head, half a
 * body), so a test can stop at any phase of a request, and it keeps every byte, FIN and reset it gets.
 */
export class RawH1 {
  readonly socket: Socket
  received = ''
  ended = false
  error: NodeJS.ErrnoException | null = null
  lastDataAt = 0
  /** Bytes written so far, to know when the server has read them all. */
  written = 0
  readonly closed: Promise<void>

  /** The TCP connection under a TLS socket, whose resets the TLS socket reports only as a close. */
  readonly #gate: { error: NodeJS.ErrnoException | null } | undefined

  constructor(socket: Socket, gate?: { error: NodeJS.ErrnoException | null }) {
    this.socket = socket
    this.#gate = gate
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      this.received += chunk
      this.lastDataAt = performance.now()
    })
    socket.on('end', () => (this.ended = true))
    socket.on('error', (error) => {
      this.error = error
      this.ended = true
    })
    // Not events.once: it rejects on an 'error' first, and a client a retried cell left behind is never observed.
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()))
  }

  static async connect(port: number): Promise<RawH1> {
    const socket = connect({ port, host: '127.0.0.1' })
    await once(socket, 'connect')
    return new RawH1(socket)
  }

  get localPort(): number {
    return this.socket.localPort ?? 0
  }

  write(text: string): void {
    this.written += Buffer.byteLength(text, 'latin1')
    if (!this.socket.destroyed) this.socket.write(text, 'latin1')
  }

  responses(): WireResponse[] {
    return parseResponses(this.received)
  }

  /** Resolves once `n` complete responses arrived (or the connection ended). */
  async until(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.responses().filter((r) => r.complete).length < n && !this.socket.destroyed) {
      if (Date.now() > deadline) throw new Error(`${n} responses not received within ${timeoutMs} ms: ${JSON.stringify(this.received.slice(0, 300))}`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }

  /**
   * Waits for the connection to end, then judges it: every one of the `requests` the client sent
   * (wholly or in part) answered, each a complete 200 or a 503 with Retry-After, the last one closing
   * the connection or followed by a FIN; never a reset, never a FIN over unanswered request bytes.
   */
  async observe(requests: number, timeoutMs = 10_000): Promise<Observation> {
    const timer = setTimeout(() => this.socket.destroy(), timeoutMs)
    await this.closed
    clearTimeout(timer)
    // Over TLS, the TCP connection says whether it was reset; the TLS socket calls a FIN before its
    // handshake ended ECONNRESET too.
    const error = this.#gate ? this.#gate.error : this.error
    return judgeResponses(this.responses(), requests, error ? 'reset' : this.ended ? 'fin' : 'open', error, this.lastDataAt)
  }
}

export function judgeResponses(
  responses: WireResponse[],
  requests: number,
  ending: 'fin' | 'reset' | 'open',
  error: NodeJS.ErrnoException | null,
  lastAnswerAt: number,
): Observation {
  const problems: string[] = []
  const parts = responses.map((r, i) => {
    const last = i === responses.length - 1
    let text = `${r.status}`
    if (r.status === 503) text += r.headers['retry-after'] ? ' `Retry-After`' : ' without Retry-After'
    if (last && r.headers.connection === 'close') text += ' `Connection: close`'
    else if (last && r.headers.connection === 'keep-alive') text += ' keep-alive'
    if (!r.complete) text += ' cut short'
    if (r.status !== 200 && r.status !== 503) problems.push(`answered ${r.status}`)
    if (r.status === 503 && !r.headers['retry-after']) problems.push('503 without Retry-After')
    if (r.status === 503 && last && r.headers.connection !== 'close') problems.push('503 without Connection: close')
    if (!r.complete) problems.push('a response cut short')
    return text
  })
  const unanswered = requests - responses.filter((r) => r.complete).length
  if (ending === 'reset') {
    parts.push(`reset (${error?.code ?? error?.message})`)
    problems.push('reset')
  } else if (ending === 'fin') parts.push('FIN')
  else {
    parts.push('left open')
    problems.push('connection left open')
  }
  if (unanswered > 0) {
    parts.push(`${unanswered} request${unanswered > 1 ? 's' : ''} the server read never answered`)
    problems.push('EOF over request bytes the server read')
  }
  return { sees: parts.join(', '), problems, lastAnswerAt }
}

export function parseResponses(text: string): WireResponse[] {
  const responses: WireResponse[] = []
  let rest = text
  while (rest.length > 0) {
    const headEnd = rest.indexOf('\r\n\r\n')
    if (headEnd < 0) break
    const [statusLine = '', ...lines] = rest.slice(0, headEnd).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
    }
    const status = Number(statusLine.split(' ')[1])
    const after = rest.slice(headEnd + 4)
    if (status === 101) {
      responses.push({ status, headers, body: '', complete: true })
      break
    }
    if (headers['transfer-encoding'] === 'chunked') {
      const body = decodeChunked(after)
      responses.push({ status, headers, body: body.chunks.join(''), complete: body.terminated })
      if (!body.terminated) break
      rest = body.rest
      continue
    }
    const length = Number(headers['content-length'] ?? 0)
    const complete = after.length >= length
    responses.push({ status, headers, body: after.slice(0, length), complete })
    if (!complete) break
    rest = after.slice(length)
  }
  return responses
}

export const getRequest = (path: string) => `GET ${path} HTTP/1.1\r\nHost: sweep\r\n\r\n`

export const postRequest = (path: string, body: string, type = 'application/octet-stream') =>
  `POST ${path} HTTP/1.1\r\nHost: sweep\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`

/** Other work in flight on a connection of its own: a handler held until `afterMs` into the drain. */
export async function workInFlight(child: SweepChild, afterMs = 400): Promise<RawH1> {
  const raw = await RawH1.connect(child.port)
  raw.write(getRequest(`/sweep/hold?tag=other&after_ms=${afterMs}`))
  await child.waitStage('handler', 'other')
  return raw
}

/** The observation of a cell's own exchange, with the other request's problems if it had any. */
export function alongside(own: Observation, other: Observation): Observation {
  return {
    sees: other.problems.length > 0 ? `${own.sees}; the request in flight: ${other.sees}` : own.sees,
    problems: [...own.problems, ...other.problems.map((p) => `request in flight: ${p}`)],
    lastAnswerAt: Math.max(own.lastAnswerAt, other.lastAnswerAt),
  }
}

/**
 * Judges a Server-Sent Events response: whole events in a chunked body that ends with its terminator,
 * the last event `reconnect` or `done`, then a FIN. A 503 (or no answer) is judged as any response.
 */
export async function observeStream(raw: RawH1, timeoutMs = 10_000): Promise<Observation> {
  const plain = await raw.observe(1, timeoutMs)
  const [response] = raw.responses()
  if (response?.status !== 200) return plain
  const events = response.body.split('\n\n').filter((e) => e.length > 0)
  const last = /^event: (\w+)$/m.exec(events.at(-1) ?? '')?.[1] ?? 'none'
  const problems = [...plain.problems]
  if (!response.body.endsWith('\n\n')) problems.push('an event cut short')
  if (last !== 'reconnect' && last !== 'done') problems.push(`last event ${last}`)
  const ending = plain.sees.slice(plain.sees.indexOf(', ') + 2)
  const sees = `200 stream${events.length > 1 ? ' of tokens' : ''}, ending \`event: ${last}\`${response.complete ? ' and the chunked terminator' : ' cut short'}, ${ending}`
  return { sees, problems, lastAnswerAt: plain.lastAnswerAt }
}

/**
 * A connect during the drain: ECONNREFUSED where the listener closed (a proxy retries it elsewhere);
 * where it stays open (`listenerAtDrain: 'keep'`), the request's answer, judged as any.
 */
export async function connectLate(port: number, request: string): Promise<Observation> {
  const socket = connect({ port, host: '127.0.0.1' })
  const failed = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    socket.once('connect', () => resolve(null))
    socket.once('error', resolve)
  })
  if (failed) {
    const refused = failed.code === 'ECONNREFUSED'
    return { sees: failed.code ?? failed.message, problems: refused ? [] : [`connect failed: ${failed.code}`], lastAnswerAt: performance.now() }
  }
  const raw = new RawH1(socket)
  raw.write(request)
  return raw.observe(1)
}
