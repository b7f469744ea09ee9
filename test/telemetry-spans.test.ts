import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { readEnvConfig, type ServiceConfig } from '../src/config/env-config.ts'
import type { LameduckOptions } from '../src/http/plugin-options.ts'
import { buildService } from '../src/service/build-service.ts'
import { traceIdsMixin } from '../src/telemetry/log-correlation.ts'
import { installInMemoryTelemetry, type InMemoryTelemetry } from './support/otlp-in-memory.ts'

// Read through the real env parser, so new settings get their defaults here too.
const baseConfig: ServiceConfig = readEnvConfig({ PORT: '0', HOST: '127.0.0.1', OVER_CAPACITY: 'admit', LOG_LEVEL: 'silent' })

let telemetry: InMemoryTelemetry | null = null
let app: FastifyInstance | null = null

/**
 * Ends a service through its lifecycle. (A bare `app.close()` before any signal
 * leaves lameduck's `finished()` promise rejecting unhandled; reported to the lead.)
 */
async function stop(): Promise<void> {
  const service = app
  if (service === null) return
  if (service.lameduck.actor.getSnapshot().status === 'active') service.lameduck.shutdown('SIGTERM')
  await service.lameduck.finished()
}

afterEach(async () => {
  await stop()
  app = null
  await telemetry?.uninstall()
  telemetry = null
})

async function start(config: Partial<ServiceConfig> = {}, overrides: Partial<LameduckOptions> = {}, routes?: (app: FastifyInstance) => void) {
  app = buildService({ ...baseConfig, ...config }, { signals: false, exit: false, ...overrides })
  routes?.(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { app, origin: `http://127.0.0.1:${port}`, port }
}

const hello = (origin: string, body: object = {}, headers: Record<string, string> = {}) =>
  request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

const spansNamed = (name: string) => telemetry!.spans().filter((s) => s.name === name)

describe('request spans', () => {
  it('gives a request one SERVER span with the stable HTTP attributes and lameduck’s, continuing the incoming traceparent', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin, port } = await start()
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736'
    const res = await hello(origin, { name: 'Ada' }, {
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
      'x-request-id': 'cerebrium-run-42',
    })
    await res.body.text()
    expect(res.statusCode).toBe(200)
    await stop()

    const [span, ...others] = spansNamed('POST /hello')
    expect(others).toHaveLength(0)
    expect(span!.kind).toBe(SpanKind.SERVER)
    expect(span!.spanContext().traceId).toBe(traceId)
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7')
    expect(span!.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/hello',
      'http.response.status_code': 200,
      'url.path': '/hello',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': port,
      'lameduck.lifecycle.state': 'running',
      'lameduck.requests.in_flight': 0,
      'http.request.header.x-request-id': ['cerebrium-run-42'],
    })
    expect(span!.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('records why a request was rejected, and the in-flight count it met', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin } = await start({ overCapacity: 'reject', maxConcurrency: 1 })
    const slow = hello(origin, { work_ms: 300 })
    await sleep(50)
    const rejected = await hello(origin)
    await rejected.body.text()
    expect(rejected.statusCode).toBe(503)
    await (await slow).body.text()
    await stop()

    const spans = spansNamed('POST /hello')
    const rejectedSpan = spans.find((s) => s.attributes['http.response.status_code'] === 503)!
    expect(rejectedSpan.attributes['lameduck.reject.reason']).toBe('at_capacity')
    expect(rejectedSpan.attributes['lameduck.requests.in_flight']).toBe(1)
    // Semconv: every 5xx is an error on a server span; the reject reason tells lameduck's deliberate ones apart.
    expect(rejectedSpan.attributes['error.type']).toBe('503')
    const served = spans.find((s) => s.attributes['http.response.status_code'] === 200)!
    expect(served.attributes['lameduck.reject.reason']).toBeUndefined()
  })

  it('records `starting` for a request that arrives before startup work is done', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin } = await start({ startupMs: 10_000 })
    const res = await hello(origin)
    await res.body.text()
    expect(res.statusCode).toBe(503)
    await stop()
    const [span] = spansNamed('POST /hello')
    expect(span!.attributes['lameduck.reject.reason']).toBe('starting')
    expect(span!.attributes['lameduck.lifecycle.state']).toBe('starting')
  })

  it('traces unknown routes without http.route, leaves probes untraced, and marks 5xx as errors', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin } = await start({}, {}, (service) => {
      service.get('/boom', async () => {
        throw new Error('kaboom')
      })
    })
    for (const path of ['/health', '/ready', '/nowhere?x=1', '/boom']) await (await request(`${origin}${path}`)).body.text()
    await stop()

    const names = telemetry.spans().map((s) => s.name).sort()
    // stop() drains an idle service: that drain has its span too.
    expect(names).toEqual(['GET', 'GET /boom', 'lameduck.drain', 'lameduck.startup'])
    const notFound = spansNamed('GET')[0]!
    expect(notFound.attributes['http.route']).toBeUndefined()
    expect(notFound.attributes['url.path']).toBe('/nowhere')
    expect(notFound.attributes['http.response.status_code']).toBe(404)
    expect(notFound.attributes['lameduck.reject.reason']).toBeUndefined()
    expect(notFound.status.code).toBe(SpanStatusCode.UNSET)
    const boom = spansNamed('GET /boom')[0]!
    expect(boom.attributes['error.type']).toBe('500')
    expect(boom.status.code).toBe(SpanStatusCode.ERROR)
  })

  it('keeps the request span active in the handler, across the body and awaits, and in its log lines', async () => {
    telemetry = installInMemoryTelemetry()
    const seen: Record<string, unknown>[] = []
    const { origin } = await start({}, {}, (service) => {
      service.post('/echo', async (req) => {
        await sleep(5)
        seen.push({ body: req.body, ids: traceIdsMixin(), active: trace.getActiveSpan()?.spanContext().spanId })
        return {}
      })
    })
    await (await request(`${origin}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).body.text()
    await stop()
    const span = spansNamed('POST /echo')[0]!
    expect(seen).toEqual([
      {
        body: { a: 1 },
        ids: { trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId, trace_flags: '01' },
        active: span.spanContext().spanId,
      },
    ])
  })

  it('adds no hook and no span when no SDK is registered, and none for requests when requestSpans is false', async () => {
    const hooksOf = (service: FastifyInstance) => service.printRoutes({ includeHooks: true, commonPrefix: false })
    await start()
    expect(hooksOf(app!)).not.toContain('startRequestSpan')
    expect(hooksOf(app!)).toContain('admit')
    await stop()

    telemetry = installInMemoryTelemetry()
    await start()
    expect(hooksOf(app!)).toContain('startRequestSpan')
    await stop()

    const { origin } = await start({}, { requestSpans: false })
    expect(hooksOf(app!)).not.toContain('startRequestSpan')
    await (await hello(origin)).body.text()
    await stop()
    expect(telemetry.spans().filter((s) => s.name === 'POST /hello')).toHaveLength(0)
  })
})

describe('lifecycle spans', () => {
  it('spans the drain from the signal to stopped, with the counts and one event per transition', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin, app: service } = await start({ shutdownDelayMs: 100 })
    const inFlight = hello(origin, { work_ms: 400 })
    // In flight for sure, however loaded the machine: not a fixed sleep.
    while (service.lameduck.readiness().activeRequests === 0) await sleep(5)
    const signalAt = Date.now()
    service.lameduck.shutdown('SIGTERM')
    expect((await inFlight).statusCode).toBe(200)
    const final = await service.lameduck.finished()
    expect(final.context.outcome).toBe('drained')

    const [drain, ...more] = spansNamed('lameduck.drain')
    expect(more).toHaveLength(0)
    expect(drain!.parentSpanContext).toBeUndefined()
    expect(drain!.attributes).toMatchObject({
      'lameduck.drain.signal': 'SIGTERM',
      'lameduck.drain.signals': ['SIGTERM'],
      'lameduck.drain.in_flight_at_signal': 1,
      'lameduck.drain.completed': 1,
      'lameduck.drain.abandoned': 0,
      'lameduck.drain.timed_out': false,
      'lameduck.drain.outcome': 'drained',
      'lameduck.drain.timeout_ms': 30_000,
    })
    expect(drain!.attributes['lameduck.drain.delay_ms']).toBeGreaterThanOrEqual(100)
    expect(drain!.attributes['lameduck.drain.delay_ms']).toBeLessThan(300)
    expect(drain!.attributes['lameduck.drain.drain_ms']).toBeGreaterThan(150)
    expect(drain!.events.map((e) => e.name)).toEqual(['signal.received', 'draining.delay', 'draining.drain', 'stopped'])
    expect(drain!.events[2]!.attributes).toMatchObject({ 'lameduck.lifecycle.state': 'draining.drain', 'lameduck.requests.in_flight': 1 })
    const startMs = drain!.startTime[0] * 1000 + drain!.startTime[1] / 1e6
    expect(Math.abs(startMs - signalAt)).toBeLessThan(20)
    expect(drain!.status.code).toBe(SpanStatusCode.UNSET)
  })

  it('marks a drain that ran out of time: timed out, abandoned counted, the cut request’s span ended as abandoned', async () => {
    telemetry = installInMemoryTelemetry()
    const { origin, app: service } = await start({ drainTimeoutMs: 150 })
    const stuck = hello(origin, { work_ms: 10_000 }).catch((error: Error) => error)
    await sleep(50)
    service.lameduck.shutdown('SIGTERM')
    await service.lameduck.finished()
    expect(await stuck).toBeInstanceOf(Error)

    const drain = spansNamed('lameduck.drain')[0]!
    expect(drain.attributes).toMatchObject({
      'lameduck.drain.outcome': 'timed_out',
      'lameduck.drain.timed_out': true,
      'lameduck.drain.abandoned': 1,
      'lameduck.drain.completed': 0,
    })
    expect(drain.status.code).toBe(SpanStatusCode.ERROR)
    const cut = spansNamed('POST /hello')[0]!
    expect(cut.attributes['error.type']).toBe('abandoned')
    expect(cut.status.code).toBe(SpanStatusCode.ERROR)
  })

  it('spans startup from the process start to ready', async () => {
    telemetry = installInMemoryTelemetry()
    const before = Date.now()
    await start({ startupMs: 100 })
    await sleep(200)
    const startup = spansNamed('lameduck.startup')[0]!
    expect(startup.attributes['lameduck.startup.outcome']).toBe('ready')
    const startMs = startup.startTime[0] * 1000 + startup.startTime[1] / 1e6
    expect(startMs).toBeCloseTo(performance.timeOrigin, -1)
    const endMs = startup.endTime[0] * 1000 + startup.endTime[1] / 1e6
    expect(endMs).toBeGreaterThanOrEqual(before + 100)
    expect(startup.events.map((e) => e.name)).toEqual(['running'])
  })

  it('log mixin: the active span’s ids inside a span, nothing outside one', () => {
    telemetry = installInMemoryTelemetry()
    expect(traceIdsMixin()).toEqual({})
    const span = trace.getTracer('t').startSpan('s')
    expect(context.with(trace.setSpan(context.active(), span), traceIdsMixin)).toMatchObject({ span_id: span.spanContext().spanId })
    span.end()
  })
})
