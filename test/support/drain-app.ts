import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { lameduck } from '../../src/http/lameduck-plugin.ts'
import type { LameduckOptions } from '../../src/http/plugin-options.ts'
import { waitUntil } from './plugin-harness.ts'

export interface DrainApp {
  app: FastifyInstance
  port: number
  exits: number[]
}

const apps: FastifyInstance[] = []
/** Undone after each test, before the apps are closed (clients, patched functions). */
export const cleanups: (() => unknown)[] = []

/** For `afterEach`: runs the cleanups, then stops every app still running and waits for it. */
export async function stopDrainApps(): Promise<void> {
  for (const cleanup of cleanups.splice(0)) await cleanup()
  for (const app of apps.splice(0)) {
    if (app.lameduck.actor.getSnapshot().status === 'active') await app.close().catch(() => {})
    await app.lameduck.finished().catch(() => {})
  }
}

/**
 * An app with lameduck (no process signals; exits recorded, not taken) on a real port, and routes that
 * give a drain something to do: `/work?ms=`, `/hang`, `/chunks` (streams five chunks 40 ms apart),
 * `POST /upload`. `beforeListen` adds the test's own.
 */
export async function startDrainApp(
  serverOptions: FastifyServerOptions & Record<string, unknown> = {},
  options: LameduckOptions = {},
  host = '127.0.0.1',
  beforeListen: (app: FastifyInstance) => Promise<void> | void = () => {},
): Promise<DrainApp> {
  const exits: number[] = []
  const app = Fastify({ logger: false, ...serverOptions }) as unknown as FastifyInstance
  apps.push(app)
  await app.register(lameduck, { signals: false, exit: (code) => void exits.push(code), drainTimeoutMs: 5_000, ...options })
  app.get<{ Querystring: { ms?: string } }>('/work', async (req) => {
    const ms = Number(req.query.ms ?? 0)
    if (ms > 0) await sleep(ms)
    return { done: true }
  })
  app.get('/hang', () => new Promise(() => {}))
  // A response already streaming when a drain begins.
  app.get('/chunks', (_req, reply) => {
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'text/plain' })
    let sent = 0
    const timer = setInterval(() => {
      reply.raw.write(`chunk ${++sent}\n`)
      if (sent === 5) {
        clearInterval(timer)
        reply.raw.end()
      }
    }, 40)
    reply.raw.on('close', () => clearInterval(timer))
  })
  app.post('/upload', async (req) => ({ bytes: JSON.stringify(req.body).length }))
  await beforeListen(app)
  await app.listen({ port: 0, host })
  await waitUntil(() => app.lameduck.readiness().status === 'ready')
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { app, port: address.port, exits }
}
