import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ServiceConfig } from '../config/env-config.ts'
import { lameduck } from '../http/lameduck-plugin.ts'
import type { LameduckOptions } from '../http/plugin-options.ts'
import { errorReplies, schemaErrorFormatter } from './error-replies.ts'
import { helloRoute } from './hello-route.ts'
import { logCorrelation } from '../telemetry/log-correlation.ts'

export const bodyLimitBytes = 1_048_576

/** The reference service: the seed's app, done right. `pluginOverrides` is for tests and benchmarks. */
export function buildService(config: ServiceConfig, pluginOverrides: Partial<LameduckOptions> = {}): FastifyInstance {
  const app = Fastify({
    // trace_id and span_id on the lines logged inside a request, when tracing is on.
    logger: { level: config.logLevel, ...logCorrelation() },
    bodyLimit: bodyLimitBytes,
    // Wrong types are rejected, not coerced ({"name": 42} is a 400), and unknown
    // fields are an error rather than silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true } },
    schemaErrorFormatter,
  })

  app.register(lameduck, {
    maxConcurrency: config.maxConcurrency,
    drainTimeoutMs: config.drainTimeoutMs,
    shutdownDelayMs: config.shutdownDelayMs,
    overCapacity: config.overCapacity,
    startup: config.startupMs > 0 ? (signal) => sleep(config.startupMs, undefined, { signal }) : undefined,
    ...pluginOverrides,
  })
  errorReplies(app)
  app.register(async (routes) => helloRoute(routes))
  return app
}
