import { once } from 'node:events'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { waitUntil } from './support/plugin-harness.ts'

// GET /ws over real sockets. Its drain behaviour (1012 at SIGTERM) is in service-echo-drain.test.ts.
let app: FastifyInstance
let wsOrigin = ''

beforeAll(async () => {
  app = buildService(readEnvConfig({ LOG_LEVEL: 'silent', MAX_CONCURRENCY: '8' }), { signals: false, exit: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  wsOrigin = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  await waitUntil(() => app.lameduck.readiness().ready)
})
afterAll(() => app.close())

interface Session {
  socket: WebSocket
  messages: string[]
  closed: Promise<{ code: number; reason: string }>
}

async function open(): Promise<Session> {
  const socket = new WebSocket(`${wsOrigin}/ws`)
  const messages: string[] = []
  socket.on('message', (data) => messages.push(String(data)))
  const closed = once(socket, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason) }))
  await once(socket, 'open')
  return { socket, messages, closed }
}

describe('GET /ws: echo', () => {
  it('answers each text message with {"echo":m,"seq":n}, n counting from 1 per session', async () => {
    const a = await open()
    const b = await open()
    for (const m of ['hello', '', 'ünïcødé ✓', '{"json":"inside"}']) a.socket.send(m)
    b.socket.send('other session')
    await waitUntil(() => a.messages.length === 4 && b.messages.length === 1)
    expect(a.messages.map((m) => JSON.parse(m))).toEqual([
      { echo: 'hello', seq: 1 },
      { echo: '', seq: 2 },
      { echo: 'ünïcødé ✓', seq: 3 },
      { echo: '{"json":"inside"}', seq: 4 },
    ])
    expect(JSON.parse(b.messages[0]!)).toEqual({ echo: 'other session', seq: 1 })
    a.socket.close(1000)
    b.socket.close(1000)
    expect((await a.closed).code).toBe(1000)
    expect((await b.closed).code).toBe(1000)
  })

  it('takes a message of exactly 64 KiB, split into fragments too', async () => {
    const s = await open()
    const big = 'x'.repeat(64 * 1024)
    s.socket.send(big.slice(0, 40_000), { fin: false })
    s.socket.send(big.slice(40_000), { fin: true })
    await waitUntil(() => s.messages.length === 1)
    expect(JSON.parse(s.messages[0]!)).toEqual({ echo: big, seq: 1 })
    s.socket.close(1000)
    await s.closed
  })

  it('closes with 1009 on a message over 64 KiB', async () => {
    const s = await open()
    s.socket.send('x'.repeat(64 * 1024 + 1))
    expect((await s.closed).code).toBe(1009)
    expect(s.messages).toEqual([])
  })

  it('closes with 1009 when fragments add up to more than 64 KiB', async () => {
    const s = await open()
    s.socket.send('x'.repeat(40_000), { fin: false })
    s.socket.send('x'.repeat(40_000), { fin: true })
    expect((await s.closed).code).toBe(1009)
  })

  it('closes with 1007 on a text message that is not UTF-8, after answering the ones before it', async () => {
    const s = await open()
    s.socket.send('fine')
    s.socket.send(Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false })
    expect((await s.closed).code).toBe(1007)
    expect(s.messages.map((m) => JSON.parse(m))).toEqual([{ echo: 'fine', seq: 1 }])
  })

  it('closes with 1003 on a binary message: the protocol is text', async () => {
    const s = await open()
    s.socket.send(Buffer.from('bytes'), { binary: true })
    expect(await s.closed).toEqual({ code: 1003, reason: 'text messages only' })
  })

  it('answers a plain GET (no upgrade) 426 JSON with Upgrade: websocket', async () => {
    const response = await fetch(`${wsOrigin.replace('ws:', 'http:')}/ws`)
    expect(response.status).toBe(426)
    expect(response.headers.get('upgrade')).toBe('websocket')
    expect(await response.json()).toMatchObject({ statusCode: 426, error: 'Upgrade Required', code: 'UPGRADE_REQUIRED' })
  })
})
