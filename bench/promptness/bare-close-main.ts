import websocket from '@fastify/websocket'
import Fastify from 'fastify'
import { readEnvConfig } from '../../src/config/env-config.ts'
import { echoMaxMessageBytes, echoRoute } from '../../src/service/echo-route.ts'
import { errorReplies } from '../../src/service/error-replies.ts'
import { helloRoute } from '../../src/service/hello-route.ts'
import { serverLimits } from '../../src/service/server-limits.ts'
import { serviceFastifyOptions } from '../../src/service/service-options.ts'
import { streamRoute } from '../../src/service/stream-route.ts'

/**
 * Bare Fastify's own drain, for the promptness figures: the service's routes without lameduck, and the
 * shutdown a plain Fastify service writes when it wants to be prompt: `forceCloseConnections: true`
 * (close() destroys every HTTP connection, in flight or idle) and a SIGTERM handler that awaits close()
 * and exits. `@fastify/websocket`'s own preClose closes its sessions (a close frame with no code).
 */
const config = readEnvConfig(process.env)
const app = Fastify({ logger: { level: config.logLevel }, ...serviceFastifyOptions(serverLimits), forceCloseConnections: true })
app.get('/health', { logLevel: 'warn' }, async () => ({ status: 'healthy' }))
app.get('/ready', { logLevel: 'warn' }, async () => ({ status: 'ready' }))
errorReplies(app)
app.register(websocket, { options: { maxPayload: echoMaxMessageBytes } })
app.register(async (routes) => {
  helloRoute(routes)
  streamRoute(routes)
  echoRoute(routes)
})
process.once('SIGTERM', () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})
await app.listen({ port: config.port, host: config.host })
