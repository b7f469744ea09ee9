import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { registeredOtel } from './otel-global.ts'

/**
 * Why lameduck might see no OpenTelemetry SDK although the application meant to export, said once
 * per process at startup instead of silently producing nothing (issue 12: a NodeSDK registered
 * through `@opentelemetry/api` 1.9 was invisible to lameduck's own 1.10 copy: zero spans, no word).
 *
 * The API keeps what is registered in one global per major version; an API copy only reads it when
 * the copy that registered it is at least as new in its minor version. Looking at that global
 * directly tells "nothing registered" from "registered, but by a copy this one cannot see".
 */
export function sdkVisibilityWarning(env: Readonly<Record<string, string | undefined>>): { message: string; fields: Record<string, unknown> } | null {
  const registered = registeredOtel()
  const own = ownApiVersion()
  if (registered !== undefined && (registered.trace !== undefined || registered.metrics !== undefined)) {
    if (registered.version === own) return null
    return {
      message: `telemetry: an OpenTelemetry SDK is registered through @opentelemetry/api ${registered.version}, which the @opentelemetry/api ${own} lameduck loads cannot see: no lameduck spans or metrics. Install one version of @opentelemetry/api for the app and lameduck`,
      fields: { registered_api_version: registered.version, lameduck_api_version: own },
    }
  }
  const asked = exportVariables(env)
  if (asked.length === 0) return null
  return {
    message: `telemetry: ${asked.join(', ')} ask for export, but no OpenTelemetry SDK is registered with @opentelemetry/api ${own} when lameduck registers: no lameduck spans or metrics. Start one first (node --import lameduck/telemetry/register, or your own NodeSDK)`,
    fields: { variables: asked, lameduck_api_version: own },
  }
}

function exportVariables(env: Readonly<Record<string, string | undefined>>): string[] {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return []
  const set = (name: string) => (env[name]?.trim() ?? '') !== ''
  const exporting = (name: string) => set(name) && env[name]!.trim() !== 'none'
  return [
    'OTEL_EXPORTER_OTLP_ENDPOINT',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  ]
    .filter(set)
    .concat(['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER'].filter(exporting))
}

/** The version of the `@opentelemetry/api` copy lameduck resolves (its package does not export one). */
function ownApiVersion(): string {
  try {
    const entry = createRequire(import.meta.url).resolve('@opentelemetry/api')
    let dir = dirname(entry)
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string }
        if (pkg.name === '@opentelemetry/api' && typeof pkg.version === 'string') return pkg.version
      } catch {}
    }
  } catch {}
  return 'unknown'
}

let warned = false

/**
 * Says once per process, when lameduck found neither tracer nor meter, if the environment or another
 * API copy shows that an SDK was meant to be there. The OTEL_* variables are the SDK's, read here only
 * to explain.
 */
export function warnIfExportMeant(warn: (fields: Record<string, unknown>, message: string) => void): void {
  if (warned) return
  const warning = sdkVisibilityWarning(process.env)
  if (warning === null) return
  warned = true
  warn(warning.fields, warning.message)
}
