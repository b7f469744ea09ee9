import { once } from 'node:events'
import { connect } from 'node:net'
import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { waitUntil } from './support/plugin-harness.ts'

// GET /stream over real sockets. Its drain behaviour (reconnect at the notice) is in service-stream-drain.test.ts.
let app: FastifyInstance
let origin = ''
const streams: ServerResponse[] = []

beforeAll(async () => {
  app = buildService(readEnvConfig({ LOG_LEVEL: 'silent', MAX_CONCURRENCY: '8' }), { signals: false, exit: false })
  // The server side of each stream, to see what it buffers.
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.startsWith('/stream')) streams.push(reply.raw)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  await waitUntil(() => app.lameduck.readiness().ready)
})
afterAll(() => app.close())

const tokenEvent = (i: number) => `id: ${i}\nevent: token\ndata: {"index":${i},"token":"tok-${i}"}\n\n`
const tokenEvents = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => tokenEvent(from + k)).join('')
const doneEvent = (n: number) => `event: done\ndata: {"tokens":${n}}\n\n`

const stream = (query: string, headers: Record<string, string> = {}) => request(`${origin}/stream${query}`, { headers })

describe('GET /stream: the Server-Sent Events format', () => {
  it('sends one event per token, then done, and ends the response', async () => {
    const response = await stream('?tokens=5&interval_ms=0')
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/event-stream')
    expect(response.headers['cache-control']).toBe('no-store')
    expect(response.headers['transfer-encoding']).toBe('chunked')
    expect(await response.body.text()).toBe(tokenEvents(1, 5) + doneEvent(5))
  })

  it('defaults to 20 tokens 100 ms apart', async () => {
    const started = performance.now()
    const response = await stream('')
    expect(await response.body.text()).toBe(tokenEvents(1, 20) + doneEvent(20))
    // 19 intervals of 100 ms; only a lower bound (a busy machine is slower, never faster).
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_850)
  })

  it('paces the tokens interval_ms apart', async () => {
    const started = performance.now()
    const response = await stream('?tokens=4&interval_ms=60')
    expect(await response.body.text()).toBe(tokenEvents(1, 4) + doneEvent(4))
    // Three intervals of 60 ms: a lower bound only (a busy machine is slower, never faster).
    expect(performance.now() - started).toBeGreaterThanOrEqual(175)
  })

  it('sends the largest stream, 100000 tokens, whole and in order', async () => {
    const response = await stream('?tokens=100000&interval_ms=0')
    expect(await response.body.text()).toBe(tokenEvents(1, 100_000) + doneEvent(100_000))
  })
})

describe('GET /stream: resuming with Last-Event-ID', () => {
  it('continues after the token the client saw last', async () => {
    const response = await stream('?tokens=8&interval_ms=0', { 'last-event-id': '5' })
    expect(await response.body.text()).toBe(tokenEvents(6, 8) + doneEvent(8))
  })

  it('sends only done to a client that saw every token but not the end', async () => {
    const response = await stream('?tokens=8&interval_ms=0', { 'last-event-id': '8' })
    expect(await response.body.text()).toBe(doneEvent(8))
  })

  it.each(['0', ''])('starts from the first token with Last-Event-ID %j', async (id) => {
    const response = await stream('?tokens=2&interval_ms=0', { 'last-event-id': id })
    expect(await response.body.text()).toBe(tokenEvents(1, 2) + doneEvent(2))
  })
})

describe('GET /stream: bad input is a 400 JSON naming the field and the value', () => {
  const integerCases = (field: string, min: number, max: number) =>
    ['abc', '1.5', '1e3', ' 5', '05', '0x10', '-1', '', String(max + 1), '99999999999999999999', ...(min > 0 ? [String(min - 1)] : [])].map(
      (value) => [`?${field}=${encodeURIComponent(value)}`, {}, `querystring.${field} must be an integer from ${min} to ${max}; received ${JSON.stringify(value)}`] as const,
    )
  it.each([
    ...integerCases('tokens', 1, 100_000),
    ...integerCases('interval_ms', 0, 60_000),
    ['?tokens=3&tokens=4', {}, 'querystring.tokens must be an integer from 1 to 100000; received ["3","4"]'],
    ['?token=3', {}, 'querystring.token must be absent (unknown option); received "3"'],
    // Unknown whatever the name: these are Object.prototype's, which an `in` check once took for options.
    ...['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'].map(
      (name) => [`?${name}=1`, {}, `querystring.${name} must be absent (unknown option); received "1"`] as const,
    ),
    ['?tokens=5', { 'last-event-id': '6' }, 'headers.last-event-id must be an integer from 0 to 5; received "6"'],
    ['?tokens=5', { 'last-event-id': 'tok-3' }, 'headers.last-event-id must be an integer from 0 to 5; received "tok-3"'],
    ['?tokens=5', { 'last-event-id': '-1' }, 'headers.last-event-id must be an integer from 0 to 5; received "-1"'],
  ] as const)('%s %j', async (query, headers, message) => {
    const response = await stream(query, headers)
    expect(response.statusCode).toBe(400)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(await response.body.json()).toEqual({ statusCode: 400, error: 'Bad Request', code: 'FST_ERR_VALIDATION', message })
  })
})

describe('GET /stream: the client sets the pace', () => {
  it('respects backpressure: a client that stops reading is not buffered for in memory, and then gets every event', async () => {
    const socket = connect({ port: Number(new URL(origin).port), host: '127.0.0.1' })
    await once(socket, 'connect')
    socket.setEncoding('latin1')
    let received = ''
    socket.on('data', (chunk: string) => (received += chunk))
    socket.pause()
    const before = streams.length
    socket.write('GET /stream?tokens=100000&interval_ms=0 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n')
    await waitUntil(() => streams.length > before)
    const response = streams.at(-1)!
    await sleep(500)
    // All 100000 events are about 5.6 MB; held back, at most the socket's buffers and a high-water mark.
    expect(response.writableEnded).toBe(false)
    expect(response.writableLength).toBeLessThan(256 * 1024)
    socket.resume()
    await once(socket, 'close')
    const body = received.slice(received.indexOf('\r\n\r\n') + 4)
    // Chunked framing: strip the chunk sizes, keep the payload.
    const events = body.replace(/\r\n[0-9a-f]+\r\n/g, '').replace(/^[0-9a-f]+\r\n/, '')
    expect(events).toBe(`${tokenEvents(1, 100_000)}${doneEvent(100_000)}\r\n`)
    expect(body.endsWith('\r\n0\r\n\r\n')).toBe(true)
  })

  it('stops when the client goes away: no timer left behind, the request no longer counted', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const idle = timers()
    const controller = new AbortController()
    const response = await request(`${origin}/stream?tokens=100000&interval_ms=50`, { signal: controller.signal })
    for await (const chunk of response.body) if (String(chunk).includes('id: 2\n')) break
    expect(app.lameduck.readiness().activeRequests).toBe(1)
    controller.abort()
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
    await waitUntil(() => timers() <= idle, 2_000)
  })
})
