import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { deadEndpoint, type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver.ts'

/**
 * The built service, started the documented way
 * (`node --import ./dist/telemetry/register.js dist/main.js`), exporting to a
 * real OTLP/HTTP receiver in this process. Everything asserted about the
 * receiver is asserted after the child has exited: it must all have been
 * exported before exit.
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const traceId = '5b8efff798038103d269b633813fc60c'
const parentSpanId = 'eee19b7ec3c1b174'

interface Service {
  child: ChildProcess
  origin: string
  lines: Record<string, any>[]
  exited: Promise<{ code: number | null; at: number }>
}

let children: ChildProcess[] = []
let receivers: OtlpReceiver[] = []

beforeAll(() => {
  if (!existsSync(`${root}dist/telemetry/register.js`)) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
})

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children = []
  await Promise.all(receivers.map((r) => r.close()))
  receivers = []
})

async function receiver(options?: { delayMs?: number }): Promise<OtlpReceiver> {
  const r = await startOtlpReceiver(options)
  receivers.push(r)
  return r
}

async function startService(env: Record<string, string>): Promise<Service> {
  const child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', DRAIN_TIMEOUT_MS: '10000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  const lines: Record<string, any>[] = []
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, at: Date.now() }))
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line)
      lines.push(entry)
      const match = /Server listening at (http:\/\/\S+)/.exec(entry.msg ?? '')
      if (match) resolve(match[1]!)
    })
    exited.then(({ code }) => reject(new Error(`service exited with ${code} before listening`)))
  })
  return { child, origin: await listening, lines, exited }
}

const hello = (origin: string, body: object, headers: Record<string, string> = {}) =>
  request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('the exporter at start', () => {
  it('exports the startup span as soon as the service is ready, not only at exit (warms the exporter)', async () => {
    const collector = await receiver()
    const service = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_SERVICE_NAME: 'warm-up' })
    // The batch processor alone would hold the span for its 5 s schedule; the warm-up sends it at once.
    await collector.waitFor((r) => r.spans.some((s) => s.name === 'lameduck.startup'), 3_000)
    expect(service.child.exitCode).toBeNull()
    service.child.kill('SIGTERM')
    expect((await service.exited).code).toBe(0)
  })
})

describe.each([
  ['http/protobuf', 'application/x-protobuf'],
  ['http/json', 'application/json'],
])('the built service exporting over OTLP %s', (protocol, contentType) => {
  it('exports request spans, the drain after SIGTERM with work in flight, and the metrics, all before it exits', async () => {
    const collector = await receiver()
    const service = await startService({
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: 'lameduck-e2e',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    })

    const quick = await hello(service.origin, { name: 'Ada' }, { traceparent: `00-${traceId}-${parentSpanId}-01`, 'x-request-id': 'run-7' })
    expect(await quick.body.json()).toEqual({ message: 'Hello, Ada!' })
    const slow = hello(service.origin, { work_ms: 400 })
    // In flight before the signal, however loaded the machine (probes are never counted).
    while (((await (await request(`${service.origin}/ready`)).body.json()) as { active_requests: number }).active_requests === 0) await sleep(10)
    service.child.kill('SIGTERM')
    expect((await slow).statusCode).toBe(200)
    expect((await service.exited).code).toBe(0)

    // Exported before exit: nothing more can arrive now.
    expect(new Set(collector.contentTypes)).toEqual(new Set([contentType]))
    const spans = collector.spans
    const byName = (name: string) => spans.filter((s) => s.name === name)
    expect(spans.map((s) => s.name).sort()).toEqual(['POST /hello', 'POST /hello', 'lameduck.drain', 'lameduck.startup'])
    for (const span of spans) expect(span.resource).toMatchObject({ 'service.name': 'lameduck-e2e', 'deployment.environment.name': 'test' })

    const continued = byName('POST /hello').find((s) => s.traceId === traceId)!
    expect(continued).toMatchObject({ parentSpanId, kind: 2, scope: 'lameduck', status: { code: 0 } })
    expect(continued.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/hello',
      'http.response.status_code': 200,
      'url.path': '/hello',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'lameduck.lifecycle.state': 'running',
      'lameduck.requests.in_flight': 0,
      'http.request.header.x-request-id': ['run-7'],
    })

    const drain = byName('lameduck.drain')[0]!
    expect(drain.attributes).toMatchObject({
      'lameduck.drain.signal': 'SIGTERM',
      'lameduck.drain.in_flight_at_signal': 1,
      'lameduck.drain.completed': 1,
      'lameduck.drain.abandoned': 0,
      'lameduck.drain.timed_out': false,
      'lameduck.drain.outcome': 'drained',
    })
    expect(drain.attributes['lameduck.drain.delay_ms']).toBeLessThan(50) // no SHUTDOWN_DELAY_MS
    expect(drain.attributes['lameduck.drain.drain_ms']).toBeGreaterThan(0) // the 400 ms request was still running
    expect(drain.events.map((e) => e.name)).toEqual(['signal.received', 'draining.drain', 'stopped'])
    // The slow request ended inside the drain span.
    const slowSpan = byName('POST /hello').find((s) => s !== continued)!
    expect(slowSpan.endMs).toBeGreaterThanOrEqual(drain.startMs)
    expect(slowSpan.endMs).toBeLessThanOrEqual(drain.endMs)
    expect(byName('lameduck.startup')[0]!.attributes).toEqual({ 'lameduck.startup.outcome': 'ready' })

    // Metrics: the final collection, taken at close.
    const last = (name: string) => collector.metrics.filter((m) => m.name === name).at(-1)
    expect(last('lameduck.requests.in_flight')).toMatchObject({ unit: '{request}', type: 'sum', monotonic: false, points: [{ value: 0 }] })
    expect(last('lameduck.requests.rejected')).toMatchObject({ type: 'sum', monotonic: true })
    expect(last('lameduck.requests.abandoned')!.points).toEqual([{ attributes: {}, value: 0 }])
    expect(last('lameduck.lifecycle.state')!.points.find((p) => p.value === 1)!.attributes).toEqual({ 'lameduck.lifecycle.state': 'stopped' })
    const drainDuration = last('lameduck.drain.duration')!
    expect(drainDuration).toMatchObject({ unit: 's', type: 'histogram' })
    expect(drainDuration.points[0]).toMatchObject({ attributes: { 'lameduck.drain.outcome': 'drained' }, count: 1 })
    expect(drainDuration.points[0]!.sum).toBeGreaterThanOrEqual(0.2)

    // Logs: the request's lines carry its trace; the lifecycle's lines carry none.
    const completed = service.lines.find((l) => l.msg === 'request completed' && l.trace_id === traceId)
    expect(completed).toMatchObject({ span_id: continued.spanId })
    const stopped = service.lines.find((l) => l.msg === 'lifecycle: stopped')!
    expect(stopped).toMatchObject({ completed: 2, outcome: 'drained' })
    expect(stopped.trace_id).toBeUndefined()
  })
})

describe('a collector that is down or slow', () => {
  it('never slows requests, delays exit by about 2 s at most, and is logged once', async () => {
    const service = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: await deadEndpoint(), OTEL_METRIC_EXPORT_INTERVAL: '200' })
    const began = Date.now()
    for (let i = 0; i < 20; i++) await (await hello(service.origin, {})).body.text()
    const requestsMs = Date.now() - began
    await sleep(600) // a few metric exports fail meanwhile
    const signalAt = Date.now()
    service.child.kill('SIGTERM')
    const { code, at } = await service.exited

    expect(code).toBe(0)
    // Generous bounds (timing goals live in the benchmark): 20 requests on loopback, then the exit.
    expect(requestsMs).toBeLessThan(2_000)
    expect(at - signalAt).toBeLessThan(3_000)
    const failures = service.lines.filter((l) => String(l.msg).startsWith('telemetry: export'))
    expect(failures).toHaveLength(1)
    // Whichever export fails first: a span batch (connection refused) or a metric export cut by its
    // 200 ms timeout while the exporter retries.
    expect(failures[0]).toMatchObject({ level: 40, err: { message: expect.stringMatching(/ECONNREFUSED|timed out/) } })
    // The later failures were counted, and the count written once on the way out.
    const summaries = service.lines.filter((l) => l.suppressed_errors !== undefined)
    expect(summaries).toHaveLength(1)
    expect(summaries[0]!.suppressed_errors).toBeGreaterThan(0)
  })

  it('with a collector that answers after 5 s, still exits within about 2 s of stopping', async () => {
    const collector = await receiver({ delayMs: 5_000 })
    const service = await startService({ OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint })
    const began = Date.now()
    await (await hello(service.origin, {})).body.text()
    expect(Date.now() - began).toBeLessThan(1_000)
    const signalAt = Date.now()
    service.child.kill('SIGTERM')
    const { code, at } = await service.exited
    expect(code).toBe(0)
    expect(at - signalAt).toBeLessThan(3_000)
  })
})

describe('what is loaded when nothing is exported', () => {
  // Loaded first: records every module URL loaded after it, ES modules and CommonJS alike.
  const recordLoads = `import { registerHooks } from 'node:module'
globalThis.loadedUrls = []
registerHooks({ load(url, context, next) { globalThis.loadedUrls.push(url); return next(url, context) } })`
  const registerEntry = ['--import', './dist/telemetry/register.js']
  const traced = async () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: await deadEndpoint(), OTEL_METRICS_EXPORTER: 'none' })

  /** Runs `script` (an ES module) after `args` in a child; answers whether a module whose URL contains `marker` was loaded. */
  const loadedInChild = (marker: string, args: string[], env: Record<string, string>, script = '') =>
    new Promise<string>((resolve, reject) => {
      const report = `console.log(globalThis.loadedUrls.some((url) => url.includes(${JSON.stringify(marker)})))`
      const child = spawn(
        process.execPath,
        ['--import', `data:text/javascript,${encodeURIComponent(recordLoads)}`, ...args, '--input-type=module', '-e', `${script}\n${report}`],
        { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
      )
      let out = ''
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
      child.once('error', reject)
      child.once('exit', () => resolve(out.trim()))
    })

  // The image always starts through register.js; the SDK and its exporters cost about 5 MB of idle RSS (bench/findings.md).
  it('register.js loads no SDK when nothing is exported, and loads it when an endpoint is set', async () => {
    const sdk = '/@opentelemetry/sdk-trace/'
    expect(await loadedInChild(sdk, registerEntry, {})).toBe('false')
    expect(await loadedInChild(sdk, registerEntry, await traced())).toBe('true')
  })

  // With what it imports, the plugin's telemetry wiring cost about 2.5 MB of idle RSS.
  it('registers the plugin without importing its telemetry wiring, unless an SDK is registered', async () => {
    const app = `import Fastify from 'fastify'
import { lameduck } from './dist/index.js'
const app = Fastify()
await app.register(lameduck, { signals: false })
await app.ready()
await app.close()`
    const wiring = '/telemetry/instrument-lifecycle.'
    expect(await loadedInChild(wiring, [], {}, app)).toBe('false')
    expect(await loadedInChild(wiring, registerEntry, await traced(), app)).toBe('true')
  })

  // Its 51 modules, loaded with telemetry off too until the plugin read the API's shared global instead.
  it('the reference service loads no OpenTelemetry API without an SDK; with one, only the copy the SDK loaded', async () => {
    const service = `const { buildService } = await import('./dist/service/build-service.js')
const { readEnvConfig } = await import('./dist/config/env-config.js')
const app = buildService(readEnvConfig({ ...process.env, LOG_LEVEL: 'warn' }))
await app.ready()
await app.close()`
    expect(await loadedInChild('/@opentelemetry/api/', [], {}, service)).toBe('false')
    // One build of the API in the traced process: no CommonJS copy beside the ES module one the SDK uses.
    expect(await loadedInChild('/@opentelemetry/api/dist/index.mjs', registerEntry, await traced(), service)).toBe('true')
    expect(await loadedInChild('/@opentelemetry/api/dist/index.cjs', registerEntry, await traced(), service)).toBe('false')
  })

  // A cluster's primary (WORKERS above 1) runs register.js too: its replica telemetry follows the same rule.
  it("a cluster primary's replica telemetry loads no OpenTelemetry API without an SDK, and its spans with one", async () => {
    const primary = `const { createActor } = await import('xstate')
const { replicaMachine } = await import('./dist/cluster/replica-machine.js')
const { replicaTelemetry } = await import('./dist/telemetry/replica-observer.js')
const settings = { workers: 2, readyWhen: 'all', maxRestarts: 5, restartWindowMs: 60000, restartBackoffMs: 500 }
const log = { info() {}, warn() {}, error() {} }
await replicaTelemetry(createActor(replicaMachine, { input: { settings } }), log).close()`
    expect(await loadedInChild('/@opentelemetry/api/', [], {}, primary)).toBe('false')
    expect(await loadedInChild('/telemetry/replica-telemetry.', [], {}, primary)).toBe('false')
    expect(await loadedInChild('/telemetry/replica-telemetry.', registerEntry, await traced(), primary)).toBe('true')
  })
})
