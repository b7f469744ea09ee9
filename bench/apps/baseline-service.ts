import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ServiceConfig } from '../../src/config/env-config.ts'
import { serviceFastifyOptions } from '../../src/service/service-options.ts'
import { errorReplies } from '../../src/service/error-replies.ts'
import { echoMaxMessageBytes, echoRoute } from '../../src/service/echo-route.ts'
import { helloRoute } from '../../src/service/hello-route.ts'
import { streamRoute } from '../../src/service/stream-route.ts'
import { serverLimits } from '../../src/service/server-limits.ts'

/**
 * buildService() without lameduck: the same Fastify options (server limits, Ajv options,
 * error formatter), error replies, POST /hello (same schema, same validation), GET /stream and GET /ws. Left out
 * with the plugin: lameduck's log-correlation mixin, inspector and live view (all inert at
 * LOG_LEVEL=warn with no tracing and no debug settings). The probes are plain routes with the
 * same log level as lameduck's; they are not on the measured path. The parity check in
 * run-bench.ts fails the run if this and the reference service answer any test body differently.
 */
export function buildBaselineService(config: ServiceConfig): FastifyInstance {
  const app = Fastify({ logger: { level: config.logLevel }, ...serviceFastifyOptions(serverLimits) })
  app.get('/health', { logLevel: 'warn' }, async () => ({ status: 'healthy' }))
  app.get('/ready', { logLevel: 'warn' }, async () => ({ status: 'ready' }))
  errorReplies(app)
  // GET /stream and GET /ws as the service has them, for the long-lived figures (bench/long-lived/).
  app.register(websocket, { options: { maxPayload: echoMaxMessageBytes } })
  app.register(async (routes) => {
    helloRoute(routes)
    streamRoute(routes)
    echoRoute(routes)
  })
  return app
}
