import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { lameduck } from '../../src/http/lameduck-plugin.ts'
import type { LameduckOptions } from '../../src/http/plugin-options.ts'

export interface Harness {
  app: FastifyInstance
  port: number
  origin: string
  /** Exit codes the plugin asked for (it never ends the test process). */
  exits: number[]
  close(): Promise<void>
}

/**
 * A real Fastify server with lameduck on port 0 and a few routes that make
 * drains interesting: slow work, a throwing handler, an endless stream.
 */
export async function startHarness(
  options: LameduckOptions = {},
  beforeListen: (app: FastifyInstance) => void = () => {},
): Promise<Harness> {
  const exits: number[] = []
  const app = Fastify({ logger: false })
  await app.register(lameduck, { signals: false, exit: (code) => void exits.push(code), ...options })

  app.get<{ Querystring: { ms?: string } }>('/work', async (request) => {
    const ms = Number(request.query.ms ?? 0)
    if (ms > 0) await sleep(ms)
    return { done: true }
  })
  app.post('/upload', async (request) => ({ bytes: JSON.stringify(request.body).length }))
  app.get('/throw', async () => {
    throw new Error('secret internal detail at /srv/app/handler.ts:42')
  })
  app.get('/stream', (_request, reply) => {
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' })
    const timer = setInterval(() => reply.raw.write('data: tick\n\n'), 20)
    reply.raw.on('close', () => clearInterval(timer))
  })

  beforeListen(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  await waitUntil(() => app.lameduck.readiness().status !== 'starting')
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return {
    app,
    port: address.port,
    origin: `http://127.0.0.1:${address.port}`,
    exits,
    close: async () => {
      if (app.lameduck.actor.getSnapshot().status === 'active') await app.close()
      await app.lameduck.finished().catch(() => {})
      app.server.closeAllConnections()
    },
  }
}

export async function waitUntil(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await sleep(5)
  }
}

/** A raw TCP client, for what HTTP clients hide: exact bytes, resets, half-sent requests. */
export async function rawConnect(port: number): Promise<RawClient> {
  const socket = connect({ port, host: '127.0.0.1' })
  await once(socket, 'connect')
  return new RawClient(socket)
}

export class RawClient {
  readonly socket: Socket
  received = ''
  error: NodeJS.ErrnoException | null = null
  ended = false
  closed: Promise<void>

  constructor(socket: Socket) {
    this.socket = socket
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => (this.received += chunk))
    socket.on('error', (error) => (this.error = error))
    socket.on('end', () => (this.ended = true))
    this.closed = once(socket, 'close').then(() => {})
  }

  write(data: string): void {
    this.socket.write(data)
  }

  /** Waits until `n` complete responses (by Content-Length) have arrived. */
  async responses(n: number, timeoutMs = 5_000): Promise<RawResponse[]> {
    await waitUntil(() => parseResponses(this.received).length >= n || this.ended || this.error !== null, timeoutMs)
    return parseResponses(this.received)
  }
}

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

export function parseResponses(text: string): RawResponse[] {
  const responses: RawResponse[] = []
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
    const length = Number(headers['content-length'] ?? 0)
    if (rest.length < headEnd + 4 + length) break
    responses.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(headEnd + 4, headEnd + 4 + length) })
    rest = rest.slice(headEnd + 4 + length)
  }
  return responses
}

export const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`
