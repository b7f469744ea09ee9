/**
 * lameduck's instrumentation entry: `node --import ./dist/telemetry/register.js dist/main.js`.
 *
 * Loaded before the application (and Fastify), it checks the standard `OTEL_*` variables and
 * starts the OpenTelemetry Node SDK, which registers itself with the API. It reads the environment
 * once, here, like `main.ts` does for the service's own settings. With nothing to export (no
 * endpoint, no console or Prometheus exporter asked for) it loads nothing: lameduck then installs
 * no request hook and exports nothing.
 */
import { LameduckError } from '../errors.ts'
import { exportErrorLog } from './export-error-log.ts'
import { readTelemetryConfig } from './telemetry-config.ts'

let config
try {
  config = readTelemetryConfig(process.env)
} catch (error) {
  if (!(error instanceof LameduckError)) throw error
  process.stderr.write(`lameduck: ${error.message}\n`)
  process.exit(78) // EX_CONFIG, as for the service's own variables
}

// The SDK is imported only when something is exported: the image always starts through this
// entry, and loading the SDK and its exporters for nothing cost about 5 MB of RSS and 40 ms of start.
if (config.traces.length > 0 || config.metrics.length > 0) {
  let sdkModule
  try {
    sdkModule = await import('./telemetry-sdk.ts')
  } catch (error) {
    // An optional peer dependency: only those who export through this entry install it.
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND' || !String(error).includes('@opentelemetry/sdk-node')) throw error
    process.stderr.write('lameduck: OTEL_* variables ask for telemetry, but @opentelemetry/sdk-node is not installed (npm i @opentelemetry/sdk-node)\n')
    process.exit(78)
  }
  const { startTelemetry } = sdkModule
  // The service's logger does not exist yet; write the same pino-shaped JSON line it would.
  const errors = exportErrorLog((fields, msg) => {
    process.stdout.write(`${JSON.stringify({ level: 40, time: Date.now(), pid: process.pid, ...fields, msg })}\n`)
  })
  startTelemetry(config, errors)
  // Failures after the first were only counted; say how many, once, on the way out.
  process.once('exit', () => errors.summarize())
}
