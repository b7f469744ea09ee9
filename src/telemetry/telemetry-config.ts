import { invalidEnv } from '../errors.ts'

/**
 * The OpenTelemetry settings lameduck's instrumentation entry reads, from the
 * standard `OTEL_*` variables (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
 * Read once, validated, frozen. The exporters still read the variables that only
 * concern them (endpoints, headers, compression) themselves, as the spec intends.
 */
export interface TelemetryConfig {
  /** `null`: traces are not exported and no request hook is installed. */
  readonly traces: SignalConfig | null
  readonly metrics: (SignalConfig & { readonly exportIntervalMs: number }) | null
  readonly sampler: SamplerConfig
}

export interface SignalConfig {
  readonly protocol: OtlpProtocol
  /** Per-export timeout. A dead collector may delay exit by about this much, so the default is short. */
  readonly timeoutMs: number
}

export const otlpProtocols = ['http/protobuf', 'http/json'] as const
export type OtlpProtocol = (typeof otlpProtocols)[number]

export const samplerNames = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const
export type SamplerName = (typeof samplerNames)[number]

export interface SamplerConfig {
  readonly name: SamplerName
  /** Only for the ratio samplers. */
  readonly ratio: number
}

/**
 * The spec's default export timeout is 10 s; ours is 1 s, because an export
 * still pending at exit holds the process that long (issue 4: a dead collector
 * delays exit by about a second at most). `OTEL_EXPORTER_OTLP_TIMEOUT` overrides it.
 */
export const defaultExportTimeoutMs = 1_000
export const defaultMetricExportIntervalMs = 60_000

type Env = Readonly<Record<string, string | undefined>>
type Signal = 'TRACES' | 'METRICS'

export function readTelemetryConfig(env: Env): TelemetryConfig {
  const disabled = boolean('OTEL_SDK_DISABLED', env)
  const traces = disabled ? null : signal('TRACES', env)
  const metrics = disabled ? null : signal('METRICS', env)
  return Object.freeze({
    traces,
    metrics: metrics && Object.freeze({ ...metrics, exportIntervalMs: exportInterval(env) }),
    sampler: sampler(env),
  })
}

/** A signal is exported when an endpoint is configured for it and its exporter is not `none`. */
function signal(name: Signal, env: Env): SignalConfig | null {
  const endpoint = nonBlank(env[`OTEL_EXPORTER_OTLP_${name}_ENDPOINT`]) ?? nonBlank(env.OTEL_EXPORTER_OTLP_ENDPOINT)
  const exporterVariable = `OTEL_${name}_EXPORTER`
  const exporter = nonBlank(env[exporterVariable]) ?? 'otlp'
  if (exporter !== 'otlp' && exporter !== 'none') throw invalidEnv(exporterVariable, exporter, 'otlp or none')
  if (endpoint === undefined || exporter === 'none') return null

  const protocolVariable = env[`OTEL_EXPORTER_OTLP_${name}_PROTOCOL`] !== undefined ? `OTEL_EXPORTER_OTLP_${name}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL'
  const protocol = nonBlank(env[protocolVariable]) ?? 'http/protobuf'
  if (!(otlpProtocols as readonly string[]).includes(protocol)) {
    throw invalidEnv(protocolVariable, protocol, `one of ${otlpProtocols.join(', ')} (grpc is not bundled)`)
  }
  const timeoutVariable = env[`OTEL_EXPORTER_OTLP_${name}_TIMEOUT`] !== undefined ? `OTEL_EXPORTER_OTLP_${name}_TIMEOUT` : 'OTEL_EXPORTER_OTLP_TIMEOUT'
  return Object.freeze({
    protocol: protocol as OtlpProtocol,
    timeoutMs: milliseconds(timeoutVariable, env, defaultExportTimeoutMs),
  })
}

function exportInterval(env: Env): number {
  return milliseconds('OTEL_METRIC_EXPORT_INTERVAL', env, defaultMetricExportIntervalMs)
}

function sampler(env: Env): SamplerConfig {
  const name = nonBlank(env.OTEL_TRACES_SAMPLER) ?? 'parentbased_always_on'
  if (!(samplerNames as readonly string[]).includes(name)) {
    throw invalidEnv('OTEL_TRACES_SAMPLER', name, `one of ${samplerNames.join(', ')}`)
  }
  const rawRatio = nonBlank(env.OTEL_TRACES_SAMPLER_ARG)
  let ratio = 1
  if (name.endsWith('traceidratio') && rawRatio !== undefined) {
    ratio = Number(rawRatio)
    if (!/^(0|1|0?\.[0-9]+|1\.0*)$/.test(rawRatio) || ratio < 0 || ratio > 1) {
      throw invalidEnv('OTEL_TRACES_SAMPLER_ARG', rawRatio, 'a ratio from 0 to 1, such as 0.25')
    }
  }
  return Object.freeze({ name: name as SamplerName, ratio })
}

function boolean(name: string, env: Env): boolean {
  const raw = nonBlank(env[name])?.toLowerCase()
  if (raw === undefined || raw === 'false') return false
  if (raw === 'true') return true
  throw invalidEnv(name, env[name] ?? '', 'true or false')
}

function milliseconds(name: string, env: Env, fallback: number): number {
  const raw = nonBlank(env[name])
  if (raw === undefined) return fallback
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw invalidEnv(name, raw, 'a whole number of milliseconds from 1 to 999999999')
  return Number(raw)
}

function nonBlank(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed ? trimmed : undefined
}
