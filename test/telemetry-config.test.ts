import { describe, expect, it } from 'vitest'
import { readTelemetryConfig } from '../src/telemetry/telemetry-config.ts'
import { exportErrorLog } from '../src/telemetry/export-error-log.ts'

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }

describe('telemetry configuration from OTEL_* variables', () => {
  it('exports nothing without an endpoint, or when the SDK is disabled', () => {
    expect(readTelemetryConfig({})).toMatchObject({ traces: null, metrics: null })
    expect(readTelemetryConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toMatchObject({ traces: null, metrics: null })
    expect(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toMatchObject({ traces: null, metrics: null })
  })

  it('defaults to http/protobuf with a 1 s export timeout, and takes per-signal settings over the shared ones', () => {
    expect(readTelemetryConfig(endpoint)).toEqual({
      traces: { protocol: 'http/protobuf', timeoutMs: 1000 },
      metrics: { protocol: 'http/protobuf', timeoutMs: 1000, exportIntervalMs: 60_000 },
      sampler: { name: 'parentbased_always_on', ratio: 1 },
    })
    const config = readTelemetryConfig({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/v1/traces',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_TIMEOUT: '250',
    })
    expect(config.traces).toEqual({ protocol: 'http/protobuf', timeoutMs: 250 })
    expect(config.metrics).toBeNull()
    expect(readTelemetryConfig({ ...endpoint, OTEL_METRICS_EXPORTER: 'none' }).metrics).toBeNull()
  })

  it('reads the sampler and its ratio', () => {
    expect(readTelemetryConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }).sampler).toEqual({
      name: 'parentbased_traceidratio',
      ratio: 0.25,
    })
  })

  it.each([
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc', 'environment variable OTEL_EXPORTER_OTLP_PROTOCOL must be one of http/protobuf, http/json (grpc is not bundled); received "grpc"'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '1s', 'environment variable OTEL_EXPORTER_OTLP_TIMEOUT must be a whole number of milliseconds from 1 to 999999999; received "1s"'],
    ['OTEL_TRACES_SAMPLER', 'sometimes', 'environment variable OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; received "sometimes"'],
    ['OTEL_TRACES_EXPORTER', 'zipkin', 'environment variable OTEL_TRACES_EXPORTER must be otlp or none; received "zipkin"'],
    ['OTEL_SDK_DISABLED', 'yes', 'environment variable OTEL_SDK_DISABLED must be true or false; received "yes"'],
  ])('rejects %s=%s, naming the variable and the value', (name, value, message) => {
    expect(() => readTelemetryConfig({ ...endpoint, [name]: value })).toThrow(message)
  })

  it('rejects a sampler ratio outside 0..1', () => {
    expect(() => readTelemetryConfig({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '1.5' })).toThrow(
      'OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, such as 0.25; received "1.5"',
    )
  })
})

describe('export error log', () => {
  it('logs the first export failure and only counts the rest', () => {
    const lines: [Record<string, unknown>, string][] = []
    const log = exportErrorLog((fields, message) => lines.push([fields, message]))
    for (let i = 0; i < 5; i++) log.report(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))
    expect(lines).toHaveLength(1)
    expect(lines[0]![0]).toEqual({ err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' } })
    expect(log.suppressed()).toBe(4)
    log.summarize()
    expect(lines[1]).toEqual([{ suppressed_errors: 4 }, 'telemetry: more exports failed after the first logged failure'])
  })
})
