import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { afterEach, expect, it } from 'vitest'
import { lameduck } from '../src/http/lameduck-plugin.ts'

let close: (() => Promise<void>) | undefined
afterEach(async () => close?.())

// Regression: the admission hook was attached through onRoute, which never sees a route
// declared at the root before the plugin has loaded, i.e. the ordinary
// `app.register(lameduck); app.get(...)` without await. Such routes were not counted
// (/ready said 0 while they ran, the drain did not wait for them) nor refused while draining.
it('a route declared right after register() without await is counted and drained', async () => {
  const exits: number[] = []
  const app = Fastify()
  app.register(lameduck, { signals: false, exit: (code) => void exits.push(code), maxConcurrency: 4 })
  app.get('/slow', async () => {
    await sleep(400)
    return { done: true }
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  close = async () => {
    app.server.closeAllConnections()
    await app.close()
  }
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const slow = fetch(`${origin}/slow`)
  await sleep(100)
  const ready = (await (await fetch(`${origin}/ready`)).json()) as { active_requests: number }
  expect(ready.active_requests).toBe(1)

  app.lameduck.shutdown('test')
  const response = await slow
  expect(response.status).toBe(200)
  expect(response.headers.get('connection')).toBe('close')
  const final = await app.lameduck.finished()
  expect(final.context.outcome).toBe('drained')
  expect(final.context.requests.completed).toBe(1)
  expect(exits).toEqual([0])
})
