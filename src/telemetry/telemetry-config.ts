import { redactUrl } from '../redact-secrets.ts'
import { invalidEnv } from '../errors.ts'

/**
 * What lameduck's instrumentation entry decides from the standard `OTEL_*` variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/) before the
 * OpenTelemetry Node SDK reads them itself: whether anything is exported at all (if not, the SDK is
 * never loaded), and whether every value is one the SDK can use. The SDK only warns about a bad
 * value and carries on (a bad endpoint fails at each export); lameduck stops at start instead,
 * naming the variable, as it does for its own settings (exit 78).
 */
export interface TelemetryConfig {
  /** Trace exporters to run; empty: no traces, no request hook. */
  readonly traces: readonly TraceExporter[]
  /** Metric exporters (readers) to run; empty: no metrics. */
  readonly metrics: readonly MetricExporter[]
  /** Variables to give the SDK where lameduck's choice differs from the SDK's default (see below). */
  readonly sdkEnvironment: Readonly<Record<string, string>>
}

export const traceExporters = ['otlp', 'console', 'zipkin', 'none'] as const
export type TraceExporter = Exclude<(typeof traceExporters)[number], 'none'>
export const metricExporters = ['otlp', 'prometheus', 'console', 'none'] as const
export type MetricExporter = Exclude<(typeof metricExporters)[number], 'none'>
export const logExporters = ['otlp', 'console', 'none'] as const
export const otlpProtocols = ['grpc', 'http/protobuf', 'http/json'] as const
export const propagatorNames = ['tracecontext', 'baggage', 'b3', 'b3multi', 'none'] as const
export const samplerNames = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const

/**
 * The spec's default export timeout is 10 s; lameduck's is 1 s, because an export still pending at
 * exit holds the process that long (issue 4). `OTEL_EXPORTER_OTLP_TIMEOUT` overrides it.
 */
export const defaultExportTimeoutMs = 1_000

type Env = Readonly<Record<string, string | undefined>>
const signals = ['TRACES', 'METRICS', 'LOGS'] as const

export function readTelemetryConfig(env: Env): TelemetryConfig {
  // Every value is checked, whether or not its signal ends up exported: a typo must not wait for the day it matters.
  const disabled = boolean('OTEL_SDK_DISABLED', env)
  const traceList = list('OTEL_TRACES_EXPORTER', env, traceExporters)
  const metricList = list('OTEL_METRICS_EXPORTER', env, metricExporters)
  const logList = list('OTEL_LOGS_EXPORTER', env, logExporters)
  for (const signal of signals) {
    oneOf(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, env, otlpProtocols)
    url(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`, env)
    milliseconds(`OTEL_EXPORTER_OTLP_${signal}_TIMEOUT`, env)
  }
  oneOf('OTEL_EXPORTER_OTLP_PROTOCOL', env, otlpProtocols)
  url('OTEL_EXPORTER_OTLP_ENDPOINT', env)
  url('OTEL_EXPORTER_ZIPKIN_ENDPOINT', env)
  milliseconds('OTEL_EXPORTER_OTLP_TIMEOUT', env)
  milliseconds('OTEL_METRIC_EXPORT_INTERVAL', env)
  milliseconds('OTEL_METRIC_EXPORT_TIMEOUT', env)
  milliseconds('OTEL_BSP_EXPORT_TIMEOUT', env)
  list('OTEL_PROPAGATORS', env, propagatorNames)
  sampler(env)
  resourceAttributes(env)
  port('OTEL_EXPORTER_PROMETHEUS_PORT', env)

  const traces = disabled ? [] : exported('TRACES', traceList, env)
  const metrics = disabled ? [] : exported('METRICS', metricList, env)
  const sdkEnvironment: Record<string, string> = {
    // The SDK's default is otlp to localhost; lameduck exports only what was asked for (see `exported`).
    OTEL_TRACES_EXPORTER: traces.length > 0 ? traces.join(',') : 'none',
    OTEL_METRICS_EXPORTER: metrics.length > 0 ? metrics.join(',') : 'none',
    // Logs go to stdout as JSON (docs/observability.md): exported only when asked for.
    OTEL_LOGS_EXPORTER: logList?.join(',') ?? 'none',
  }
  // One bound for every export: the exporters' own, and the span processor's and metric reader's
  // (30 s by default), which otherwise keep a flush waiting on an exporter that is retrying.
  const exportTimeout = nonBlank(env.OTEL_EXPORTER_OTLP_TIMEOUT) ?? String(defaultExportTimeoutMs)
  if (nonBlank(env.OTEL_EXPORTER_OTLP_TIMEOUT) === undefined) sdkEnvironment.OTEL_EXPORTER_OTLP_TIMEOUT = exportTimeout
  if (nonBlank(env.OTEL_BSP_EXPORT_TIMEOUT) === undefined) sdkEnvironment.OTEL_BSP_EXPORT_TIMEOUT = exportTimeout
  if (nonBlank(env.OTEL_METRIC_EXPORT_TIMEOUT) === undefined) sdkEnvironment.OTEL_METRIC_EXPORT_TIMEOUT = exportTimeout
  return Object.freeze({ traces, metrics, sdkEnvironment: Object.freeze(sdkEnvironment) })
}

/**
 * A signal is exported when its exporter list says so explicitly, or, left unset (the SDK's
 * default `otlp`), when an OTLP endpoint is configured for it: an image that always starts through
 * the entry exports nothing until it is pointed at a collector.
 */
function exported<T extends string>(signal: 'TRACES' | 'METRICS', chosen: readonly T[] | undefined, env: Env): Exclude<T, 'none'>[] {
  if (chosen === undefined) {
    const endpoint = nonBlank(env[`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`]) ?? nonBlank(env.OTEL_EXPORTER_OTLP_ENDPOINT)
    return endpoint === undefined ? [] : ['otlp' as Exclude<T, 'none'>]
  }
  if (chosen.includes('none' as T)) {
    if (chosen.length > 1) {
      throw invalidEnv(`OTEL_${signal}_EXPORTER`, chosen.join(','), '"none" alone, or a list of exporters without it')
    }
    return []
  }
  return chosen as Exclude<T, 'none'>[]
}

function list<T extends string>(name: string, env: Env, allowed: readonly T[]): T[] | undefined {
  const raw = nonBlank(env[name])
  if (raw === undefined) return undefined
  const items = [...new Set(raw.split(',').map((item) => item.trim()))]
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw invalidEnv(name, raw, `a comma-separated list of ${allowed.join(', ')}`)
  }
  return items as T[]
}

function oneOf(name: string, env: Env, allowed: readonly string[]): void {
  const raw = nonBlank(env[name])
  if (raw !== undefined && !allowed.includes(raw)) throw invalidEnv(name, raw, `one of ${allowed.join(', ')}`)
}

/** The SDK accepts any string and fails at every export; an endpoint must be an absolute http(s) URL. */
function url(name: string, env: Env): void {
  const raw = nonBlank(env[name])
  if (raw === undefined) return
  let parsed: URL | null = null
  try {
    parsed = new URL(raw)
  } catch {}
  if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    throw invalidEnv(name, redactUrl(raw), 'an absolute http:// or https:// URL, such as http://collector:4318')
  }
}

function sampler(env: Env): void {
  oneOf('OTEL_TRACES_SAMPLER', env, samplerNames)
  const name = nonBlank(env.OTEL_TRACES_SAMPLER) ?? 'parentbased_always_on'
  const rawRatio = nonBlank(env.OTEL_TRACES_SAMPLER_ARG)
  if (name.endsWith('traceidratio') && rawRatio !== undefined) {
    const ratio = Number(rawRatio)
    if (!/^(0|1|0?\.[0-9]+|1\.0*)$/.test(rawRatio) || ratio < 0 || ratio > 1) {
      throw invalidEnv('OTEL_TRACES_SAMPLER_ARG', rawRatio, 'a ratio from 0 to 1, such as 0.25')
    }
  }
}

/** `key=value,key=value` (W3C Baggage octets, percent-encoded); the SDK drops a malformed list silently. */
function resourceAttributes(env: Env): void {
  const raw = nonBlank(env.OTEL_RESOURCE_ATTRIBUTES)
  if (raw === undefined) return
  for (const pair of raw.split(',')) {
    const at = pair.indexOf('=')
    let valid = at > 0 && pair.slice(0, at).trim() !== ''
    try {
      if (valid) decodeURIComponent(pair.slice(at + 1))
    } catch {
      valid = false
    }
    if (!valid) throw invalidEnv('OTEL_RESOURCE_ATTRIBUTES', raw, 'a comma-separated list of key=value pairs, values percent-encoded')
  }
}

function boolean(name: string, env: Env): boolean {
  const raw = nonBlank(env[name])?.toLowerCase()
  if (raw === undefined || raw === 'false') return false
  if (raw === 'true') return true
  throw invalidEnv(name, env[name] ?? '', 'true or false')
}

function milliseconds(name: string, env: Env): void {
  const raw = nonBlank(env[name])
  if (raw !== undefined && !/^[1-9][0-9]{0,8}$/.test(raw)) throw invalidEnv(name, raw, 'a whole number of milliseconds from 1 to 999999999')
}

function port(name: string, env: Env): void {
  const raw = nonBlank(env[name])
  if (raw !== undefined && !(/^[0-9]{1,5}$/.test(raw) && Number(raw) <= 65_535)) throw invalidEnv(name, raw, 'a port from 0 to 65535')
}

function nonBlank(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed ? trimmed : undefined
}
