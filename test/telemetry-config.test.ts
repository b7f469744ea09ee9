import { describe, expect, it } from 'vitest'
import { readTelemetryConfig } from '../src/telemetry/telemetry-config.ts'
import { exportErrorLog } from '../src/telemetry/export-error-log.ts'

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }

describe('telemetry configuration from OTEL_* variables', () => {
  it('exports nothing without an endpoint or an exporter asked for, or when the SDK is disabled', () => {
    expect(readTelemetryConfig({})).toMatchObject({ traces: [], metrics: [] })
    expect(readTelemetryConfig({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toMatchObject({ traces: [], metrics: [] })
    expect(readTelemetryConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toMatchObject({ traces: [], metrics: [] })
    // What the SDK is told: nothing, not its default of OTLP to localhost.
    expect(readTelemetryConfig({}).sdkEnvironment).toMatchObject({ OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' })
  })

  it('exports OTLP with an endpoint, and what the exporter lists ask for without one', () => {
    expect(readTelemetryConfig(endpoint)).toEqual({
      traces: ['otlp'],
      metrics: ['otlp'],
      sdkEnvironment: {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_METRICS_EXPORTER: 'otlp',
        OTEL_LOGS_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
        OTEL_BSP_EXPORT_TIMEOUT: '1000',
        OTEL_METRIC_EXPORT_TIMEOUT: '1000',
      },
    })
    const perSignal = readTelemetryConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://traces:4318/v1/traces', OTEL_EXPORTER_OTLP_TIMEOUT: '250' })
    expect(perSignal).toMatchObject({ traces: ['otlp'], metrics: [] })
    // The user's timeout stands; lameduck only fills in its 1 s where none is set.
    expect(perSignal.sdkEnvironment.OTEL_EXPORTER_OTLP_TIMEOUT).toBeUndefined()
    expect(perSignal.sdkEnvironment.OTEL_BSP_EXPORT_TIMEOUT).toBe('250')
    expect(readTelemetryConfig({ ...endpoint, OTEL_METRICS_EXPORTER: 'none' }).metrics).toEqual([])
    expect(readTelemetryConfig({ OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'prometheus' })).toMatchObject({
      traces: ['console'],
      metrics: ['prometheus'],
    })
    expect(readTelemetryConfig({ ...endpoint, OTEL_TRACES_EXPORTER: 'otlp, console' }).sdkEnvironment.OTEL_TRACES_EXPORTER).toBe('otlp,console')
  })

  it('accepts every protocol, propagator and sampler the SDK has', () => {
    for (const protocol of ['grpc', 'http/protobuf', 'http/json']) {
      expect(readTelemetryConfig({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol }).traces).toEqual(['otlp'])
    }
    expect(() => readTelemetryConfig({ OTEL_PROPAGATORS: 'tracecontext,baggage,b3,b3multi' })).not.toThrow()
    expect(() => readTelemetryConfig({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' })).not.toThrow()
    expect(() => readTelemetryConfig({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%20b' })).not.toThrow()
  })

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'garbage', 'environment variable OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http:// or https:// URL, such as http://collector:4318; received "garbage"'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'ftp://collector:4318', 'environment variable OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http:// or https:// URL, such as http://collector:4318; received "ftp://collector:4318"'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'collector:4318/v1/traces', 'environment variable OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an absolute http:// or https:// URL'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http', 'environment variable OTEL_EXPORTER_OTLP_PROTOCOL must be one of grpc, http/protobuf, http/json; received "http"'],
    ['OTEL_EXPORTER_OTLP_TIMEOUT', '1s', 'environment variable OTEL_EXPORTER_OTLP_TIMEOUT must be a whole number of milliseconds from 1 to 999999999; received "1s"'],
    ['OTEL_TRACES_SAMPLER', 'sometimes', 'environment variable OTEL_TRACES_SAMPLER must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio; received "sometimes"'],
    ['OTEL_TRACES_EXPORTER', 'jaeger', 'environment variable OTEL_TRACES_EXPORTER must be a comma-separated list of otlp, console, zipkin, none; received "jaeger"'],
    ['OTEL_TRACES_EXPORTER', 'otlp,none', 'environment variable OTEL_TRACES_EXPORTER must be "none" alone, or a list of exporters without it; received "otlp,none"'],
    ['OTEL_METRICS_EXPORTER', 'prom', 'environment variable OTEL_METRICS_EXPORTER must be a comma-separated list of otlp, prometheus, console, none; received "prom"'],
    ['OTEL_PROPAGATORS', 'xray', 'environment variable OTEL_PROPAGATORS must be a comma-separated list of tracecontext, baggage, b3, b3multi, none; received "xray"'],
    ['OTEL_RESOURCE_ATTRIBUTES', 'team', 'environment variable OTEL_RESOURCE_ATTRIBUTES must be a comma-separated list of key=value pairs, values percent-encoded; received "team"'],
    ['OTEL_EXPORTER_PROMETHEUS_PORT', '99999', 'environment variable OTEL_EXPORTER_PROMETHEUS_PORT must be a port from 0 to 65535; received "99999"'],
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

  it('reads the exception the SDK error handler passes on as JSON text', () => {
    const lines: [Record<string, unknown>, string][] = []
    const log = exportErrorLog((fields, message) => lines.push([fields, message]))
    log.report(JSON.stringify({ name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9', code: 'ECONNREFUSED', stack: '...' }))
    expect(lines[0]![0]).toEqual({ err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:9', code: 'ECONNREFUSED' } })
  })
})
