import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { readEnvConfig } from '../../src/config/env-config.ts'
import type { LameduckOptions } from '../../src/http/plugin-options.ts'
import { buildService } from '../../src/service/build-service.ts'
import type { ServerLimits } from '../../src/service/server-limits.ts'

export interface RunningService {
  readonly app: FastifyInstance
  readonly port: number
  readonly origin: string
  /** Exit codes the plugin asked for; the test process never exits. */
  readonly exits: number[]
  /** GET /ready over a fresh connection. */
  ready(): Promise<{ status: number; body: { status: string; active_requests: number } }>
  /** Waits until /ready reports `active_requests` 0 (fails after `timeoutMs`). */
  settled(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/** The reference service in this process, on a real socket (port 0), with no signal handlers. */
export async function startService(
  env: Record<string, string> = {},
  plugin: Partial<LameduckOptions> = {},
  limits: Partial<ServerLimits> = {},
): Promise<RunningService> {
  const exits: number[] = []
  const config = readEnvConfig({ LOG_LEVEL: 'silent', MAX_CONCURRENCY: '64', ...env })
  const app = buildService(config, { signals: false, exit: (code) => void exits.push(code), ...plugin }, limits)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  const origin = `http://127.0.0.1:${port}`
  const ready = async () => {
    const response = await fetch(`${origin}/ready`, { headers: { connection: 'close' } })
    return { status: response.status, body: (await response.json()) as { status: string; active_requests: number } }
  }
  return {
    app,
    port,
    origin,
    exits,
    ready,
    async settled(timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const { body } = await ready()
        if (body.active_requests === 0) return
        if (Date.now() > deadline) throw new Error(`in-flight still ${body.active_requests} after ${timeoutMs} ms`)
        await sleep(20)
      }
    },
    async close() {
      app.server.closeAllConnections()
      await app.close()
    },
  }
}
