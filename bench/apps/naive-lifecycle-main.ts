import type { onRequestHookHandler } from 'fastify'
import { createActor } from 'xstate'
import { readEnvConfig } from '../../src/config/env-config.ts'
import { naiveLifecycleMachine } from '../lifecycle/naive-machine.ts'
import { buildBaselineService } from './baseline-service.ts'

// The baseline plus the naive lifecycle (two XState events and a matches() per request),
// hooked like lameduck's admission hook (a global onRequest hook that lets the probes through):
// the HTTP half of the design comparison.
const config = readEnvConfig(process.env)
const actor = createActor(naiveLifecycleMachine, {
  input: { maxConcurrency: config.maxConcurrency, shutdownDelayMs: config.shutdownDelayMs },
}).start()

const finished = () => actor.send({ type: 'request.finished' })
const probes = new Set(['/health', '/ready'])
const admit: onRequestHookHandler = (request, reply, done) => {
  if (probes.has(request.routeOptions.url ?? '')) {
    done()
    return
  }
  actor.send({ type: 'request.started' })
  const snapshot = actor.getSnapshot()
  if (snapshot.matches('running') || snapshot.matches({ draining: 'delay' })) {
    reply.raw.on('close', finished)
    done()
    return
  }
  finished()
  reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'draining' })
}

const app = buildBaselineService(config)
app.addHook('onRequest', admit)
process.once('SIGTERM', () => {
  actor.send({ type: 'signal.received' })
  void app.close()
})
await app.listen({ port: config.port, host: config.host })
