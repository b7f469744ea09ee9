import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { get, type Harness, rawConnect, startHarness, waitUntil } from './support/plugin-harness.ts'

// The hard cases of ../shared/notes/anchors.md, numbered as there, over real sockets.

let harness: Harness | undefined
let clients: Client[] = []

async function setup(options: Parameters<typeof startHarness>[0] = {}) {
  harness = await startHarness(options)
  return harness
}

function keepAliveClient(origin: string) {
  const client = new Client(origin, { keepAliveTimeout: 60_000, pipelining: 1 })
  clients.push(client)
  return client
}

afterEach(async () => {
  await Promise.all(clients.map((c) => c.destroy().catch(() => {})))
  clients = []
  await harness?.close()
  harness = undefined
})

describe('drain over real sockets', () => {
  it('1. closes an idle keep-alive socket at once instead of waiting out keepAliveTimeout', async () => {
    const { app, origin, exits } = await setup()
    const client = keepAliveClient(origin)
    const first = await client.request({ path: '/work', method: 'GET' })
    expect(first.headers.connection).toBe('keep-alive')
    await first.body.text()
    const disconnected = once(client, 'disconnect')
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await disconnected
    await app.lameduck.finished()
    // Fastify's keepAliveTimeout is 72 s; a drain that waited for it would be far past this bound.
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(exits).toEqual([0])
  })

  it('2. answers an in-flight keep-alive request with Connection: close and closes its socket after', async () => {
    const { app, origin } = await setup()
    const client = keepAliveClient(origin)
    await (await client.request({ path: '/work', method: 'GET' })).body.text()
    const pending = client.request({ path: '/work?ms=200', method: 'GET' })
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const disconnected = once(client, 'disconnect')
    app.lameduck.shutdown('SIGTERM')
    const response = await pending
    expect(response.statusCode).toBe(200)
    expect(response.headers.connection).toBe('close')
    expect(await response.body.json()).toEqual({ done: true })
    await disconnected
    expect((await app.lameduck.finished()).context.outcome).toBe('drained')
  })

  it('3. serves a request written on a fresh connection as the drain starts, with Connection: close (it was routed before the stop)', async () => {
    const { app, port } = await setup()
    // Work in flight elsewhere keeps the drain open while the late request arrives.
    const slow = request(`${harness!.origin}/work?ms=300`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const raw = await rawConnect(port)
    app.lameduck.shutdown('SIGTERM')
    raw.write(get('/work'))
    const [response] = await raw.responses(1)
    await raw.closed
    // The connection was accepted before the listener closed: its first request is served, and the
    // connection closed after it (transport-drain.test.ts has the case with nothing in flight: 503).
    if (response) {
      expect(response.status).toBe(200)
      expect(response.headers.connection).toBe('close')
      expect(JSON.parse(response.body)).toEqual({ done: true })
    }
    // Either a full answer or a clean close before the request: never a reset.
    expect(raw.error).toBeNull()
    expect((await slow).statusCode).toBe(200)
  })

  it('4. serves a new connection normally during the shutdown delay while /ready says 503', async () => {
    const { app, origin } = await setup({ shutdownDelayMs: 400 })
    app.lameduck.shutdown('SIGTERM')
    const ready = await request(`${origin}/ready`)
    expect(ready.statusCode).toBe(503)
    expect(await ready.body.json()).toMatchObject({ status: 'draining' })
    const work = await request(`${origin}/work`)
    expect(work.statusCode).toBe(200)
    await work.body.text()
    await app.lameduck.finished()
  })

  it('5. refuses new connections after the delay (ECONNREFUSED, never accepted and reset)', async () => {
    const { app, port } = await setup({ shutdownDelayMs: 50 })
    const slow = request(`${harness!.origin}/work?ms=400`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    await waitUntil(() => app.lameduck.actor.getSnapshot().matches({ draining: 'drain' }))
    const socket = connect({ port, host: '127.0.0.1' })
    const [error] = (await once(socket, 'error')) as [NodeJS.ErrnoException]
    expect(error.code).toBe('ECONNREFUSED')
    expect((await slow).statusCode).toBe(200)
  })

  it('6. cuts a request longer than the drain timeout at the deadline and exits 1 with the abandoned count', async () => {
    const { app, origin, exits } = await setup({ drainTimeoutMs: 200 })
    const slow = request(`${origin}/work?ms=10000`).catch((error: Error) => error)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    const final = await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(final.context.outcome).toBe('timed_out')
    expect(final.context.requests.abandoned).toBe(1)
    expect(exits).toEqual([1])
    expect(await slow).toBeInstanceOf(Error)
  })

  it('7. releases a request whose client aborts before its body arrived, exactly once', async () => {
    const { app, port } = await setup()
    const raw = await rawConnect(port)
    raw.write('POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    raw.socket.destroy()
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
    const counts = app.lameduck.actor.getSnapshot().context.requests.counts()
    expect(counts).toMatchObject({ inFlight: 0, aborted: 1, completed: 0 })
  })

  it('7. releases a request whose client aborts while the handler works, and the drain still ends', async () => {
    const { app, origin, exits } = await setup()
    const controller = new AbortController()
    const pending = request(`${origin}/work?ms=300`, { signal: controller.signal }).catch(() => 'aborted')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    controller.abort()
    expect(await pending).toBe('aborted')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.counts()).toMatchObject({ aborted: 1, inFlight: 0 })
  })

  it('8. answers a throwing handler 500 JSON without a stack trace and releases its count', async () => {
    const { app, origin } = await setup()
    const response = await request(`${origin}/throw`)
    expect(response.statusCode).toBe(500)
    expect(response.headers['content-type']).toContain('application/json')
    const body = (await response.body.json()) as Record<string, unknown>
    expect(body).toMatchObject({ statusCode: 500 })
    expect(body).not.toHaveProperty('stack')
    expect(JSON.stringify(body)).not.toMatch(/\n\s+at /)
    expect(app.lameduck.readiness().activeRequests).toBe(0)
    app.lameduck.shutdown('SIGTERM')
    expect((await app.lameduck.finished()).context.outcome).toBe('drained')
  })

  it('9. forces the stop on a second signal: exit 1 once, no double close', async () => {
    const { app, origin, exits } = await setup()
    const slow = request(`${origin}/work?ms=5000`).catch((error: Error) => error)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGINT')
    app.lameduck.shutdown('SIGTERM')
    const final = await app.lameduck.finished()
    expect(final.context).toMatchObject({ outcome: 'forced', signals: ['SIGINT', 'SIGTERM'] })
    expect(final.context.requests.abandoned).toBe(1)
    expect(await slow).toBeInstanceOf(Error)
    await sleep(50)
    expect(exits).toEqual([1])
  })

  it('10. exits 1 when an onClose hook throws', async () => {
    const exits: number[] = []
    harness = await startHarness({ exit: (code) => void exits.push(code) }, (app) =>
      app.addHook('onClose', async () => {
        throw new Error('database refused to close')
      }),
    )
    harness.app.lameduck.shutdown('SIGTERM')
    await harness.app.lameduck.finished()
    expect(exits).toEqual([1])
  })

  it('10. exits 1 when an onClose hook hangs, once closeTimeoutMs has passed', async () => {
    const exits: number[] = []
    harness = await startHarness({ closeTimeoutMs: 100, exit: (code) => void exits.push(code) }, (app) =>
      app.addHook('onClose', () => new Promise<void>(() => {})),
    )
    harness.app.lameduck.shutdown('SIGTERM')
    await harness.app.lameduck.finished()
    expect(exits).toEqual([1])
  })

  it('11. reports 503 on /ready at capacity and on the signal, while /health stays 200', async () => {
    const { app, origin } = await setup({ maxConcurrency: 1, shutdownDelayMs: 300 })
    expect((await request(`${origin}/ready`)).statusCode).toBe(200)
    const slow = request(`${origin}/work?ms=150`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const atCapacity = await request(`${origin}/ready`)
    expect(atCapacity.statusCode).toBe(503)
    expect(await atCapacity.body.json()).toEqual({ status: 'at_capacity', active_requests: 1, max_concurrency: 1, open_streams: 0, open_sessions: 0 })
    await (await slow).body.text()
    expect((await request(`${origin}/ready`)).statusCode).toBe(200)
    app.lameduck.shutdown('SIGTERM')
    expect((await request(`${origin}/ready`)).statusCode).toBe(503)
    const health = await request(`${origin}/health`)
    expect(health.statusCode).toBe(200)
    expect(await health.body.json()).toEqual({ status: 'healthy' })
    await app.lameduck.finished()
  })

  it('12. answers a request pipelined behind in-flight work after the drain begins with 503, and only the last answer closes', async () => {
    const { app, port } = await setup()
    const raw = await rawConnect(port)
    raw.write(get('/work?ms=200'))
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    raw.write(get('/work'))
    const responses = await raw.responses(2)
    await raw.closed
    // The first answer must not say close: Node would drop the answer queued behind it.
    expect(responses[0]).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } })
    expect(responses[1]).toMatchObject({ status: 503, headers: { connection: 'close' } })
    expect(raw.error).toBeNull()
    expect(app.lameduck.actor.getSnapshot().context.requests.rejected.draining).toBe(1)
  })

  it('13. does not let a connection that never sent a byte hold the drain open', async () => {
    const { app, port, exits } = await setup()
    const silent = await rawConnect(port)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    await silent.closed
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(exits).toEqual([0])
  })

  it('counts an open Server-Sent Events stream as a request and says so on /ready (open_streams) and in readiness() (openStreams)', async () => {
    const { app, port, origin } = await setup({ maxConcurrency: 2 })
    const raw = await rawConnect(port)
    raw.write(get('/stream'))
    await waitUntil(() => raw.received.includes('data: tick'))
    const ready = await request(`${origin}/ready`)
    expect(await ready.body.json()).toEqual({ status: 'ready', active_requests: 1, max_concurrency: 2, open_streams: 1, open_sessions: 0 })
    // The application's view is the same reading (issue 19: readiness() had no openStreams).
    expect(app.lameduck.readiness()).toEqual({ ready: true, status: 'ready', activeRequests: 1, maxConcurrency: 2, openStreams: 1, openSessions: 0 })
    raw.socket.destroy()
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  })

  it('14. ends a long-lived streaming response at the drain deadline', async () => {
    const { app, port, exits } = await setup({ drainTimeoutMs: 200 })
    const raw = await rawConnect(port)
    raw.write(get('/stream'))
    await waitUntil(() => raw.received.includes('data: tick'))
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    await raw.closed
    expect(exits).toEqual([1])
    expect(app.lameduck.actor.getSnapshot().context.requests.abandoned).toBe(1)
  })

  it('never counts probes as work nor rejects them at capacity (seed defect 1: /ready was always 503 at max 1)', async () => {
    const { app, origin } = await setup({ maxConcurrency: 1, overCapacity: 'reject' })
    for (let i = 0; i < 3; i++) {
      const ready = await request(`${origin}/ready`)
      expect(ready.statusCode).toBe(200)
      expect(await ready.body.json()).toEqual({ status: 'ready', active_requests: 0, max_concurrency: 1, open_streams: 0, open_sessions: 0 })
    }
    expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(0)
  })

  it('rejects over capacity with 503 JSON and Retry-After under the reject policy, keeping the connection', async () => {
    const { app, origin } = await setup({ maxConcurrency: 1, overCapacity: 'reject', retryAfterSeconds: 3 })
    const slow = request(`${origin}/work?ms=200`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const rejected = await request(`${origin}/work`)
    expect(rejected.statusCode).toBe(503)
    expect(rejected.headers['retry-after']).toBe('3')
    expect(rejected.headers.connection).toBe('keep-alive')
    expect(await rejected.body.json()).toMatchObject({ status: 'at_capacity', active_requests: 1, max_concurrency: 1 })
    expect((await slow).statusCode).toBe(200)
    expect(app.lameduck.actor.getSnapshot().context.requests.rejected.at_capacity).toBe(1)
  })

  it('serves over capacity under the admit policy, reporting it only on /ready', async () => {
    const { app, origin } = await setup({ maxConcurrency: 1 })
    const slow = request(`${origin}/work?ms=200`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const extra = await request(`${origin}/work`)
    expect(extra.statusCode).toBe(200)
    await extra.body.text()
    await (await slow).body.text()
  })

  it('answers 503 JSON, not a 500, to work arriving while draining (seed defect 2)', async () => {
    const { app, origin, port } = await setup()
    const slow = request(`${origin}/work?ms=300`)
    const raw = await rawConnect(port)
    raw.write(get('/work?ms=100'))
    await waitUntil(() => app.lameduck.readiness().activeRequests === 2)
    app.lameduck.shutdown('SIGTERM')
    raw.write(get('/work'))
    const [, response] = await raw.responses(2)
    expect(response?.status).toBe(503)
    expect(response?.headers['content-type']).toContain('application/json')
    expect(app.lameduck.actor.getSnapshot().context.requests.rejected.draining).toBe(1)
    await (await slow).body.text()
  })

  it('waits for the startup work before reporting ready, and rejects work meanwhile', async () => {
    let finishStartup!: () => void
    const exits: number[] = []
    const { default: Fastify } = await import('fastify')
    const { lameduck } = await import('../src/http/lameduck-plugin.ts')
    const app = Fastify()
    await app.register(lameduck, {
      signals: false,
      exit: (code) => void exits.push(code),
      startup: () => new Promise<void>((resolve) => (finishStartup = resolve)),
    })
    app.get('/work', async () => ({ done: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    try {
      const ready = await request(`${origin}/ready`)
      expect(ready.statusCode).toBe(503)
      expect(await ready.body.json()).toMatchObject({ status: 'starting' })
      const work = await request(`${origin}/work`)
      expect(work.statusCode).toBe(503)
      expect(await work.body.json()).toMatchObject({ status: 'starting' })
      finishStartup()
      await waitUntil(() => app.lameduck.readiness().ready)
      expect((await request(`${origin}/work`)).statusCode).toBe(200)
    } finally {
      await app.close()
    }
  })
})
