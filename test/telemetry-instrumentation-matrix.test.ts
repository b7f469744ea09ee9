import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { context, SpanKind, trace } from '@opentelemetry/api'
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import Fastify, { type FastifyInstance, type FastifyPluginCallback } from 'fastify'
import { request } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { installInMemoryTelemetry, type InMemoryTelemetry } from './support/otlp-in-memory.ts'

// Loaded by a computed name: @fastify/otel's type augmentation of Fastify's route config stays out
// of the project's type check (as in bench/apps/fastify-otel-preload.ts).
const fastifyOtelName = '@fastify/otel'
const { FastifyOtelInstrumentation } = (await import(fastifyOtelName)) as {
  FastifyOtelInstrumentation: new () => { plugin(): FastifyPluginCallback; disable(): void }
}

type Cell = 'lameduck alone' | 'HTTP instrumentation' | '@fastify/otel first' | '@fastify/otel after lameduck' | 'both'

let telemetry: InMemoryTelemetry | null = null
let app: FastifyInstance | null = null
// Once patched, `http` stays patched for the file (disable() then enable() does not patch again, and a
// second instance finds the module loaded already): the cells with the HTTP instrumentation run last.
let httpInstrumentation: HttpInstrumentation | null = null
afterAll(() => httpInstrumentation?.disable())

afterEach(async () => {
  if (app !== null) {
    app.lameduck.shutdown('SIGTERM')
    await app.lameduck.finished()
  }
  app = null
  await telemetry?.uninstall()
  telemetry = null
})

async function start(cell: Cell, options: { maxConcurrency?: number } = {}) {
  telemetry = installInMemoryTelemetry({ traces: true })
  if (cell === 'HTTP instrumentation' || cell === 'both') {
    if (httpInstrumentation === null) {
      httpInstrumentation = new HttpInstrumentation()
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
  app.get<{ Querystring: { ms?: string } }>('/work', async (req) => {
    await sleep(Number(req.query.ms ?? 0))
    return { done: true }
  })
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
  }
})
