import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { context, SpanKind, trace } from '@opentelemetry/api'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify'
import { request } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import type { LameduckOptions } from '../src/http/plugin-options.ts'
import { installInMemoryTelemetry, type InMemoryTelemetry } from './support/otlp-in-memory.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.ts'
import { installOtlpTracing } from './support/otlp-sdk.ts'

// Loaded by a computed name: @fastify/otel's type augmentation of Fastify's route config stays out
// of the project's type check (as in bench/apps/fastify-otel-preload.ts).
const fastifyOtelName = '@fastify/otel'
const { FastifyOtelInstrumentation } = (await import(fastifyOtelName)) as {
  FastifyOtelInstrumentation: new () => { plugin(): FastifyPluginCallback; disable(): void }
}

type Cell = 'lameduck alone' | 'HTTP instrumentation' | '@fastify/otel first' | '@fastify/otel after lameduck' | 'both'

let telemetry: InMemoryTelemetry | null = null
let otlp: { uninstall(): Promise<void> } | null = null
let receiver: OtlpReceiver | null = null
let app: FastifyInstance | null = null
// Once patched, `http` stays patched for the file (disable() then enable() does not patch again, and a
// second instance finds the module loaded already): the cells with the HTTP instrumentation run last.
let httpInstrumentation: HttpInstrumentation | null = null
afterAll(() => httpInstrumentation?.disable())

afterEach(async () => {
  if (app !== null) {
    app.lameduck.shutdown('SIGTERM')
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
  }
  app = null
  await telemetry?.uninstall()
  telemetry = null
  await otlp?.uninstall()
  otlp = null
  await receiver?.close()
  receiver = null
})

/**
 * The HTTP instrumentation traces every request Node's server sees, probes included, before any
 * Fastify plugin runs. docs/observability.md gives this setting to leave the probes out; the cells
 * with the HTTP instrumentation use it exactly as written there.
 */
const ignoreProbes = (req: IncomingMessage) => ['/health', '/ready'].includes(req.url ?? '')
const ignoreProbesSource = "new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => ['/health', '/ready'].includes(req.url ?? '') })"

/**
 * The app of every cell: a route that works `ms`, a stream that never ends on its own, a WebSocket echo.
 * `otlpEndpoint`: spans go over OTLP/HTTP to that receiver (batched, flushed by lameduck at close) instead of to
 * memory, and the app has `@fastify/websocket`.
 */
async function start(cell: Cell, options: Partial<LameduckOptions> = {}, otlpEndpoint?: string) {
  if (otlpEndpoint === undefined) telemetry = installInMemoryTelemetry({ traces: true })
  else otlp = installOtlpTracing(otlpEndpoint)
  if (cell === 'HTTP instrumentation' || cell === 'both') {
    if (httpInstrumentation === null) {
      httpInstrumentation = new HttpInstrumentation({ ignoreIncomingRequestHook: ignoreProbes })
      // The instrumentation patches `http` when it is next required; the server prototype is shared with Fastify's.
      createRequire(import.meta.url)('node:http')
    }
    // Each test registers a fresh SDK; the instrumentation keeps the tracer it was given.
    httpInstrumentation.setTracerProvider(trace.getTracerProvider())
  } else if (httpInstrumentation !== null) {
    throw new Error(`cell "${cell}" must run before the cells that patch http`)
  }
  const withFastifyOtel = cell === '@fastify/otel first' || cell === '@fastify/otel after lameduck' || cell === 'both'
  const fastifyOtel = withFastifyOtel ? new FastifyOtelInstrumentation() : null
  app = Fastify({ logger: false })
  if (fastifyOtel !== null && cell !== '@fastify/otel after lameduck') await app.register(fastifyOtel.plugin())
  await app.register(lameduck, { signals: false, exit: false, overCapacity: 'reject', ...options })
  if (fastifyOtel !== null && cell === '@fastify/otel after lameduck') await app.register(fastifyOtel.plugin())
  // Only where the test reads it: @fastify/websocket's own hooks, wrapped by @fastify/otel, add spans of their own.
  if (otlpEndpoint !== undefined) await app.register(websocket)
  app.get<{ Querystring: { ms?: string } }>('/work', async (req) => {
    await sleep(Number(req.query.ms ?? 0))
    return { done: true }
  })
  app.get('/stream', async (_req, reply) => {
    let i = 0
    const body = new Readable({ read() {} })
    const timer = setInterval(() => body.push(`data: ${i++}\n\n`), 20)
    body.on('close', () => clearInterval(timer))
    return reply.type('text/event-stream').send(body)
  })
  if (otlpEndpoint !== undefined) {
    app.get('/ws', { websocket: true }, (socket) => {
      socket.on('message', (message) => socket.send(String(message)))
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

/** Spans end after the response is written: wait until the count stops growing. */
async function settledSpans(): Promise<ReadableSpan[]> {
  let last = -1
  for (let i = 0; i < 50; i++) {
    const count = telemetry!.spans().length
    if (count === last && count > 0) break
    last = count
    await sleep(20)
  }
  return telemetry!.spans().filter((span) => !span.name.startsWith('lameduck.'))
}

const serverSpans = (spans: ReadableSpan[]) => spans.filter((span) => span.kind === SpanKind.SERVER)

/** Who made the SERVER span in each cell: proof that the other instrumentation was really on. */
const serverSpanMaker: Record<Cell, string> = {
  'lameduck alone': 'lameduck',
  'HTTP instrumentation': '@opentelemetry/instrumentation-http',
  '@fastify/otel first': '@fastify/otel',
  '@fastify/otel after lameduck': '@fastify/otel',
  both: '@opentelemetry/instrumentation-http',
}
const makers = (spans: ReadableSpan[]) => [...new Set(spans.map((span) => span.instrumentationScope.name))]

const cells: Cell[] = ['lameduck alone', '@fastify/otel first', '@fastify/otel after lameduck', 'HTTP instrumentation', 'both']

describe('one SERVER span per request, whatever else instruments the app', () => {
  it('docs/observability.md gives the HTTP instrumentation exactly the probe setting these cells use', () => {
    const doc = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8')
    expect(doc).toContain(ignoreProbesSource)
  })

  // Runs before the cells that patch http. Connections inherit the context `listen` was called in.
  it('an app that listens inside a span of its own still gets a SERVER span per request, in its own trace', async () => {
    telemetry = installInMemoryTelemetry({ traces: true })
    app = Fastify({ logger: false })
    await app.register(lameduck, { signals: false, exit: false })
    app.get('/work', async () => ({ done: true }))
    const boot = trace.getTracer('app').startSpan('boot')
    await context.with(trace.setSpan(context.active(), boot), () => app!.listen({ port: 0, host: '127.0.0.1' }))
    boot.end()
    const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    for (let i = 0; i < 2; i++) await (await request(`${origin}/work`)).body.text()
    const servers = serverSpans(await settledSpans())
    expect(servers).toHaveLength(2)
    expect(makers(servers)).toEqual(['lameduck'])
    expect(servers.some((span) => span.spanContext().traceId === boot.spanContext().traceId)).toBe(false)
  })

  for (const cell of cells) {
    it(`${cell}: three requests make three SERVER spans in three traces, each with lameduck's attributes`, async () => {
      const origin = await start(cell)
      for (let i = 0; i < 3; i++) {
        const res = await request(`${origin}/work`)
        expect(res.statusCode).toBe(200)
        await res.body.text()
      }
      const spans = await settledSpans()
      const servers = serverSpans(spans)
      expect(servers).toHaveLength(3)
      expect(makers(servers)).toEqual([serverSpanMaker[cell]])
      // Every span of a request (the HTTP one, @fastify/otel's, lameduck's) is in that request's trace.
      expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(3)
      expect(new Set(servers.map((span) => span.spanContext().traceId)).size).toBe(3)
      // lameduck's attributes are on the SERVER span, whoever made it.
      const enriched = spans.filter((span) => span.attributes['lameduck.lifecycle.state'] === 'running')
      expect(enriched).toHaveLength(3)
      expect(enriched.every((span) => span.kind === SpanKind.SERVER)).toBe(true)
      if (cell === 'HTTP instrumentation') {
        // The route reaches the HTTP instrumentation's span through its request metadata.
        expect(servers.every((span) => span.attributes['http.route'] === '/work')).toBe(true)
      }
    })

    it(`${cell}: a request lameduck turns away (503 at capacity) has one SERVER span too, with the reason`, async () => {
      const origin = await start(cell, { maxConcurrency: 1 })
      const slow = request(`${origin}/work?ms=300`)
      await sleep(100)
      const turnedAway = await request(`${origin}/work`)
      expect(turnedAway.statusCode).toBe(503)
      await turnedAway.body.text()
      await (await slow).body.text()
      const spans = await settledSpans()
      expect(serverSpans(spans)).toHaveLength(2)
      // lameduck's 503 ends the hooks before @fastify/otel's would run when it comes after lameduck: lameduck makes that span.
      const expected = cell === '@fastify/otel after lameduck' ? ['@fastify/otel', 'lameduck'] : [serverSpanMaker[cell]]
      expect(makers(serverSpans(spans)).sort()).toEqual(expected)
      expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(2)
      const rejected = spans.filter((span) => span.attributes['lameduck.reject.reason'] === 'at_capacity')
      expect(rejected).toHaveLength(1)
      expect(rejected[0]!.kind).toBe(SpanKind.SERVER)
    })

    it(`${cell}: probes make no span at all, and lameduck's hooks no span of their own`, async () => {
      const origin = await start(cell)
      for (let i = 0; i < 3; i++) {
        for (const probe of ['/ready', '/health']) await (await request(`${origin}${probe}`)).body.text()
      }
      await (await request(`${origin}/work`)).body.text()
      const spans = await settledSpans()
      // Only the /work request's spans: nothing for six probe polls.
      expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1)
      expect(spans.filter((span) => JSON.stringify(span.attributes).includes('/ready') || JSON.stringify(span.attributes).includes('/health'))).toEqual([])
      // @fastify/otel names a hook's span after its function: lameduck's are `admit`, `startRequestSpan` and `joinBeforeSend`.
      expect(spans.map((span) => span.name).filter((name) => / - (admit|startRequestSpan|joinBeforeSend)$/.test(name))).toEqual([])
    })

    it(`${cell}: a request and a stream cut at the drain deadline, and a WebSocket cut with them: each span ended ERROR and exported over OTLP before the stop ends`, async () => {
      receiver = await startOtlpReceiver()
      const origin = await start(cell, { maxConcurrency: 10, drainTimeoutMs: 300, websocketGoodbye: false }, receiver.endpoint)
      const work = request(`${origin}/work?ms=10000`).then((res) => res.body.text()).catch((error: Error) => error)
      const stream = await request(`${origin}/stream`)
      stream.body.on('error', () => {})
      stream.body.resume()
      const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws`)
      ws.on('error', () => {})
      await new Promise((resolve) => ws.once('open', resolve))
      await sleep(100)
      app!.lameduck.shutdown('SIGTERM')
      const stopped = await app!.lameduck.finished()
      app = null
      expect(stopped.context.outcome).toBe('timed_out')
      await work
      // Exported by lameduck's flush at close: nothing waits for the batch processor's own schedule (a minute here).
      const servers = () => receiver!.spans.filter((span) => span.kind === SpanKind.SERVER + 1)
      await receiver.waitFor(() => servers().length >= 3, 3_000).catch(() => {})
      const byPath = (path: string) => servers().filter((span) => spanPath(span) === path)
      for (const path of ['/work', '/stream', '/ws']) {
        expect(byPath(path), `${path}: ${JSON.stringify(servers().map(describeSpan))}`).toHaveLength(1)
        const span = byPath(path)[0]!
        expect(span.status.code, path).toBe(2) // ERROR
        expect(span.attributes['error.type'], path).toBe('abandoned')
      }
      expect(byPath('/ws')[0]!.attributes).toMatchObject({ 'http.response.status_code': 101, 'lameduck.websocket.close_code': 1006, 'lameduck.websocket.closed_by': 'server' })
      expect(byPath('/stream')[0]!.attributes['http.response.status_code']).toBe(200)
    })

    it(`${cell}: a WebSocket session is one span: 101, the close code, who closed it, its duration; an error only when it ends without a close frame`, async () => {
      receiver = await startOtlpReceiver()
      const origin = await start(cell, { maxConcurrency: 10, websocketGoodbye: { spreadMs: 0 } }, receiver.endpoint)
      const wsOrigin = origin.replace('http', 'ws')
      // Closed by the client with 1000 after 150 ms.
      const byClient = new WebSocket(`${wsOrigin}/ws`)
      await new Promise((resolve) => byClient.once('open', resolve))
      await sleep(150)
      byClient.close(1000, 'bye')
      await new Promise((resolve) => byClient.once('close', resolve))
      // Gone without a close frame: 1006, the one abnormal end here.
      const vanished = new WebSocket(`${wsOrigin}/ws`)
      await new Promise((resolve) => vanished.once('open', resolve))
      vanished.terminate()
      // Still open at the drain: lameduck's goodbye, 1012.
      const byServer = new WebSocket(`${wsOrigin}/ws`)
      const goodbye = new Promise<number>((resolve) => byServer.once('close', resolve))
      await new Promise((resolve) => byServer.once('open', resolve))
      await sleep(100)
      app!.lameduck.shutdown('SIGTERM')
      expect(await goodbye).toBe(1012)
      const stopped = await app!.lameduck.finished()
      app = null
      expect(stopped.context.outcome).toBe('drained')
      const sessions = () => receiver!.spans.filter((span) => span.kind === SpanKind.SERVER + 1 && spanPath(span) === '/ws')
      await receiver.waitFor(() => sessions().length >= 3, 3_000).catch(() => {})
      expect(sessions().map(describeSpan)).toHaveLength(3)
      const [first, gone, second] = sessions().sort((a, b) => a.startMs - b.startMs)
      expect(first!.attributes).toMatchObject({ 'http.response.status_code': 101, 'lameduck.websocket.close_code': 1000, 'lameduck.websocket.closed_by': 'client' })
      expect(second!.attributes).toMatchObject({ 'http.response.status_code': 101, 'lameduck.websocket.close_code': 1012, 'lameduck.websocket.closed_by': 'server' })
      expect(gone!.attributes).toMatchObject({ 'http.response.status_code': 101, 'lameduck.websocket.close_code': 1006, 'lameduck.websocket.closed_by': 'client', 'error.type': 'aborted' })
      expect(gone!.status.code).toBe(2)
      for (const span of [first!, second!]) {
        expect(span.status.code).not.toBe(2)
        expect(span.attributes['error.type']).toBeUndefined()
      }
      // The span lasts the session (150 ms of it at least), not the upgrade.
      expect(first!.endMs - first!.startMs).toBeGreaterThanOrEqual(140)
      // No hook span of a session is left without its request span (the parent is exported too).
      const ids = new Set(receiver.spans.map((span) => span.spanId))
      expect(receiver.spans.filter((span) => span.parentSpanId !== '' && !ids.has(span.parentSpanId)).map(describeSpan)).toEqual([])
    })
  }
})

/** The request path of a received span, whoever made it (lameduck and @fastify/otel: url.path; the HTTP instrumentation: url.path or http.target). */
function spanPath(span: ReceivedSpan): string {
  const path = span.attributes['url.path'] ?? span.attributes['http.target'] ?? span.attributes['http.route'] ?? ''
  return String(path).split('?')[0]!
}

function describeSpan(span: ReceivedSpan) {
  return { name: span.name, scope: span.scope, status: span.status.code, attributes: span.attributes }
}
