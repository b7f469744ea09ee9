import { once } from 'node:events'
import { type ClientHttp2Session, type ClientHttp2Stream, connect, type SecureClientSessionOptions } from 'node:http2'

export interface H2Answer {
  status: number | null
  body: string
  /** RST_STREAM code if the server refused or reset the stream (REFUSED_STREAM is 7). */
  rstCode: number | null
  error: string | null
}

export interface H2Client {
  session: ClientHttp2Session
  /** The last-stream-id of a GOAWAY received from the server, once one arrives. */
  goaway: Promise<{ errorCode: number; lastStreamId: number }>
  closed: Promise<void>
  get(path: string): { stream: ClientHttp2Stream; answer: Promise<H2Answer> }
}

export async function h2Connect(origin: string, options: SecureClientSessionOptions = {}): Promise<H2Client> {
  const session = connect(origin, options)
  session.on('error', () => {})
  await once(session, 'connect')
  const goaway = once(session, 'goaway').then(([errorCode, lastStreamId]) => ({ errorCode: errorCode as number, lastStreamId: lastStreamId as number }))
  const closed = once(session, 'close').then(() => {})
  return {
    session,
    goaway,
    closed,
    get(path) {
      const stream = session.request({ ':path': path, ':method': 'GET' })
      const answer = new Promise<H2Answer>((resolve) => {
        let status: number | null = null
        let body = ''
        let error: string | null = null
        stream.on('response', (headers) => (status = Number(headers[':status'])))
        stream.setEncoding('utf8')
        stream.on('data', (chunk: string) => (body += chunk))
        stream.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
        stream.on('close', () => resolve({ status, body, rstCode: stream.rstCode ?? null, error }))
      })
      return { stream, answer }
    },
  }
}
