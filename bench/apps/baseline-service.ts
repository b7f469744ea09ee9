import Fastify, { type FastifyInstance } from 'fastify'
import type { ServiceConfig } from '../../src/config/env-config.ts'
import { errorReplies, schemaErrorFormatter } from '../../src/service/error-replies.ts'
import { helloRoute } from '../../src/service/hello-route.ts'

// build-service.ts's bodyLimitBytes. Not imported: that module loads lameduck (XState,
// RxJS) and would put lameduck's code in the baseline's memory. The parity check in
// run-bench.ts sends an over-limit body to both and fails the run if the answers differ.
const bodyLimitBytes = 1_048_576

/**
 * buildService() without lameduck: the same Fastify options, error replies and POST /hello
 * (same schema, same validation, same error formatter). The probes are plain routes with
 * the same log level as lameduck's; they are not on the measured path.
 */
export function buildBaselineService(config: ServiceConfig): FastifyInstance {
  const app = Fastify({
    logger: { level: config.logLevel },
    bodyLimit: bodyLimitBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true } },
    schemaErrorFormatter,
  })
  app.get('/health', { logLevel: 'warn' }, async () => ({ status: 'healthy' }))
  app.get('/ready', { logLevel: 'warn' }, async () => ({ status: 'ready' }))
  errorReplies(app)
  app.register(async (routes) => helloRoute(routes))
  return app
}
