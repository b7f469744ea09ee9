import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import { Client, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { lifecycleLiveView, type LiveViewOptions } from '../src/debug/live-view-plugin.ts'
import { lameduck } from '../src/http/lameduck-plugin.ts'

const apps: FastifyInstance[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  for (const app of apps.splice(0)) await app.close().catch(() => {})
})

/** lameduck and the live view on a real loopback socket, with one route to make the counts move. */
async function liveView(options: LiveViewOptions = {}) {
  const warnings: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void warnings.push(line) } } })
  apps.push(app)
  await app.register(lameduck, { maxConcurrency: 1, signals: false, exit: false })
  await app.register(lifecycleLiveView, options)
  app.get('/tick', async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  return { app, port, warnings }
}

async function openStream(port: number) {
  const response = await request(`http://127.0.0.1:${port}/debug/lifecycle/events`)
  return response
}

describe('the event stream under load', () => {
  it('answers 503 JSON past maxEventStreams, and serves again once a stream has closed', async () => {
    const { port } = await liveView({ maxEventStreams: 2 })
    const first = await openStream(port)
    const second = await openStream(port)
    expect([first.statusCode, second.statusCode]).toEqual([200, 200])

    const third = await openStream(port)
    expect(third.statusCode).toBe(503)
    expect(third.headers['content-type']).toMatch(/^application\/json/)
    expect(third.headers['retry-after']).toBe('5')
    expect(await third.body.json()).toEqual({
      statusCode: 503,
      error: 'Service Unavailable',
      message: 'the live view already serves 2 event streams, its limit (maxEventStreams)',
    })

    first.body.destroy()
    // The server hears the close a moment later; until then the slot is still taken.
    let again = await openStream(port)
    for (let tries = 0; again.statusCode === 503 && tries < 100; tries++) {
      await again.body.dump()
      await new Promise((resolve) => setTimeout(resolve, 20))
      again = await openStream(port)
    }
    expect(again.statusCode).toBe(200)
    again.body.destroy()
    second.body.destroy()
  })

  it('caps at 16 streams when not told otherwise', async () => {
    const { port } = await liveView()
    const streams = await Promise.all(Array.from({ length: 16 }, () => openStream(port)))
    expect(streams.map((s) => s.statusCode)).toEqual(Array(16).fill(200))
    const past = await openStream(port)
    expect(past.statusCode).toBe(503)
    await past.body.dump()
    for (const stream of streams) stream.body.destroy()
  })

  it.each([0, -1, 1.5, 10_001, Number.NaN, '4'])('refuses maxEventStreams = %j naming the option and the value', async (value) => {
    const app = Fastify({ logger: false })
    apps.push(app)
    await app.register(lameduck, { signals: false, exit: false })
    app.register(lifecycleLiveView, { maxEventStreams: value as number })
    await expect(app.ready()).rejects.toThrow(/lameduck option "maxEventStreams" must be an integer from 1 to 10000; received /)
  })

  it('drops a client that never reads instead of buffering frames for it without bound', async () => {
    // A Unix socket: the kernel holds about 200 KB for a client that does not read, where loopback TCP
    // holds about 4 MB (measured here). The server's side is the same either way: once the kernel is
    // full, every frame not taken stays in the server's memory. A token, as a Unix socket has no address.
    const dir = mkdtempSync(join(tmpdir(), 'lameduck-live-view-'))
    const path = join(dir, 'service.sock')
    const token = 'a-live-view-token-0123456789'
    const warnings: string[] = []
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => void warnings.push(line) } } })
    apps.push(app)
    await app.register(lameduck, { maxConcurrency: 1, signals: false, exit: false })
    await app.register(lifecycleLiveView, { token, sampleMs: 1, heartbeatMs: 200 })
    app.get('/tick', async () => ({ ok: true }))
    const serverSockets: Socket[] = []
    app.server.on('connection', (socket: Socket) => serverSockets.push(socket))
    await app.listen({ path })

    // A raw client that asks for the stream and then never reads a byte.
    const client = connect({ path })
    sockets.push(client)
    client.pause()
    await once(client, 'connect')
    client.write(`GET /debug/lifecycle/events HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer ${token}\r\n\r\n`)
    const deadline = performance.now() + 2_000
    while (serverSockets.length === 0 && performance.now() < deadline) await sleep(5)
    const serverSide = serverSockets[0]!

    // Requests make the counts move, so the 1 ms sampler sends a new frame (about 700 bytes) every
    // millisecond: the kernel's share is full within a second.
    const driver = new Client('http://localhost', { socketPath: path })
    let mostBuffered = 0
    let requests = 0
    try {
      const until = performance.now() + 15_000
      while (!serverSide.destroyed && performance.now() < until) {
        const response = await driver.request({ path: '/tick', method: 'GET' })
        await response.body.dump()
        requests++
        mostBuffered = Math.max(mostBuffered, serverSide.writableLength)
      }
    } finally {
      await driver.close()
      rmSync(dir, { recursive: true, force: true })
    }
    // Without backpressure the server buffers every frame after the kernel's share (megabytes in 15 s).
    // With it, at most the socket's high-water mark (where `write` starts answering false) and a frame.
    const bound = serverSide.writableHighWaterMark + 16 * 1024
    expect(mostBuffered, `${requests} requests, ${serverSide.bytesWritten} bytes written`).toBeLessThan(bound)
    expect(serverSide.destroyed).toBe(true)
    expect(warnings.join('')).toContain('live view: dropped an event stream whose client stopped reading')
  }, 30_000)
})
