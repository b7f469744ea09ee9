import { connect as tcpConnect } from 'node:net'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { startDrainApp, stopDrainApps } from './support/drain-app.ts'
import { waitUntil } from './support/plugin-harness.ts'
import { ChildService, repoDir } from './support/reliability-child.ts'

// Issue 19: the liveness probe during the stop. `listenerAtDrain: 'keep'` keeps the listeners open until
// stop: probes are answered, every other new request refused the retryable way. On 3f34bdd the listener
// closed at the drain and `/health` was ECONNREFUSED from then on.

afterEach(stopDrainApps)

async function refusedAtConnect(port: number): Promise<boolean> {
  const socket = tcpConnect({ port, host: '127.0.0.1' })
  const refused = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(false))
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })
  socket.destroy()
  return refused
}

describe("listenerAtDrain: 'keep'", () => {
  it('during the drain: /health 200, /ready 503 draining, new work 503 + Retry-After + Connection: close; refused after stop; exit 0', async () => {
    const { app, port, exits } = await startDrainApp({}, { listenerAtDrain: 'keep' })
    const origin = `http://127.0.0.1:${port}`
    const work = request(`${origin}/work?ms=600`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    await waitUntil(() => app.lameduck.readiness().status === 'draining')

    const health = await request(`${origin}/health`)
    expect(health.statusCode).toBe(200)
    expect(health.headers.connection).toBe('close')
    expect(await health.body.json()).toEqual({ status: 'healthy' })
    const ready = await request(`${origin}/ready`)
    expect(ready.statusCode).toBe(503)
    expect(await ready.body.json()).toMatchObject({ status: 'draining', active_requests: 1 })
    const refused = await request(`${origin}/work`)
    expect(refused.statusCode).toBe(503)
    expect(refused.headers).toMatchObject({ connection: 'close', 'retry-after': '1' })
    await refused.body.dump()

    expect((await work).statusCode).toBe(200)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
    expect(await refusedAtConnect(port)).toBe(true)
    expect(app.lameduck.actor.getSnapshot().context.requests.rejected.draining).toBe(1)
  })

  it("the default, 'close': from the drain on a new connection is refused, probes included", async () => {
    const { app, port, exits } = await startDrainApp()
    const work = request(`http://127.0.0.1:${port}/work?ms=400`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    expect(await refusedAtConnect(port)).toBe(true)
    expect((await work).statusCode).toBe(200)
    await app.lameduck.finished()
    expect(exits).toEqual([0])
  })
})

describe('the reference service (LISTENER_AT_DRAIN, default keep)', () => {
  let child: ChildService | undefined
  afterEach(async () => child?.stop())

  it('answers /health 200 all through a drain with work in flight, then exits 0', async () => {
    child = new ChildService(`${repoDir}src/main.ts`, { MAX_CONCURRENCY: '4', DRAIN_TIMEOUT_MS: '5000' })
    await child.listening()
    await child.waitForPhase('running')
    const origin = child.origin
    const work = fetch(`${origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 1_200 }),
    })
    await waitUntil(() => child!.logs.some((line) => line.msg === 'incoming request' && (line.req as { url?: string })?.url === '/hello'))
    child.signal('SIGTERM')
    await child.waitForPhase('draining.drain')
    const answers: number[] = []
    const stopAt = Date.now() + 900
    while (Date.now() < stopAt) {
      answers.push((await fetch(`${origin}/health`)).status)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    expect(new Set(answers)).toEqual(new Set([200]))
    expect((await work).status).toBe(200)
    expect(await child.exit()).toMatchObject({ code: 0, signal: null })
  })

  it('LISTENER_AT_DRAIN=close: /health is refused once the drain proper begins', async () => {
    child = new ChildService(`${repoDir}src/main.ts`, { MAX_CONCURRENCY: '4', LISTENER_AT_DRAIN: 'close' })
    await child.listening()
    await child.waitForPhase('running')
    const work = fetch(`${child.origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 800 }),
    })
    await waitUntil(() => child!.logs.some((line) => line.msg === 'incoming request' && (line.req as { url?: string })?.url === '/hello'))
    child.signal('SIGTERM')
    await child.waitForPhase('draining.drain')
    expect(await refusedAtConnect(child.port)).toBe(true)
    expect((await work).status).toBe(200)
    expect(await child.exit()).toMatchObject({ code: 0, signal: null })
  })
})
