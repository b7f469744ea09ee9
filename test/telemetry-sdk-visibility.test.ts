import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { sdkVisibilityWarning } from '../src/telemetry/sdk-visibility.ts'
import { installInMemoryTelemetry, type InMemoryTelemetry } from './support/otlp-in-memory.ts'


let telemetry: InMemoryTelemetry | null = null
afterEach(async () => {
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT
  await telemetry?.uninstall()
  telemetry = null
})

/** Registers lameduck on a fresh app whose log lines at warn and above are collected. */
async function registerCollectingWarnings(): Promise<Record<string, unknown>[]> {
  const lines: Record<string, unknown>[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  const app = Fastify({ logger: { level: 'warn', stream } })
  await app.register(lameduck, { signals: false, exit: false })
  await app.ready()
  app.lameduck.shutdown('test')
  await app.lameduck.finished()
  return lines.filter((line) => String(line.msg).startsWith('telemetry:'))
}

describe('no SDK where one was meant to be: a warning, never silence', () => {
  it('says nothing when nothing asks for export, and nothing when an SDK is registered', () => {
    expect(sdkVisibilityWarning({})).toBeNull()
    expect(sdkVisibilityWarning({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' })).toBeNull()
    expect(sdkVisibilityWarning({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull()
    telemetry = installInMemoryTelemetry()
    expect(sdkVisibilityWarning({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull()
  })

  it('names the variables and the API version lameduck loads when OTEL_* asks for export but no SDK is registered', () => {
    const warning = sdkVisibilityWarning({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'otlp' })
    expect(warning?.fields).toEqual({ variables: ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_TRACES_EXPORTER'], lameduck_api_version: '1.10.0' })
    expect(warning?.message).toContain('no OpenTelemetry SDK is registered with @opentelemetry/api 1.10.0')
  })

  it('the plugin writes it once per process, at registration, through the app’s logger', async () => {
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'http://collector:4318'
    const first = await registerCollectingWarnings()
    expect(first).toHaveLength(1)
    expect(first[0]).toMatchObject({ level: 40, variables: ['OTEL_EXPORTER_OTLP_ENDPOINT'] })
    expect(await registerCollectingWarnings()).toEqual([])
  })
})
