import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import type { DrainNotice } from '../src/http/drain-notice.ts'
import { type Harness, startHarness, waitUntil } from './support/plugin-harness.ts'

// Issue 11, part 1: long-lived work learns that the drain began and that its deadline is near.

let harness: Harness | undefined
afterEach(async () => {
  await harness?.close()
  harness = undefined
})

describe('the drain notice', () => {
  it('drainSignal aborts at the drain proper, not during the not-ready delay; noticeSignal drainNoticeMs before the deadline', async () => {
    harness = await startHarness({ shutdownDelayMs: 200, drainTimeoutMs: 1_000, drainNoticeMs: 400 })
    const { app } = harness
    const { drainSignal, noticeSignal } = app.lameduck
    expect([drainSignal.aborted, noticeSignal.aborted]).toEqual([false, false])
    // Work that keeps the drain open until its notice, as a long stream would.
    const pending = request(`${harness.origin}/work?ms=900`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const signalled = Date.now()
    app.lameduck.shutdown('SIGTERM')
    await sleep(100)
    expect(drainSignal.aborted).toBe(false)
    await once(drainSignal, 'abort')
    const drainAt = Date.now() - signalled
    expect(noticeSignal.aborted).toBe(false)
    await once(noticeSignal, 'abort')
    const noticeAt = Date.now() - signalled
    // Delay 200 ms, then the drain; the notice 400 ms before its 1000 ms deadline. Generous bounds.
    expect(drainAt).toBeGreaterThanOrEqual(180)
    expect(noticeAt - drainAt).toBeGreaterThanOrEqual(550)
    expect(noticeAt - drainAt).toBeLessThan(1_000)
    expect((drainSignal.reason as { code?: string }).code).toBe('LAMEDUCK_DRAINING')
    expect((noticeSignal.reason as { code?: string }).code).toBe('LAMEDUCK_DRAIN_NOTICE')
    const { timeline } = app.lameduck.actor.getSnapshot().context
    expect(timeline.noticeAt).not.toBeNull()
    await (await pending).body.text()
  })

  it('a handler that stops at the notice and answers a retryable 503 ends the drain early, exit 0', async () => {
    harness = await startHarness({ drainTimeoutMs: 2_000, drainNoticeMs: 1_800 }, (app) => {
      // The documented pattern: long work watches the notice, then hands over with a retryable answer.
      app.get('/generate', async (req, reply) => {
        try {
          await sleep(60_000, undefined, { signal: req.lameduck.noticeSignal })
          return { done: true }
        } catch {
          return reply.code(503).header('retry-after', '1').send({ status: 'handed_over' })
        }
      })
    })
    const { app, exits } = harness
    const pending = request(`${harness.origin}/generate`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    const signalled = Date.now()
    app.lameduck.shutdown('SIGTERM')
    const response = await pending
    expect(response.statusCode).toBe(503)
    expect(response.headers['retry-after']).toBe('1')
    expect(response.headers.connection).toBe('close')
    expect(await response.body.json()).toEqual({ status: 'handed_over' })
    await app.lameduck.finished()
    // Told 1800 ms before the 2000 ms deadline: about 200 ms after the signal, far from the deadline.
    expect(Date.now() - signalled).toBeLessThan(1_500)
    expect(exits).toEqual([0])
    expect(app.lameduck.actor.getSnapshot().context.outcome).toBe('drained')
  })

  it('the per-request signals also abort when that request\'s client goes away, and only that request\'s', async () => {
    let seen: DrainNotice | undefined
    harness = await startHarness({}, (app) => {
      app.get('/watch', async (req) => {
        seen = req.lameduck
        await sleep(5_000, undefined, { signal: req.lameduck.drainSignal }).catch(() => {})
        return { done: true }
      })
    })
    const { app, origin } = harness
    const controller = new AbortController()
    void request(`${origin}/watch`, { signal: controller.signal }).catch(() => {})
    await waitUntil(() => seen !== undefined)
    const { drainSignal, noticeSignal } = seen!
    controller.abort()
    await waitUntil(() => drainSignal.aborted && noticeSignal.aborted)
    expect(drainSignal.reason).toMatchObject({ code: 'LAMEDUCK_REQUEST_CLOSED', message: 'the client went away before its answer was complete' })
    expect(app.lameduck.drainSignal.aborted).toBe(false)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 0)
  })

  it('a request that read its body and keeps working holds live signals, which the drain then aborts with lameduck\'s reason', async () => {
    const held: DrainNotice[] = []
    harness = await startHarness({ shutdownDelayMs: 0, drainTimeoutMs: 2_000, drainNoticeMs: 500 }, (app) => {
      app.post('/long', async (req) => {
        // The body is consumed before the handler runs: the request must not count as closed yet.
        held.push(req.lameduck)
        await sleep(400)
        return { bytes: JSON.stringify(req.body).length }
      })
    })
    const { app, origin } = harness
    const pending = request(`${origin}/long`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
    await waitUntil(() => held.length === 1)
    const { drainSignal, noticeSignal } = held[0]!
    expect([drainSignal.aborted, noticeSignal.aborted]).toEqual([false, false])
    app.lameduck.shutdown('SIGTERM')
    await waitUntil(() => drainSignal.aborted)
    expect((drainSignal.reason as { code?: string }).code).toBe('LAMEDUCK_DRAINING')
    expect(noticeSignal.aborted).toBe(false)
    expect((await pending).statusCode).toBe(200)
  })

  it('signals asked for after the drain began are born aborted; a request\'s signals abort once it has ended', async () => {
    let late: DrainNotice | undefined
    let ended: DrainNotice | undefined
    harness = await startHarness({ shutdownDelayMs: 0, drainTimeoutMs: 2_000 }, (app) => {
      app.get('/quick', async (req) => {
        ended = req.lameduck
        void ended.noticeSignal
        return { ok: true }
      })
      app.get('/late', async (req) => {
        await sleep(300)
        late = req.lameduck
        return { ok: true }
      })
    })
    const { app, origin } = harness
    expect((await request(`${origin}/quick`)).statusCode).toBe(200)
    // Its response closed: the signal taken during it aborted, so nothing is left registered for it.
    await waitUntil(() => ended!.noticeSignal.aborted)
    expect((ended!.noticeSignal.reason as Error).message).toBe('the request was answered')
    expect(app.lameduck.noticeSignal.aborted).toBe(false)
    const pending = request(`${origin}/late`)
    await waitUntil(() => app.lameduck.readiness().activeRequests === 1)
    app.lameduck.shutdown('SIGTERM')
    await (await pending).body.text()
    expect(late!.drainSignal.aborted).toBe(true)
    expect((late!.drainSignal.reason as { code?: string }).code).toBe('LAMEDUCK_DRAINING')
  })

  it('both signals abort when the lifecycle stops without a drain (fastify.close())', async () => {
    harness = await startHarness()
    const { drainSignal, noticeSignal } = harness.app.lameduck
    await harness.app.close()
    expect([drainSignal.aborted, noticeSignal.aborted]).toEqual([true, true])
  })
})
