import { subscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'
import { diag, DiagLogLevel } from '@opentelemetry/api'
import { NodeSDK } from '@opentelemetry/sdk-node'
import type { ExportErrorLog } from './export-error-log.ts'
import type { TelemetryConfig } from './telemetry-config.ts'

/**
 * SDK 0.2xx (`@opentelemetry/resources` 2) says this when an export reads the resource before its
 * detectors have answered: lameduck's first export, as soon as the service is ready. The export goes
 * through all the same; it is no export failure to report (issue 19: the previous OpenTelemetry line).
 */
const pendingResourceMessage = 'Accessing resource attributes before async attributes settled'

export interface RunningTelemetry {
  readonly sdk: NodeSDK | null
}

/**
 * Starts the OpenTelemetry Node SDK (`@opentelemetry/sdk-node`, an optional peer dependency) for
 * the signals `config` enables. The SDK reads the standard `OTEL_*` variables itself, exporters,
 * protocols, propagators, resource and sampler included; lameduck has checked them already and
 * only fills in its own defaults (`config.sdkEnvironment`: which signals, and a 1 s export timeout).
 * There is no shutdown here: lameduck's plugin flushes the providers when the server closes
 * (instrument-lifecycle.ts), and the SDK's timers do not hold the process open.
 */
export function startTelemetry(config: TelemetryConfig, errors: ExportErrorLog): RunningTelemetry {
  if (config.traces.length === 0 && config.metrics.length === 0) return { sdk: null }

  // The SDK reads its configuration from the environment when it is built; this is how lameduck's
  // defaults reach it. Only variables the user left unset, or that lameduck decided (the exporters).
  Object.assign(process.env, config.sdkEnvironment)

  // An export failure reaches the SDK's global error handler, which writes it to the diagnostic
  // logger. Unless OTEL_LOG_LEVEL asks for the SDK's own console logger, errors go to the export
  // log: the first one as a warning line, the rest only counted (a dead collector would otherwise
  // log every few seconds for the life of the replica).
  if (process.env.OTEL_LOG_LEVEL === undefined) {
    const ignore = () => {}
    diag.setLogger(
      {
        error: (message, ...args) => {
          if (message === pendingResourceMessage) return
          errors.report(args.length > 0 ? [message, ...args].join(' ') : message)
        },
        warn: ignore,
        info: ignore,
        debug: ignore,
        verbose: ignore,
      },
      DiagLogLevel.ERROR,
    )
  }
  if (config.metrics.includes('prometheus')) unrefScrapeConnections(Number(process.env.OTEL_EXPORTER_PROMETHEUS_PORT?.trim() || 9464))
  const sdk = new NodeSDK()
  sdk.start()
  return { sdk }
}

/**
 * The Prometheus exporter's server is unref'd, but not the connections it accepts: a scraper's
 * keep-alive connection held a drained process open until lameduck's exit backstop, a second
 * later (found by test/telemetry-prometheus-server.test.ts). Connections to the metrics port
 * never keep the process alive; the service's own port is untouched.
 */
function unrefScrapeConnections(port: number): void {
  subscribe('net.server.socket', (message) => {
    const { socket } = message as { socket: Socket }
    if (socket.localPort === port) socket.unref()
  })
}
