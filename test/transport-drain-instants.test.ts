import { once } from 'node:events'
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { receivingSockets } from '../src/transport/receiving-sockets.ts'
import { cleanups, startDrainApp, stopDrainApps } from './support/drain-app.ts'
import { get, parseResponses, rawConnect, waitUntil } from './support/plugin-harness.ts'

// Issue 18: instants between the ones tested since issue 10, each reproduced on 3f34bdd. The client has
// sent bytes of a request when the drain begins: they are answered, never met by a bare FIN.

afterEach(stopDrainApps)

/** Waits until the server has read part of a request head on some connection (Node's own list says so). */
async function untilHeadPartlyRead(app: { server: import('node:net').Server }): Promise<void> {
  await waitUntil(() => [...receivingSockets(app.server)].some((socket) => socket.bytesRead > 0))
}

describe('a request head partly read when the drain begins', () => {
  for (const restAfterMs of [20, 150, 300]) {
    it(`its last line ${restAfterMs} ms after the signal: served 200 with Connection: close, then a clean exit 0`, async () => {
      const { app, port, exits } = await startDrainApp()
      const raw = await rawConnect(port)
      raw.write('GET /work HTTP/1.1\r\nHost: x\r\n')
      await untilHeadPartlyRead(app)
      app.lameduck.shutdown('SIGTERM')
      await sleep(restAfterMs)
      expect(raw.ended).toBe(false)
      raw.write('\r\n')
      const [response] = await raw.responses(1)
      expect(response).toMatchObject({ status: 200, headers: { connection: 'close' }, body: '{"done":true}' })
      await raw.closed
      expect(raw.error).toBeNull()
      await app.lameduck.finished()
      expect(exits).toEqual([0])
      expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(1)
    })
  }

  it('a client that never finishes its head is still bounded by the server\'s headersTimeout (408), not the drain deadline', async () => {
    const { app, port, exits } = await startDrainApp(
      { serverFactory: (handler) => createServer({ headersTimeout: 400, requestTimeout: 1_000, connectionsCheckingInterval: 50 }, handler) },
      { drainTimeoutMs: 20_000 },
    )
    const raw = await rawConnect(port)
    raw.write('GET /work HTTP/1.1\r\nHost: x\r\n')
    await untilHeadPartlyRead(app)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await raw.closed
    expect(raw.received).toMatch(/^HTTP\/1\.1 408 /)
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(exits).toEqual([0])
  })

  it('the next request on a keep-alive connection, already in the kernel when the drain begins: served 200, Connection: close', async () => {
    const { app, port, exits } = await startDrainApp()
    const raw = await rawConnect(port)
    raw.write(get('/work'))
    await raw.responses(1)
    // Written and the drain started in the same turn: the server has not read the bytes yet.
    raw.write(get('/work'))
    app.lameduck.shutdown('SIGTERM')
    await raw.closed
    const responses = parseResponses(raw.received)
    expect(responses.map((r) => [r.status, r.headers.connection])).toEqual([
      [200, 'keep-alive'],
      [200, 'close'],
    ])
    expect(raw.error).toBeNull()
    await app.lameduck.finished()
    expect(exits).toEqual([0])
  })
})

describe('a handler that asks for keep-alive itself', () => {
  const routes = {
    '/keep-alive-reply': 'reply.header',
    '/keep-alive-raw': 'raw writeHead',
  } as const
  for (const [path, how] of Object.entries(routes)) {
    it(`(${how}) in flight at the drain: its response arrives whole, says Connection: close, and the socket closes right after`, async () => {
      const { app, port, exits } = await startDrainApp({}, {}, '127.0.0.1', (instance) => {
        instance.get('/keep-alive-reply', async (_req, reply) => {
          await sleep(200)
          reply.header('connection', 'keep-alive').send({ done: true })
        })
        instance.get('/keep-alive-raw', async (_req, reply) => {
          reply.hijack()
          await sleep(200)
          reply.raw.setHeader('Connection', 'keep-alive')
          reply.raw.writeHead(200, { 'content-type': 'application/json', Connection: 'keep-alive', 'content-length': '13' })
          reply.raw.end('{"done":true}')
        })
      })
      const agent = new Agent({ keepAliveTimeout: 60_000 })
      cleanups.push(() => agent.destroy())
      const pending = request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent })
      await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
      app.lameduck.shutdown('SIGTERM')
      const response = await pending
      expect(response.statusCode).toBe(200)
      expect(response.headers.connection).toBe('close')
      expect(await response.body.json()).toEqual({ done: true })
      const answered = Date.now()
      await app.lameduck.finished()
      // Was 2.1 s: the socket stayed open until the final cut.
      expect(Date.now() - answered).toBeLessThan(500)
      expect(exits).toEqual([0])
    })
  }
})

describe('upgrades and sessions at the drain (@fastify/websocket)', () => {
  async function withWebsockets(options = {}) {
    const { default: websocket } = await import('@fastify/websocket')
    return startDrainApp({}, { websocketGoodbye: { spreadMs: 0, closeTimeoutMs: 300 }, ...options }, '127.0.0.1', async (instance) => {
      await instance.register(websocket)
      instance.get('/ws', { websocket: true }, (socket) => {
        socket.on('message', (data) => socket.send(`echo ${String(data)}`))
      })
      // Admitted before the drain, its handshake completing after the goodbye has run.
      instance.get('/ws-slow', { websocket: true, preHandler: async () => void (await sleep(200)) }, () => {})
      instance.get('/plain', async () => ({ plain: true }))
    })
  }

  const upgrade = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`

  it('an upgrade on a connection opened before the drain, sent after it, work in flight: 503 Connection: close, exit 0', async () => {
    const { app, port, exits } = await withWebsockets()
    const work = request(`http://127.0.0.1:${port}/work?ms=400`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const raw = await rawConnect(port)
    app.lameduck.shutdown('SIGTERM')
    await sleep(50)
    raw.write(upgrade('/ws'))
    await waitUntil(() => raw.received.includes('"statusCode":503'))
    const answered = Date.now()
    await raw.closed
    // A FIN right after the answer, not the final cut about 2 s later.
    expect(Date.now() - answered).toBeLessThan(500)
    expect(raw.error).toBeNull()
    expect(raw.received).toMatch(/^HTTP\/1\.1 503 /)
    expect(raw.received).toMatch(/\r\nconnection: close\r\n/i)
    expect(raw.received).toMatch(/\r\nretry-after: \d+\r\n/i)
    expect((await work).statusCode).toBe(200)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
  })

  it('a session whose upgrade was admitted before the drain and opens after the goodbye ran: it gets 1012 too, exit 0', async () => {
    const { WebSocket } = await import('ws')
    const { app, port, exits } = await withWebsockets()
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws-slow`)
    client.on('error', () => {})
    await waitUntil(() => app.lameduck.readiness().openSessions === 1)
    app.lameduck.shutdown('SIGTERM')
    const [code] = (await once(client, 'close')) as [number]
    expect(code).toBe(1012)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
  })

  it('a session already closing whose client never answers the close frame: cut after closeTimeoutMs, not ws\'s 30 s', async () => {
    const { app, port, exits } = await withWebsockets({ drainTimeoutMs: 10_000 })
    const raw = await rawConnect(port)
    // An upgrade on a route without a WebSocket handler: @fastify/websocket accepts it, then closes it.
    raw.write(upgrade('/plain'))
    await waitUntil(() => raw.received.includes('\r\n\r\n') && raw.received.length > raw.received.indexOf('\r\n\r\n') + 4)
    expect(raw.received).toMatch(/^HTTP\/1\.1 101 /)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    await raw.closed
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(exits).toEqual([0])
  })
})
