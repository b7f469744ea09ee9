import { connect } from 'node:net'

/** What came back on one raw TCP connection. */
export interface RawExchange {
  /** Every byte received, as latin1 text. */
  readonly text: string
  /** Status codes of the responses found in `text`, in order. */
  readonly statuses: number[]
  /** The server closed the connection (FIN or reset) before we gave up waiting. */
  readonly closedByServer: boolean
  /** A reset or other socket error, if any. */
  readonly error: string | null
  readonly elapsedMs: number
}

export interface RawPlan {
  /** Bytes to send at once, or a list sent one after another `gapMs` apart. */
  readonly send: string | Buffer | readonly (string | Buffer)[]
  readonly gapMs?: number
  /** Give up (and destroy the socket ourselves) after this long. */
  readonly waitMs?: number
  /** Half-close our side after sending. */
  readonly endAfterSend?: boolean
}

/**
 * Opens a TCP connection, sends exact bytes (HTTP clients refuse to send most
 * of what hostile input is made of), and reports what the server did.
 */
export function rawExchange(port: number, plan: RawPlan): Promise<RawExchange> {
  const chunks = typeof plan.send === 'string' || Buffer.isBuffer(plan.send) ? [plan.send] : [...plan.send]
  const started = Date.now()
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let text = ''
    let error: string | null = null
    let closedByServer = false
    let settled = false
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(giveUp)
      clearTimeout(nextWrite)
      socket.destroy()
      resolve({ text, statuses: statusesIn(text), closedByServer, error, elapsedMs: Date.now() - started })
    }
    const giveUp = setTimeout(finish, plan.waitMs ?? 2_000)
    let nextWrite: NodeJS.Timeout | undefined
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (text += chunk))
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    socket.on('end', () => (closedByServer = true))
    socket.on('close', () => {
      closedByServer = true
      finish()
    })
    socket.on('connect', () => {
      const writeNext = () => {
        const chunk = chunks.shift()
        if (chunk === undefined) {
          if (plan.endAfterSend) socket.end()
          return
        }
        if (!socket.destroyed) socket.write(chunk)
        nextWrite = setTimeout(writeNext, plan.gapMs ?? 0)
      }
      writeNext()
    })
  })
}

/** Status codes of every response head in `text` (a response body could fake one; ours are JSON). */
export function statusesIn(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]))
}

/** A complete request with a JSON body and a correct Content-Length. */
export function jsonRequest(path: string, body: string, extraHeaders = ''): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`
  )
}
