import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fastifySSE } from '@fastify/sse'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import type { LameduckOptions } from '../src/http/plugin-options.ts'
import { sendEvents } from '../src/sse/event-stream.ts'
import { sseEvents } from '../src/sse/fastify-sse.ts'
import type { StreamHandover } from '../src/sse/handover.ts'
import type { EventStreamStart } from '../src/sse/event-stream.ts'
import { h2Connect } from './support/h2-client.ts'
import { waitUntil } from './support/plugin-harness.ts'

// lameduck's event-stream API (issue 21) in-process, over real sockets: the format, resuming, bad input,
// the three hand-over policies for plain handlers and @fastify/sse, GET and POST, HTTP/1.1 and HTTP/2.

interface Event {
  id?: string
  event?: string
  data: string
  retry?: string
}

/** The events of an SSE body, as a client reads them. */
function parseEvents(text: string): Event[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const event: Record<string, string> = {}
      const data: string[] = []
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':')
        const name = line.slice(0, colon)
        const value = line.slice(colon + 2)
        if (name === 'data') data.push(value)
        else if (name !== '') event[name] = value
      }
      return { ...event, data: data.join('\n') } as Event
    })
}

/** Tokens every `ms`, from the resume point on, until the signal or `count`. */
async function* ticking({ lastEventId, signal }: EventStreamStart, ms: number, count = Number.POSITIVE_INFINITY) {
  for (let index = lastEventId + 1; index <= count; index++) {
    if (index > lastEventId + 1) await sleep(ms, undefined, { signal }).catch(() => {})
    if (signal.aborted) return
    yield { event: 'token', data: { index } }
  }
  yield { id: null, event: 'done', data: { count } }
}

let apps: FastifyInstance[] = []
afterEach(async () => {
  for (const app of apps) {
    // fastify.close() waits for open responses before lameduck hears of it: a failed test's stream is cut first.
    app.server.closeAllConnections?.()
    if (app.lameduck?.actor.getSnapshot().status === 'active') await app.close()
    await app.lameduck?.finished().catch(() => {})
  }
  apps = []
})

async function start(options: LameduckOptions = {}, routes: (app: FastifyInstance) => void = () => {}, server: FastifyServerOptions = {}) {
  const app = Fastify({ logger: false, ...server } as FastifyServerOptions) as unknown as FastifyInstance
  apps.push(app)
  await app.register(lameduck, { signals: false, exit: () => {}, drainTimeoutMs: 3_000, drainNoticeMs: 2_000, maxConcurrency: 16, ...options })
  await app.register(fastifySSE, { heartbeatInterval: 0 })
  // Plain handlers: the policy from the query, else the route's or the plugin's.
  app.get<{ Querystring: { policy?: StreamHandover; count?: string } }>('/events', async (request, reply) =>
    sendEvents(reply, (start) => ticking(start, 20, Number(request.query.count ?? Number.POSITIVE_INFINITY)), request.query.policy ? { handover: request.query.policy } : {}),
  )
  app.post<{ Body: { count: number } }>('/events', async (request, reply) => sendEvents(reply, (start) => ticking(start, 20, request.body.count)))
  app.get('/events/route-at-drain', { config: { streamHandover: 'at-drain' } }, async (_request, reply) => sendEvents(reply, (start) => ticking(start, 20)))
  // @fastify/sse, with the API's hand-over in one line.
  app.get<{ Querystring: { policy?: StreamHandover; count?: string } }>('/sse', { sse: true }, async (request, reply) =>
    reply.sse.send(sseEvents(reply, (start) => ticking(start, 20, Number(request.query.count ?? Number.POSITIVE_INFINITY)), request.query.policy ? { handover: request.query.policy } : {})),
  )
  app.post<{ Body: { count: number } }>('/sse', { sse: 'manual' }, async (request, reply) => reply.sse.send(sseEvents(reply, (start) => ticking(start, 20, request.body.count))))
  routes(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  await waitUntil(() => app.lameduck.readiness().ready)
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  return { app, origin }
}

/** Reads a stream to its end; `at` is when each event arrived, from `t0`. */
async function read(url: string, init: Parameters<typeof request>[1] = {}, t0 = performance.now()) {
  const response = await request(url, { headers: { accept: 'text/event-stream' }, ...init })
  let text = ''
  const arrivals: { event: string; at: number }[] = []
  for await (const chunk of response.body) {
    text += String(chunk)
    for (const event of parseEvents(String(chunk))) arrivals.push({ event: event.event ?? 'message', at: performance.now() - t0 })
  }
  return { status: response.statusCode, headers: response.headers, text, events: parseEvents(text), arrivals }
}

const tokenIds = (events: Event[]) => events.filter((e) => e.event === 'token').map((e) => Number(e.id))
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k)

describe('sendEvents: the format', () => {
  it('sets the headers, stamps each event with its number, writes whole events and ends the response', async () => {
    const { origin } = await start({}, (app) => {
      app.get('/mixed', async (_request, reply) =>
        sendEvents(reply, function* () {
          yield 'plain'
          yield { event: 'two lines', data: 'a\nb' }
          // Several at once: numbered as if yielded one by one.
          yield [{ data: { json: true } }, 'four']
          yield { id: null, event: 'end', data: '' }
        }),
      )
    })
    const response = await request(`${origin}/mixed`)
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toBe('text/event-stream')
    expect(response.headers['cache-control']).toBe('no-store')
    expect(await response.body.text()).toBe(
      'id: 1\ndata: plain\n\n' + 'id: 2\nevent: two lines\ndata: a\ndata: b\n\n' + 'id: 3\ndata: {"json":true}\n\n' + 'id: 4\ndata: four\n\n' + 'event: end\ndata: \n\n',
    )
  })

  it("strings take the stream's event name; a string's lines are data: lines wherever it is in a batch (LF, CR, CRLF)", async () => {
    const { origin } = await start({}, (app) => {
      app.get('/named', async (_request, reply) =>
        sendEvents(
          reply,
          function* () {
            yield ['a', 'b\nid: 99', 'c']
            yield 'd\r\ne'
            yield { data: 'f' }
            yield { event: 'other', data: 1 }
            yield ['x\ry', '', 'end\n']
          },
          { event: 'token' },
        ),
      )
    })
    const response = await request(`${origin}/named`)
    expect(await response.body.text()).toBe(
      'id: 1\nevent: token\ndata: a\n\n' +
        'id: 2\nevent: token\ndata: b\ndata: id: 99\n\n' +
        'id: 3\nevent: token\ndata: c\n\n' +
        'id: 4\nevent: token\ndata: d\ndata: e\n\n' +
        'id: 5\nevent: token\ndata: f\n\n' +
        'id: 6\nevent: other\ndata: 1\n\n' +
        'id: 7\nevent: token\ndata: x\ndata: y\n\n' +
        'id: 8\nevent: token\ndata: \n\n' +
        'id: 9\nevent: token\ndata: end\ndata: \n\n',
    )
  })

  it("@fastify/sse: strings take the stream's event name too", async () => {
    const { origin } = await start({}, (app) => {
      app.get('/sse-named', { sse: true }, async (_request, reply) =>
        reply.sse.send(sseEvents(reply, () => ['a', { data: 'b' }, { event: 'other', data: 'c' }, { id: null, data: 'd' }], { event: 'token' })),
      )
    })
    const { events } = await read(`${origin}/sse-named`)
    expect(events).toEqual([
      { id: '1', event: 'token', data: '"a"' },
      { id: '2', event: 'token', data: '"b"' },
      { id: '3', event: 'other', data: '"c"' },
      { event: 'token', data: '"d"' },
    ])
  })

  it('a stream event name with a line break is refused before the producer runs', async () => {
    let produced = false
    const app = Fastify()
    app.get('/bad-name', async (_request, reply) =>
      sendEvents(
        reply,
        () => {
          produced = true
          return []
        },
        { event: 'token\nid: 7' },
      ),
    )
    const response = await app.inject('/bad-name')
    expect(response.statusCode).toBe(500)
    expect(produced).toBe(false)
    await app.close()
  })

  it('resumes after Last-Event-ID: the producer starts there and the numbering goes on', async () => {
    const { origin } = await start()
    const { events } = await read(`${origin}/events?count=8`, { headers: { 'last-event-id': '5' } })
    expect(tokenIds(events)).toEqual([6, 7, 8])
    expect(events.filter((e) => e.event === 'token').map((e) => JSON.parse(e.data).index)).toEqual([6, 7, 8])
    expect(events.at(-1)).toEqual({ event: 'done', data: '{"count":8}' })
  })

  it.each(['abc', '1.5', '1e3', '5 4', '05', '-1', '0x10', '99999999999999999999', 'tok-3'])(
    'answers Last-Event-ID %j with a 400 JSON naming the header and the value, before the producer runs',
    async (value) => {
      let produced = 0
      const { origin } = await start({}, (app) => {
        app.get('/counted', async (_request, reply) =>
          sendEvents(reply, () => {
            produced++
            return ['x']
          }),
        )
      })
      for (const path of ['/counted', '/sse']) {
        const response = await request(`${origin}${path}`, { headers: { 'last-event-id': value, accept: 'text/event-stream' } })
        expect(response.statusCode).toBe(400)
        expect(response.headers['content-type']).toMatch(/^application\/json/)
        expect(await response.body.json()).toEqual({
          statusCode: 400,
          error: 'Bad Request',
          code: 'LAMEDUCK_INVALID_LAST_EVENT_ID',
          message: `headers.last-event-id must be an integer from 0 to 9007199254740991 (the id of an event this stream sent); received ${JSON.stringify(value)}`,
        })
      }
      expect(produced).toBe(0)
    },
  )

  it('counts the stream in open_streams while it is open, plain and through @fastify/sse', async () => {
    const { app, origin } = await start()
    const controller = new AbortController()
    let seen = ''
    for (const path of ['/events', '/sse']) {
      const response = await request(`${origin}${path}`, { signal: controller.signal, headers: { accept: 'text/event-stream' } })
      response.body.on('data', (chunk) => (seen += String(chunk))).on('error', () => {})
    }
    await waitUntil(() => seen.split('id: 2\n').length === 3)
    const ready = await request(`${origin}/ready`).then((r) => r.body.json() as Promise<{ open_streams: number; active_requests: number }>)
    expect(ready).toMatchObject({ open_streams: 2, active_requests: 2 })
    controller.abort()
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  })

  it('stops when the client leaves: the producer is closed, its signal aborted', async () => {
    let closed = false
    let signalAtClose: AbortSignal | null = null
    const { app, origin } = await start({}, (app) => {
      app.get('/watched', async (_request, reply) =>
        sendEvents(reply, async function* (start) {
          try {
            yield* ticking(start, 20)
          } finally {
            closed = true
            signalAtClose = start.signal
          }
        }),
      )
    })
    const controller = new AbortController()
    const response = await request(`${origin}/watched`, { signal: controller.signal })
    for await (const chunk of response.body) if (String(chunk).includes('id: 3\n')) break
    controller.abort()
    await waitUntil(() => closed)
    expect(signalAtClose!.aborted).toBe(true)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  })
})

describe('the hand-over policies, plain and @fastify/sse, GET and POST', () => {
  // The drain begins at shutdown() (no shutdown delay); the notice 1500 ms into the 3500 ms drain.
  const timings = { drainTimeoutMs: 3_500, drainNoticeMs: 2_000 }

  const streams = (origin: string) => ({
    'plain GET at-notice': read(`${origin}/events?policy=at-notice&count=1000`, {}, 0),
    'plain GET at-drain': read(`${origin}/events?policy=at-drain&count=1000`, {}, 0),
    'plain GET finish': read(`${origin}/events?policy=finish&count=60`, {}, 0),
    'plain GET route config at-drain': read(`${origin}/events/route-at-drain`, {}, 0),
    'plain POST (plugin default)': read(`${origin}/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"count":1000}' }, 0),
    '@fastify/sse GET at-notice': read(`${origin}/sse?policy=at-notice&count=1000`, {}, 0),
    '@fastify/sse GET at-drain': read(`${origin}/sse?policy=at-drain&count=1000`, {}, 0),
    '@fastify/sse GET finish': read(`${origin}/sse?policy=finish&count=60`, {}, 0),
    '@fastify/sse POST (plugin default)': read(`${origin}/sse`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: '{"count":1000}' }, 0),
  })

  for (const pluginDefault of ['at-notice', 'at-drain'] as const) {
    it(`streamHandover '${pluginDefault}': each stream hands over at its moment with event: reconnect and a clean end, or finishes; exit 0`, async () => {
      const exits: number[] = []
      const { app, origin } = await start({ ...timings, streamHandover: pluginDefault, exit: (code) => void exits.push(code) })
      // Arrival times from the same origin as performance.now().
      const reading = streams(origin)
      await waitUntil(() => app.lameduck.readiness().activeRequests === 9)
      await sleep(200)
      const shutdownAt = performance.now()
      app.lameduck.shutdown()
      const results = Object.fromEntries(await Promise.all(Object.entries(reading).map(async ([name, r]) => [name, await r] as const)))
      await app.lameduck.finished()
      expect(exits).toEqual([0])

      const expected: Record<string, StreamHandover> = {
        'plain GET at-notice': 'at-notice',
        'plain GET at-drain': 'at-drain',
        'plain GET finish': 'finish',
        'plain GET route config at-drain': 'at-drain',
        'plain POST (plugin default)': pluginDefault,
        '@fastify/sse GET at-notice': 'at-notice',
        '@fastify/sse GET at-drain': 'at-drain',
        '@fastify/sse GET finish': 'finish',
        '@fastify/sse POST (plugin default)': pluginDefault,
      }
      for (const [name, policy] of Object.entries(expected)) {
        const { status, events, arrivals } = results[name]!
        expect(status, name).toBe(200)
        const ids = tokenIds(events)
        // Every event from 1, once, in order.
        expect(ids, name).toEqual(range(1, ids.length))
        const last = events.at(-1)!
        if (policy === 'finish') {
          expect(last, name).toEqual({ event: 'done', data: '{"count":60}' })
          expect(ids.length, name).toBe(60)
          continue
        }
        expect(last.event, name).toBe('reconnect')
        const retry = Number(last.retry)
        expect(retry, name).toBeGreaterThanOrEqual(1_000)
        expect(retry, name).toBeLessThan(2_000)
        expect(JSON.parse(last.data), name).toEqual({ last_event_id: ids.at(-1), retry_ms: retry })
        const at = arrivals.at(-1)!.at - shutdownAt
        // Bounds with room for a loaded machine: at-drain well before the notice, at-notice well before the deadline.
        if (policy === 'at-drain') expect(at, name).toBeLessThan(1_000)
        else {
          expect(at, name).toBeGreaterThanOrEqual(1_400)
          expect(at, name).toBeLessThan(3_000)
        }
      }
    }, 20_000)
  }

  it('hands over at the moment itself, not at the next event: a producer waiting on a slow model', async () => {
    const { app, origin } = await start({ ...timings, streamHandover: 'at-drain' }, (app) => {
      app.get('/slow', async (_request, reply) =>
        sendEvents(reply, async function* ({ signal }) {
          yield 'first'
          // The next token takes a minute; the signal ends the wait.
          await sleep(60_000, undefined, { signal }).catch(() => {})
        }),
      )
      app.get('/slow-sse', { sse: true }, async (_request, reply) =>
        reply.sse.send(
          sseEvents(reply, async function* () {
            yield ['first']
            // Not even listening to the signal.
            await sleep(1_500)
          }),
        ),
      )
    })
    const t0 = performance.now()
    const reading = [read(`${origin}/slow`, {}, t0), read(`${origin}/slow-sse`, {}, t0)]
    await waitUntil(() => app.lameduck.readiness().activeRequests === 2)
    await sleep(100)
    const shutdownAt = performance.now() - t0
    app.lameduck.shutdown()
    for (const { events, arrivals } of await Promise.all(reading)) {
      expect(events.map((e) => e.event ?? 'message')).toEqual(['message', 'reconnect'])
      expect(events[0]!.id).toBe('1')
      expect(JSON.parse(events[1]!.data).last_event_id).toBe(1)
      expect(arrivals.at(-1)!.at - shutdownAt).toBeLessThan(500)
    }
  })

  it('a custom reconnect event and window from the plugin, and per stream', async () => {
    const { app, origin } = await start({ ...timings, streamHandover: 'at-drain', streamReconnect: { event: 'moved', retryMs: 50, spreadMs: 10 } }, (app) => {
      app.get('/own', async (_request, reply) => sendEvents(reply, (start) => ticking(start, 20), { reconnect: { retryMs: 7_000, spreadMs: 0 } }))
    })
    const reading = [read(`${origin}/events`), read(`${origin}/own`)]
    await waitUntil(() => app.lameduck.readiness().activeRequests === 2)
    app.lameduck.shutdown()
    const [plugin, own] = await Promise.all(reading)
    expect(plugin!.events.at(-1)!.event).toBe('moved')
    expect(Number(plugin!.events.at(-1)!.retry)).toBeGreaterThanOrEqual(50)
    expect(Number(plugin!.events.at(-1)!.retry)).toBeLessThan(60)
    expect(own!.events.at(-1)).toMatchObject({ event: 'moved', retry: '7000' })
  })
})

describe('over HTTP/2 (h2c), plain and @fastify/sse', () => {
  // @fastify/sse sets `Connection: keep-alive`, a header HTTP/2 forbids (RFC 9113, 8.2.2): Node's compatibility
  // layer drops it rather than failing the stream, so the plugin works over HTTP/2 as it is.
  for (const path of ['/events', '/sse']) {
    it(`${path}: streams with ids and hands over at the drain with event: reconnect and a clean end of the stream`, async () => {
      const { app, origin } = await start({ streamHandover: 'at-drain' }, () => {}, { http2: true } as FastifyServerOptions)
      const session = (await h2Connect(origin)).session
      // `Accept: text/event-stream`: a route with `{ sse: true }` streams only when asked for a stream.
      const stream = session.request({ ':path': path, ':method': 'GET', accept: 'text/event-stream' })
      const [headers] = (await once(stream, 'response')) as [Record<string, unknown>]
      let body = ''
      stream.setEncoding('utf8')
      stream.on('data', (chunk: string) => (body += chunk))
      const closed = once(stream, 'close')
      await waitUntil(() => body.includes('id: 3\n'))
      expect(app.lameduck.readiness().openStreams).toBe(1)
      app.lameduck.shutdown()
      await closed
      session.close()
      expect(headers[':status']).toBe(200)
      expect(headers['content-type']).toMatch(/^text\/event-stream/)
      expect(headers.connection).toBeUndefined()
      expect(stream.rstCode).toBe(0)
      const events = parseEvents(body)
      const ids = tokenIds(events)
      expect(ids).toEqual(range(1, ids.length))
      expect(events.at(-1)!.event).toBe('reconnect')
      expect(Number(events.at(-1)!.retry)).toBeGreaterThanOrEqual(1_000)
      expect(JSON.parse(events.at(-1)!.data).last_event_id).toBe(ids.at(-1))
    })
  }
})

describe("a route's streamHandover", () => {
  it('is checked when the route is declared: an error naming the route, the field and the value', async () => {
    const app = Fastify({ logger: false })
    apps.push(app as unknown as FastifyInstance)
    await app.register(lameduck, { signals: false, exit: () => {} })
    let thrown: unknown
    try {
      app.get('/later', { config: { streamHandover: 'later' as StreamHandover } }, async (_request, reply) => sendEvents(reply, () => ['a']))
      await app.ready()
    } catch (error) {
      thrown = error
    }
    expect(thrown).toMatchObject({
      code: 'LAMEDUCK_INVALID_OPTION',
      message: 'route GET /later: config.streamHandover must be one of at-notice, at-drain, finish; received "later"',
    })
  })

  it('a valid one is accepted', async () => {
    const { origin } = await start({}, (app) => {
      app.get('/finish', { config: { streamHandover: 'finish' } }, async (_request, reply) => sendEvents(reply, () => ['a']))
    })
    expect(await (await request(`${origin}/finish`)).body.text()).toBe('id: 1\ndata: a\n\n')
  })
})

describe('sendEvents without lameduck registered', () => {
  it('streams and stamps ids; there is no drain to hand over at', async () => {
    const app = Fastify()
    app.get('/bare', async (_request, reply) => sendEvents(reply, () => ['a', 'b']))
    const response = await app.inject('/bare')
    expect(response.body).toBe('id: 1\ndata: a\n\nid: 2\ndata: b\n\n')
    await app.close()
  })
})

describe('sendEvents writes to the response itself (issue 21: no Readable piped in)', () => {
  it('a client that stops reading pauses the producer: it is asked for nothing more, and what waits in the server is bounded; reading again resumes it', async () => {
    let produced = 0
    let closed = false
    const event = 'x'.repeat(1_000)
    let res: { writableLength: number; writableHighWaterMark: number } | null = null
    const { app, origin } = await start({}, (app) => {
      app.get('/firehose', async (_request, reply) => {
        res = reply.raw
        return sendEvents(reply, async function* () {
          try {
            // Never waits by itself: only the response's backpressure can stop it.
            for (;;) {
              produced++
              yield event
            }
          } finally {
            closed = true
          }
        })
      })
    })
    const socket = connect({ port: Number(new URL(origin).port), host: '127.0.0.1' })
    await once(socket, 'connect')
    socket.write('GET /firehose HTTP/1.1\r\nHost: test\r\n\r\n')
    // Nothing read: the kernel's buffers fill, then the response's.
    socket.pause()
    let steady = -1
    await waitUntil(() => {
      const now = produced
      const same = now === steady
      steady = now
      return same && now > 0
    }, 10_000)
    await sleep(300)
    expect(produced).toBe(steady)
    // In the server: the response's own buffer holds at most its high-water mark plus the chunk that crossed it.
    expect(res!.writableLength).toBeLessThanOrEqual(res!.writableHighWaterMark + 20 * 1_024)
    // Everything produced went to the socket or its buffers: a few MB at most on loopback, not an endless heap.
    expect(produced * event.length).toBeLessThan(64 * 1024 * 1024)
    expect(app.lameduck.readiness().openStreams).toBe(1)
    // Read again: the producer goes on.
    let received = 0
    socket.on('data', (chunk: Buffer) => (received += chunk.length))
    socket.resume()
    await waitUntil(() => produced > steady + 1_000)
    expect(received).toBeGreaterThan(0)
    socket.destroy()
    await waitUntil(() => closed)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  }, 20_000)

  it('keeps the headers the route set with reply.header() and its status from reply.code()', async () => {
    const { origin } = await start({}, (app) => {
      app.get('/own-headers', async (_request, reply) => sendEvents(reply.code(201).header('x-stream', 'mine'), () => ['a']))
    })
    const response = await request(`${origin}/own-headers`)
    expect(response.statusCode).toBe(201)
    expect(response.headers['x-stream']).toBe('mine')
    expect(response.headers['content-type']).toBe('text/event-stream')
    expect(response.headers['x-accel-buffering']).toBe('no')
    expect(await response.body.text()).toBe('id: 1\ndata: a\n\n')
  })

  it('a producer that fails before its first event gets Fastify’s error handler: a 500, nothing streamed', async () => {
    const { app, origin } = await start({}, (app) => {
      app.get('/fails-first', async (_request, reply) =>
        sendEvents(reply, async function* () {
          await sleep(10)
          throw new Error('the model is down')
        }),
      )
    })
    const response = await request(`${origin}/fails-first`)
    expect(response.statusCode).toBe(500)
    expect(response.headers['content-type']).toMatch(/^application\/json/)
    expect(await response.body.json()).toMatchObject({ statusCode: 500, message: 'the model is down' })
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  })

  it('a producer that fails mid-stream: the events before it arrive whole, the response is cut (not a clean end), logged, and released', async () => {
    const logged: string[] = []
    const { app, origin } = await start(
      {},
      (app) => {
        app.get('/fails-later', async (_request, reply) =>
          sendEvents(reply, async function* () {
            yield ['a', 'b']
            await sleep(20)
            yield 'c'
            await sleep(20)
            throw new Error('the model is down')
          }),
        )
      },
      { logger: { level: 'error', stream: { write: (line: string) => void logged.push(line) } } } as FastifyServerOptions,
    )
    const response = await request(`${origin}/fails-later`)
    expect(response.statusCode).toBe(200)
    let text = ''
    await expect(
      (async () => {
        for await (const chunk of response.body) text += String(chunk)
      })(),
    ).rejects.toThrow()
    expect(text).toBe('id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n')
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
    expect(logged.join('')).toContain('the model is down')
  })
})
