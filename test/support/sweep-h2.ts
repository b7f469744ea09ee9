import { once } from 'node:events'
import { type ClientHttp2Session, type ClientHttp2Stream, connect, type OutgoingHttpHeaders } from 'node:http2'
import { GatedSocket } from './gated-socket.ts'
import type { Observation } from './sweep-cell.ts'
import type { SweepChild } from './sweep-child.ts'
import { tlsOver } from './sweep-tls.ts'

/** One stream as the client saw it end. */
interface StreamEnd {
  id: number | undefined
  status: number | null
  retryAfter: boolean
  /** The body's end arrived (END_STREAM), not a reset. */
  ended: boolean
  rstCode: number
  error: string | null
  at: number
}

const refusedStream = 7

/**
 * An HTTP/2 client (node:http2) over a gated TCP connection, h2c or TLS as the child speaks: the test
 * can hold its preface, its HEADERS or a body, then judge every stream and the session's end.
 */
export class H2Sweep {
  readonly gate: GatedSocket
  readonly session: ClientHttp2Session
  readonly #streams: Promise<StreamEnd>[] = []
  goaway: { code: number; lastStreamId: number } | null = null
  sessionError: string | null = null
  readonly closed: Promise<void>

  private constructor(gate: GatedSocket, session: ClientHttp2Session) {
    this.gate = gate
    this.session = session
    session.on('goaway', (code: number, lastStreamId: number) => (this.goaway ??= { code, lastStreamId }))
    session.on('error', (error: NodeJS.ErrnoException) => (this.sessionError = error.code ?? error.message))
    // Not events.once: it rejects on an 'error' first, and a client a retried cell left behind is never observed.
    this.closed = new Promise((resolve) => session.once('close', () => resolve()))
  }

  /** Connects; with `held`, nothing reaches the server (not even the TLS ClientHello or the preface) until released. */
  static async open(child: SweepChild, held = false): Promise<H2Sweep> {
    const gate = await GatedSocket.connect(child.port)
    if (held) gate.hold()
    const tls = child.transport === 'h2'
    const session = connect(child.origin, {
      createConnection: () => (tls ? tlsOver(gate, child.tls!.ca, ['h2']) : gate),
    })
    const client = new H2Sweep(gate, session)
    if (!held) {
      await once(session, 'connect')
      // The preface and SETTINGS went out with the connect; the server has read them.
      await child.awaitRead(gate.localPort, gate.sent)
    }
    return client
  }

  /** A stream; with `body` (bytes), HEADERS go out without END_STREAM and the body follows (none yet if empty). */
  request(path: string, method = 'GET', body?: string): ClientHttp2Stream {
    const headers: OutgoingHttpHeaders = { ':path': path, ':method': method }
    if (body !== undefined) headers['content-type'] = 'application/octet-stream'
    const stream = this.session.request(headers, { endStream: body === undefined })
    if (body !== undefined && body.length > 0) stream.end(body)
    this.#streams.push(streamEnd(stream))
    return stream
  }

  /** Waits for every stream and the session to end, then judges them. */
  async observe(timeoutMs = 10_000): Promise<Observation> {
    const timer = setTimeout(() => this.session.destroy(), timeoutMs)
    const streams = await Promise.all(this.#streams)
    await this.closed
    clearTimeout(timer)
    const problems: string[] = []
    const parts = streams.map((s) => {
      if (s.status !== null && s.ended && s.rstCode === 0) {
        if (s.status === 503 && !s.retryAfter) problems.push('503 without Retry-After')
        else if (s.status !== 200 && s.status !== 503) problems.push(`answered ${s.status}`)
        return s.status === 503 ? '503 `retry-after`' : `${s.status}`
      }
      if (s.status === null && s.rstCode === refusedStream) return 'refused (`REFUSED_STREAM`)'
      if (s.status === null && this.goaway && s.id !== undefined && s.id > this.goaway.lastStreamId) return 'not processed (above GOAWAY\'s last stream)'
      problems.push(`stream ${s.id}: status ${s.status}, reset ${s.rstCode}, ${s.error}`)
      return `cut (status ${s.status}, RST_STREAM ${s.rstCode}${s.error ? `, ${s.error}` : ''})`
    })
    if (this.goaway) parts.push(`GOAWAY (last stream ${this.goaway.lastStreamId}${this.goaway.code ? `, error ${this.goaway.code}` : ''})`)
    else problems.push('closed without GOAWAY')
    if (this.goaway?.code) problems.push(`GOAWAY with error ${this.goaway.code}`)
    if (this.sessionError) {
      parts.push(`session error ${this.sessionError}`)
      problems.push(`session error ${this.sessionError}`)
    } else parts.push('closed')
    const lastAnswerAt = Math.max(0, ...streams.map((s) => s.at))
    return { sees: parts.join(', '), problems, lastAnswerAt }
  }
}

function streamEnd(stream: ClientHttp2Stream): Promise<StreamEnd> {
  return new Promise((resolve) => {
    let status: number | null = null
    let retryAfter = false
    let ended = false
    let error: string | null = null
    stream.on('response', (headers) => {
      status = Number(headers[':status'])
      retryAfter = headers['retry-after'] !== undefined
    })
    stream.on('data', () => {})
    stream.on('end', () => (ended = true))
    stream.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    stream.on('close', () => resolve({ id: stream.id, status, retryAfter, ended, rstCode: stream.rstCode ?? 0, error, at: performance.now() }))
  })
}
