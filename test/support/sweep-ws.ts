import WebSocket from 'ws'
import { GatedSocket } from './gated-socket.ts'
import type { Observation } from './sweep-cell.ts'
import type { SweepChild } from './sweep-child.ts'

/** Close codes that tell a client to come back (RFC 6455; IANA: 1012 Service Restart, 1001 Going Away). */
const reconnectCodes = [1012, 1001]

/**
 * A WebSocket client (`ws`) over a gated TCP connection: the test can hold its upgrade request or a
 * frame half-way. It records how the session ended: a close frame's code, a refused upgrade, an error.
 */
export class WsSweep {
  readonly gate: GatedSocket
  readonly ws: WebSocket
  echoes = 0
  opened = false
  close: { code: number; reason: string; at: number } | null = null
  refused: { status: number; retryAfter: boolean; connectionClose: boolean; at: number } | null = null
  error: string | null = null
  readonly ended: Promise<void>

  private constructor(gate: GatedSocket, ws: WebSocket) {
    this.gate = gate
    this.ws = ws
    ws.on('open', () => (this.opened = true))
    ws.on('message', () => (this.echoes += 1))
    ws.on('error', (error: NodeJS.ErrnoException) => (this.error ??= error.code ?? error.message))
    ws.on('unexpected-response', (request, response) => {
      this.refused = {
        status: response.statusCode ?? 0,
        retryAfter: response.headers['retry-after'] !== undefined,
        connectionClose: response.headers.connection === 'close',
        at: performance.now(),
      }
      response.resume()
      response.on('end', () => request.destroy())
    })
    this.ended = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        if (!this.refused) this.close = { code, reason: String(reason), at: performance.now() }
        resolve()
      })
      // A refused upgrade never opens, so no `close` may come: the TCP connection's end is the end.
      gate.tcp.once('close', () => setTimeout(resolve, 50))
    })
  }

  /** Connects; with `held`, the upgrade request stays in the gate (after `passBytes` of it) until released. */
  static async open(child: SweepChild, held = false, passBytes = 0): Promise<WsSweep> {
    const gate = await GatedSocket.connect(child.port)
    if (held) gate.holdAfter(passBytes)
    const client = new WsSweep(gate, new WebSocket(`ws://127.0.0.1:${child.port}/ws`, { createConnection: () => gate }))
    if (!held) await new Promise((resolve, reject) => client.ws.once('open', resolve).once('error', reject))
    return client
  }

  /** Judges the end: a close 1012/1001 (or `expected`), or an upgrade refused 503 with Retry-After and Connection: close. */
  async observe(expected: number[] = reconnectCodes, timeoutMs = 10_000): Promise<Observation> {
    const timer = setTimeout(() => this.ws.terminate(), timeoutMs)
    await this.ended
    clearTimeout(timer)
    const problems: string[] = []
    let sees: string
    if (this.refused) {
      const r = this.refused
      sees = `upgrade answered ${r.status}${r.retryAfter ? ' `Retry-After`' : ''}${r.connectionClose ? ' `Connection: close`' : ''}`
      if (r.status !== 503 || !r.retryAfter || !r.connectionClose) problems.push(`upgrade refused: ${sees}`)
      return { sees, problems, lastAnswerAt: r.at }
    }
    if (!this.opened) {
      // `ws` reports a FIN before the 101 as ECONNRESET ("socket hang up"): the gate saw what it really was.
      sees = this.gate.error ? `reset (${this.gate.error.code}) before the upgrade was answered` : 'FIN, the upgrade request the server read never answered'
      problems.push('upgrade never answered')
      return { sees, problems, lastAnswerAt: 0 }
    }
    if (this.close) {
      const { code, reason } = this.close
      sees = `close ${code}${reason ? ` \`${reason}\`` : ''}`
      if (!expected.includes(code)) problems.push(`close ${code}`)
    } else {
      sees = 'no close'
      problems.push('ended without a close')
    }
    if (this.error) {
      sees += ` (${this.error})`
      problems.push(this.error)
    }
    return { sees, problems, lastAnswerAt: this.close?.at ?? 0 }
  }
}
