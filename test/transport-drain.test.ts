import dns from 'node:dns'
import { once } from 'node:events'
import { connect as tcpConnect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { h2Connect } from './support/h2-client.ts'
import { cleanups, startDrainApp, stopDrainApps } from './support/drain-app.ts'
import { get, rawConnect, waitUntil } from './support/plugin-harness.ts'
import { makeTestCertificate, type TestCertificate } from './support/test-certificate.ts'
import { arrivalGraceMs } from '../src/transport/http1-drain.ts'

// Issue 10: every kind of connection drains, over real sockets. Each test failed before the
// transport-aware drain (src/transport).

let certificate: TestCertificate

beforeAll(() => {
  certificate = makeTestCertificate()
})

afterEach(stopDrainApps)

const start = startDrainApp

describe('HTTP/2', () => {
  it('h2c: a request\'s drain signals follow its stream: live while it runs, aborted "answered" after, and born aborted when asked for late', async () => {
    const seen: { during?: AbortSignal; late?: AbortSignal } = {}
    const { port } = await start({ http2: true }, {}, '127.0.0.1', (app) => {
      app.get('/later', async (req, reply) => {
        seen.during = req.lameduck.noticeSignal
        return { during: seen.during.aborted }
      })
      app.get('/after', (req, reply) => {
        // Work that outlives its answer and first asks once the stream has closed.
        reply.raw.once('close', () => setTimeout(() => (seen.late = req.lameduck.drainSignal), 10))
        reply.send({ ok: true })
      })
    })
    const client = await h2Connect(`http://127.0.0.1:${port}`)
    cleanups.push(() => client.session.destroy())
    expect(await client.get('/later').answer).toMatchObject({ status: 200, body: '{"during":false}' })
    expect(await client.get('/after').answer).toMatchObject({ status: 200 })
    await waitUntil(() => seen.late !== undefined)
    expect(seen.during!.aborted).toBe(true)
    expect((seen.during!.reason as Error).message).toBe('the request was answered')
    expect(seen.late!.aborted).toBe(true)
    expect((seen.late!.reason as Error).message).toBe('the request was answered')
  })

  it('h2c: GOAWAY at the drain proper, the stream in flight finishes, a stream past GOAWAY is refused, exit 0', async () => {
    const { app, port, exits } = await start({ http2: true })
    const client = await h2Connect(`http://127.0.0.1:${port}`)
    cleanups.push(() => client.session.destroy())
    const inFlight = client.get('/work?ms=300')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    // Written before the client can have seen GOAWAY: the server must not process it.
    const late = client.get('/work')
    const goaway = await client.goaway
    expect(goaway.errorCode).toBe(0)
    expect(goaway.lastStreamId).toBe(1)
    expect(await inFlight.answer).toMatchObject({ status: 200, body: '{"done":true}' })
    const refused = await late.answer
    // Refused the retryable way (REFUSED_STREAM, RFC 9113 8.7), or answered 503: never processed as work.
    expect(refused.status === 503 || refused.rstCode === 7).toBe(true)
    await app.lameduck.finished()
    await client.closed
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(1)
  })

  it('h2c: an idle session is closed at once, and new connections are refused', async () => {
    const { app, port, exits } = await start({ http2: true })
    const client = await h2Connect(`http://127.0.0.1:${port}`)
    expect((await client.get('/work').answer).status).toBe(200)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await client.closed
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(exits).toEqual([0])
    const refused = tcpConnect({ port, host: '127.0.0.1' })
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException]
    expect(error.code).toBe('ECONNREFUSED')
  })

  it('h2c: at the deadline a session with a stuck stream is destroyed and the work counted abandoned (exit 1)', async () => {
    const { app, port, exits } = await start({ http2: true }, { drainTimeoutMs: 200 })
    const client = await h2Connect(`http://127.0.0.1:${port}`)
    cleanups.push(() => client.session.destroy())
    const stuck = client.get('/hang')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    const answer = await stuck.answer
    expect(answer.status).toBeNull()
    expect(exits).toEqual([1])
    expect(app.lameduck.actor.getSnapshot().context).toMatchObject({ outcome: 'timed_out' })
    expect(app.lameduck.actor.getSnapshot().context.requests.abandoned).toBe(1)
  })

  it('h2c: a second signal forces the stop: sessions destroyed, exit 1', async () => {
    const { app, port, exits } = await start({ http2: true })
    const client = await h2Connect(`http://127.0.0.1:${port}`)
    cleanups.push(() => client.session.destroy())
    const stuck = client.get('/hang')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
    await stuck.answer
    await client.closed
    expect(exits).toEqual([1])
    expect(app.lameduck.actor.getSnapshot().context.outcome).toBe('forced')
  })

  it('HTTP/2 over TLS with allowHTTP1: the h2 session gets GOAWAY and the HTTP/1.1 response Connection: close, exit 0', async () => {
    const { app, port, exits } = await start({ http2: true, https: { allowHTTP1: true, ...certificate } })
    const origin = `https://127.0.0.1:${port}`
    const h2 = await h2Connect(origin, { ca: certificate.cert })
    cleanups.push(() => h2.session.destroy())
    const agent = new Agent({ connect: { ca: certificate.cert }, allowH2: false })
    cleanups.push(() => agent.destroy())
    const h2Work = h2.get('/work?ms=300')
    const h1Work = request(`${origin}/work?ms=300`, { dispatcher: agent })
    await waitUntil(() => app.lameduck.readiness().activeRequests === 2)
    app.lameduck.shutdown('SIGTERM')
    await h2.goaway
    const h1 = await h1Work
    expect(h1.statusCode).toBe(200)
    expect(h1.headers.connection).toBe('close')
    expect(await h1.body.json()).toEqual({ done: true })
    expect((await h2Work.answer).status).toBe(200)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(2)
  })
})

describe('TLS', () => {
  it('HTTPS: the in-flight response says Connection: close, an idle keep-alive socket closes at once, exit 0', async () => {
    const { app, port, exits } = await start({ https: certificate })
    const origin = `https://127.0.0.1:${port}`
    const idle = new Agent({ connect: { ca: certificate.cert }, keepAliveTimeout: 60_000 })
    const busy = new Agent({ connect: { ca: certificate.cert } })
    cleanups.push(() => idle.destroy(), () => busy.destroy())
    await (await request(`${origin}/work`, { dispatcher: idle })).body.text()
    const work = request(`${origin}/work?ms=300`, { dispatcher: busy })
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    const response = await work
    expect(response.headers.connection).toBe('close')
    await response.body.text()
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(exits).toEqual([0])
  })
})

describe('every listener', () => {
  it('listening on localhost (127.0.0.1 and ::1): both listeners close, both servers drain, exit 0', async () => {
    // Make `localhost` name both loopback addresses, as it does on most machines, so Fastify opens a second server.
    const lookup = dns.lookup
    const patched = ((host: string, options: unknown, callback: unknown) => {
      if (host === 'localhost' && typeof callback === 'function' && (options as { all?: boolean })?.all) {
        callback(null, [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }])
        return
      }
      return (lookup as (...args: unknown[]) => unknown)(host, options, callback)
    }) as typeof dns.lookup
    dns.lookup = patched
    cleanups.push(() => (dns.lookup = lookup))
    const { app, port, exits } = await start({}, {}, 'localhost')
    expect(app.addresses().map((a) => (typeof a === 'string' ? a : a.address)).sort()).toEqual(['127.0.0.1', '::1'])
    // On the secondary server: an idle keep-alive socket, a silent connection and work in flight.
    const v6 = `http://[::1]:${port}`
    const agent = new Agent({ keepAliveTimeout: 60_000 })
    cleanups.push(() => agent.destroy())
    await (await request(`${v6}/work`, { dispatcher: agent })).body.text()
    const silent = tcpConnect({ port, host: '::1' })
    silent.on('error', () => {})
    await once(silent, 'connect')
    const silentClosed = once(silent, 'close')
    const work = request(`${v6}/work?ms=300`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    // The secondary listener is closed too: refused, never accepted.
    for (const host of ['127.0.0.1', '::1']) {
      const probe = tcpConnect({ port, host })
      const [error] = (await once(probe, 'error')) as [NodeJS.ErrnoException]
      expect(error.code).toBe('ECONNREFUSED')
    }
    const response = await work
    expect(response.statusCode).toBe(200)
    expect(response.headers.connection).toBe('close')
    await response.body.text()
    await silentClosed
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(1_000)
    expect(exits).toEqual([0])
  })
})

describe('HTTP/1.1 sockets', () => {
  it('three pipelined requests, drain while the first runs: all three answered, then a clean close', async () => {
    const { app, port, exits } = await start()
    const raw = await rawConnect(port)
    raw.write(get('/work?ms=200') + get('/work?ms=10') + get('/work'))
    await waitUntil(() => app.lameduck.readiness().activeRequests >= 1)
    await sleep(30)
    app.lameduck.shutdown('SIGTERM')
    const responses = await raw.responses(3)
    await raw.closed
    // The two answered first must not say close (Node would drop what is queued behind them). The last
    // says close if its head was not written yet; either way the socket then closes cleanly (FIN).
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200])
    expect(responses.slice(0, 2).map((r) => r.headers.connection)).toEqual(['keep-alive', 'keep-alive'])
    expect(raw.error).toBeNull()
    expect(raw.ended).toBe(true)
    await app.lameduck.finished()
    const { requests, outcome } = app.lameduck.actor.getSnapshot().context
    expect({ outcome, completed: requests.completed, aborted: requests.aborted }).toEqual({ outcome: 'drained', completed: 3, aborted: 0 })
    expect(exits).toEqual([0])
  })

  it('three slow pipelined requests, drain before any answers: the first two keep the socket, the last says close', async () => {
    const { app, port, exits } = await start()
    const raw = await rawConnect(port)
    raw.write(get('/work?ms=200') + get('/work?ms=250') + get('/work?ms=300'))
    await waitUntil(() => app.lameduck.readiness().activeRequests === 3)
    app.lameduck.shutdown('SIGTERM')
    const responses = await raw.responses(3)
    await raw.closed
    expect(responses.map((r) => [r.status, r.headers.connection])).toEqual([
      [200, 'keep-alive'],
      [200, 'keep-alive'],
      [200, 'close'],
    ])
    expect(raw.error).toBeNull()
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(3)
  })

  it('a response streaming when the drain began, the next request written as it ends: 503 or a FIN, never a reset', async () => {
    // Written with the last chunk still arriving (the request crosses the end of the response on the
    // wire), or the moment the chunked terminator arrives.
    for (const moment of ['chunk 5', '0\r\n\r\n', 'chunk 5', '0\r\n\r\n']) {
      const { app, port } = await start()
      const raw = await rawConnect(port)
      raw.write(get('/chunks'))
      await waitUntil(() => raw.received.includes('chunk 1'))
      app.lameduck.shutdown('SIGTERM')
      await waitUntil(() => raw.received.includes(moment) || raw.ended || raw.error !== null)
      raw.socket.write(get('/work'))
      await raw.closed
      expect(raw.error, `written at ${JSON.stringify(moment)}`).toBeNull()
      const after = raw.received.slice(raw.received.indexOf('0\r\n\r\n') + 5)
      if (after.length > 0) expect(after).toMatch(/^HTTP\/1\.1 503 [\s\S]*connection: close/i)
      await app.lameduck.finished()
      await app.close().catch(() => {})
    }
  })

  // The balancer routed it before it stopped routing (Cerebrium's order): the connection was open, its request
  // still on the wire. Served while the drain runs, with Connection: close; not refused as new work.
  it('a connection accepted just before the drain, its first request a moment later, while work is in flight: served 200 Connection: close', async () => {
    const { app, port, exits } = await start()
    const slow = request(`http://127.0.0.1:${port}/work?ms=600`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const raw = await rawConnect(port)
    // Accepted: the server has seen the connection before the drain begins.
    await sleep(30)
    app.lameduck.shutdown('SIGTERM')
    await sleep(50)
    raw.write(get('/work'))
    const [response] = await raw.responses(1)
    await raw.closed
    expect(response).toMatchObject({ status: 200, headers: { connection: 'close' } })
    expect(JSON.parse(response!.body)).toEqual({ done: true })
    expect(raw.error).toBeNull()
    // Once only: a second connection's grace is its own, and this one is closed.
    expect((await slow).statusCode).toBe(200)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.rejected.draining).toBe(0)
  })

  // Issue 18: was 503 (the drain had ended at once, nothing being in flight); the drain now waits for it.
  it('a connection accepted just before the drain, its first request a moment later, nothing in flight: the drain waits for it, served 200 Connection: close', async () => {
    const { app, port, exits } = await start()
    const raw = await rawConnect(port)
    app.lameduck.shutdown('SIGTERM')
    await sleep(30)
    expect(app.lameduck.actor.getSnapshot().value).toEqual({ draining: 'drain' })
    raw.write(get('/work'))
    const [response] = await raw.responses(1)
    await raw.closed
    expect(response).toMatchObject({ status: 200, headers: { connection: 'close' }, body: '{"done":true}' })
    expect(raw.error).toBeNull()
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.completed).toBe(1)
  })

  it('a connection that sent nothing by the end of its grace: closed with a FIN, the drain ends, exit 0', async () => {
    const { app, port, exits } = await start()
    const raw = await rawConnect(port)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await raw.closed
    await app.lameduck.finished()
    expect(raw.error).toBeNull()
    expect(raw.received).toBe('')
    expect(Date.now() - started).toBeGreaterThanOrEqual(arrivalGraceMs - 20)
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(exits).toEqual([0])
  })

  it('a slow body during the drain still gets the server\'s own requestTimeout (408), not the drain deadline', async () => {
    const { app, port, exits } = await start(
      // Node enforces requestTimeout only with headersTimeout at or below it (the service's limits are so).
      { requestTimeout: 400, http: { headersTimeout: 300, connectionsCheckingInterval: 50 } },
      { drainTimeoutMs: 20_000 },
    )
    const raw = await rawConnect(port)
    raw.write('POST /upload HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await raw.closed
    expect(raw.received).toMatch(/^HTTP\/1\.1 408 /)
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.requests.aborted).toBe(1)
  })
})

describe('upgraded connections (@fastify/websocket)', () => {
  it('an open WebSocket is a session, not a request: it gets 1012 "draining", closes cleanly, and the drain ends (exit 0)', async () => {
    const { default: websocket } = await import('@fastify/websocket')
    const { WebSocket } = await import('ws')
    const { app, port, exits } = await start({}, {}, '127.0.0.1', async (instance) => {
      await instance.register(websocket)
      instance.get('/ws', { websocket: true }, (socket) => {
        socket.on('message', (data) => socket.send(`echo ${String(data)}`))
      })
    })
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`)
    await once(client, 'open')
    client.send('hi')
    await once(client, 'message')
    const ready = await request(`http://127.0.0.1:${port}/ready`)
    expect(await ready.body.json()).toMatchObject({ status: 'ready', active_requests: 0, open_sessions: 1 })
    const closed = once(client, 'close') as Promise<[number, Buffer]>
    const started = Date.now()
    app.lameduck.shutdown('SIGTERM')
    const [code, reason] = await closed
    expect(code).toBe(1012)
    expect(String(reason)).toBe('draining')
    await app.lameduck.finished()
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.sessions.completed).toBe(1)
  })

  it('twenty sessions: close frames spread over spreadMs; one that never answers its close frame is cut after closeTimeoutMs', async () => {
    const { default: websocket } = await import('@fastify/websocket')
    const { WebSocket } = await import('ws')
    const { app, port, exits } = await start({}, { websocketGoodbye: { spreadMs: 500, closeTimeoutMs: 300 } }, '127.0.0.1', async (instance) => {
      await instance.register(websocket)
      instance.get('/ws', { websocket: true }, () => {})
    })
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
        await once(ws, 'open')
        return ws
      }),
    )
    // A client that completes the upgrade, then ignores every frame.
    const mute = await rawConnect(port)
    mute.write('GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    await waitUntil(() => mute.received.startsWith('HTTP/1.1 101'))
    await waitUntil(() => app.lameduck.readiness().openSessions === 21)
    const started = Date.now()
    const closes = clients.map((ws) => (once(ws, 'close') as Promise<[number]>).then(([code]) => ({ code, at: Date.now() - started })))
    app.lameduck.shutdown('SIGTERM')
    const seen = await Promise.all(closes)
    expect(new Set(seen.map((c) => c.code))).toEqual(new Set([1012]))
    const times = seen.map((c) => c.at).sort((a, b) => a - b)
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(250)
    await mute.closed
    await app.lameduck.finished()
    // Its close frame went out within the 500 ms spread; cut 300 ms later.
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.sessions.completed).toBe(21)
  })
})
