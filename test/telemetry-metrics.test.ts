import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { readEnvConfig, type ServiceConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { lameduckMetrics } from '../src/telemetry/lifecycle-metrics.ts'
import { installInMemoryTelemetry, type InMemoryTelemetry, pointValue } from './support/otlp-in-memory.ts'

// Read through the real env parser, so new settings get their defaults here too.
const baseConfig: ServiceConfig = readEnvConfig({ PORT: '0', HOST: '127.0.0.1', OVER_CAPACITY: 'reject', LOG_LEVEL: 'silent' })

let telemetry: InMemoryTelemetry | null = null
let app: FastifyInstance | null = null

afterEach(async () => {
  if (app && app.lameduck.actor.getSnapshot().status === 'active') app.lameduck.shutdown('SIGTERM')
  await app?.lameduck.finished()
  app = null
  await telemetry?.uninstall()
  telemetry = null
})

async function start(config: Partial<ServiceConfig> = {}) {
  app = buildService({ ...baseConfig, ...config }, { signals: false, exit: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

const hello = (origin: string, body: object = {}) =>
  request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

const { inFlight, rejected, abandoned, state, drainDuration } = lameduckMetrics

describe('lifecycle metrics', () => {
  it('reads in-flight, rejections by reason and the lifecycle state off the ledger when collected', async () => {
    telemetry = installInMemoryTelemetry({ metrics: true })
    const origin = await start()
    const slow = hello(origin, { work_ms: 300 })
    await sleep(50)
    await (await hello(origin)).body.text() // at capacity: rejected
    await (await request(`${origin}/ready`)).body.text() // probes are never counted

    let metrics = await telemetry.collect()
    expect(pointValue(metrics.get(inFlight.name))).toBe(1)
    expect(pointValue(metrics.get(rejected.name), { 'lameduck.reject.reason': 'at_capacity' })).toBe(1)
    expect(pointValue(metrics.get(rejected.name), { 'lameduck.reject.reason': 'draining' })).toBe(0)
    expect(pointValue(metrics.get(state.name), { 'lameduck.lifecycle.state': 'running' })).toBe(1)
    expect(pointValue(metrics.get(state.name), { 'lameduck.lifecycle.state': 'draining' })).toBe(0)

    await (await slow).body.text()
    metrics = await telemetry.collect()
    expect(pointValue(metrics.get(inFlight.name))).toBe(0)
    expect(metrics.get(inFlight.name)!.descriptor.unit).toBe('{request}')
  })

  it('exports abandoned requests and the drain’s duration in seconds in the final flush at close', async () => {
    telemetry = installInMemoryTelemetry({ metrics: true })
    const origin = await start({ drainTimeoutMs: 200 })
    const stuck = hello(origin, { work_ms: 10_000 }).catch(() => 'cut')
    // In flight before the signal, however slow the machine is today.
    while (app!.lameduck.readiness().activeRequests === 0) await sleep(10)
    app!.lameduck.shutdown('SIGTERM')
    const final = await app!.lameduck.finished()
    expect(await stuck).toBe('cut')
    expect(final.context.outcome).toBe('timed_out')

    const metrics = telemetry.flushed()!
    expect(metrics).not.toBeNull()
    expect(pointValue(metrics.get(abandoned.name))).toBe(1)
    expect(pointValue(metrics.get(state.name), { 'lameduck.lifecycle.state': 'stopped' })).toBe(1)
    const histogram = pointValue(metrics.get(drainDuration.name), { 'lameduck.drain.outcome': 'timed_out' }) as {
      count: number
      sum: number
    }
    expect(histogram.count).toBe(1)
    expect(histogram.sum).toBeGreaterThanOrEqual(0.2)
    expect(histogram.sum).toBeLessThan(2)
    expect(metrics.get(drainDuration.name)!.descriptor.unit).toBe('s')
  })

  it('stops reading a lifecycle’s ledger once its server has closed', async () => {
    telemetry = installInMemoryTelemetry({ metrics: true })
    await start()
    app!.lameduck.shutdown('SIGTERM')
    const final = await app!.lameduck.finished()
    // Were the callback still registered, the next collection would read this.
    final.context.requests.reject('draining')
    const metrics = await telemetry.collect()
    expect(pointValue(metrics.get(rejected.name), { 'lameduck.reject.reason': 'draining' })).toBe(0)
  })
})
