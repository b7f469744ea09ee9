import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ServiceConfig } from '../config/env-config.ts'
import { lameduck } from '../http/lameduck-plugin.ts'
import type { LameduckOptions } from '../http/plugin-options.ts'
import { errorReplies, schemaErrorFormatter } from './error-replies.ts'
import { helloRoute } from './hello-route.ts'
import { type ServerLimits, serverLimits } from './server-limits.ts'

export const bodyLimitBytes = serverLimits.bodyLimitBytes

/** The reference service: the seed's app, done right. `pluginOverrides` is for tests and benchmarks. */
export function buildService(
  config: ServiceConfig,
  pluginOverrides: Partial<LameduckOptions> = {},
  limitOverrides: Partial<ServerLimits> = {},
): FastifyInstance {
  const limits = { ...serverLimits, ...limitOverrides }
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    },
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
