import { setTimeout as sleep } from 'node:timers/promises'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import type { ServiceConfig } from '../config/env-config.ts'
import { lameduck } from '../http/lameduck-plugin.ts'
import type { LameduckOptions } from '../http/plugin-options.ts'
import type { LifecycleInspector } from '../inspect/lifecycle-inspector.ts'
import { echoMaxMessageBytes, echoRoute } from './echo-route.ts'
import { errorReplies } from './error-replies.ts'
import { helloRoute } from './hello-route.ts'
import { type ServerLimits, serverLimits } from './server-limits.ts'
import { serviceFastifyOptions } from './service-options.ts'
import { streamRoute } from './stream-route.ts'
import { logCorrelation } from '../telemetry/log-correlation.ts'
import { requestLogFields } from './request-log-fields.ts'


/** The reference service: the seed's app, done right. `pluginOverrides` is for tests and benchmarks. */
export function buildService(
  config: ServiceConfig,
  pluginOverrides: Partial<LameduckOptions> = {},
  limitOverrides: Partial<ServerLimits> = {},
): FastifyInstance {
  const app = Fastify({
    // trace_id and span_id on the lines logged inside a request, when tracing is on.
    logger: { level: config.logLevel, ...logCorrelation(), serializers: { req: requestLogFields } },
    ...serviceFastifyOptions({ ...serverLimits, ...limitOverrides }),
  })

  // Opt-in: the inspector's socket is unref'd and closed with the server, so it never holds the exit.
  // Loaded only when asked for: @statelyai/inspect alone takes about a quarter of a second to import.
  let inspector: LifecycleInspector | null = null
  const inspectUrl = config.inspectUrl
  if (inspectUrl) {
    app.register(async (instance) => {
      const { createLifecycleInspector } = await import('../inspect/lifecycle-inspector.ts')
      const created = createLifecycleInspector({ url: inspectUrl, log: app.log })
      inspector = created
      instance.addHook('onClose', () => created.stop())
    })
  }

  // Options as a function: Fastify evaluates it when the plugin loads, after the inspector above.
  app.register(lameduck, () => ({
    maxConcurrency: config.maxConcurrency,
    drainTimeoutMs: config.drainTimeoutMs,
    ...(config.drainNoticeMs === null ? {} : { drainNoticeMs: config.drainNoticeMs }),
    shutdownDelayMs: config.shutdownDelayMs,
    listenerAtDrain: config.listenerAtDrain,
    streamHandover: config.streamHandover,
    overCapacity: config.overCapacity,
    startup: config.startupMs > 0 ? (signal: AbortSignal) => sleep(config.startupMs, undefined, { signal }) : undefined,
    ...(inspector ? { inspect: (inspector as LifecycleInspector).inspect } : {}),
    ...pluginOverrides,
  }))
  // Off by default; loopback clients only unless a token is set (docs/live-view.md). Imported only
  // when turned on, like the inspector: Fastify loads a plugin given as a promise when its turn comes.
  if (config.debugRoutes) {
    app.register(import('../debug/live-view-plugin.ts').then((m) => ({ default: m.lifecycleLiveView })), { token: config.debugToken })
  }
  errorReplies(app)
  // JSON only: Fastify also parses text/plain by default, and a string body then failed validation
  // (400) instead of answering 415 as every other non-JSON type does.
  app.removeContentTypeParser('text/plain')
  app.register(websocket, { options: { maxPayload: echoMaxMessageBytes } })
  app.register(async (routes) => {
    helloRoute(routes)
    streamRoute(routes)
    echoRoute(routes)
  })
  return app
}
