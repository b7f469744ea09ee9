import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { chromium } from 'playwright-core'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { createActor } from 'xstate'
import { type LifecycleFrame, lifecycleFrame } from '../src/debug/lifecycle-frame.ts'
import { lifecycleMachine } from '../src/machine/lifecycle-machine.ts'
import { killServices, startService } from './live-view-process.ts'

afterEach(() => killServices())

// Debian's chromium, as test/live-view-browser.test.ts uses; .ci/run installs it when missing.
const chromiumPath = '/usr/bin/chromium'

/** Reads the live view's Server-Sent Events as they arrive. */
async function subscribe(url: string) {
  const response = await request(url)
  const frames: LifecycleFrame[] = []
  let buffer = ''
  const ended = (async () => {
    for await (const chunk of response.body) {
      buffer += chunk.toString()
      let cut
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut)
        buffer = buffer.slice(cut + 2)
        const data = /^data: (.*)$/m.exec(block)?.[1]
        if (/^event: lifecycle$/m.test(block) && data) frames.push(JSON.parse(data) as LifecycleFrame)
      }
    }
  })()
  return { response, frames, ended }
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

describe('the live view in a worker of a cluster', () => {
  it("shows the replica beside the worker's own machine: its state, its workers and their phases, the others' counts", async () => {
    // The shutdown delay keeps every worker in `draining.delay` for a second: the primary's list shows this
    // worker there well within it. Without one, the worker without the request stopped within milliseconds,
    // before a view listing it as draining reached it (CI saw that once).
    const service = await startService({ WORKERS: '2', LAMEDUCK_DEBUG: '1', MAX_CONCURRENCY: '4', DRAIN_TIMEOUT_MS: '10000', SHUTDOWN_DELAY_MS: '1000' })
    while ((await request(`${service.origin}/ready`).then((r) => (r.body.dump(), r.statusCode))) !== 200) await sleep(20)

    const stream = await subscribe(`${service.origin}/debug/lifecycle/events`)
    expect(stream.response.statusCode).toBe(200)
    const last = () => stream.frames.at(-1)
    await until(() => last()?.replica?.members?.every((m) => m.phase === 'running') === true && last()!.replica!.members!.length === 2, 'both workers running')
    const running = last()!
    expect(running.state).toBe('running')
    expect(running.replica).toMatchObject({ state: 'running', workers: { running: 2, expected: 2 }, peers: { inFlight: 0, sessions: 0, streams: 0 } })
    const members = running.replica!.members!
    expect(members.map((m) => m.id).sort()).toEqual(['1', '2'])
    expect(members.filter((m) => m.self)).toHaveLength(1)

    // One request in flight somewhere in the replica: this worker's own count, or the other's in `peers`.
    const slow = request(`${service.origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"work_ms":1500}' })
    await until(() => last()!.counts.inFlight + last()!.replica!.peers.inFlight === 1, 'the request in the frame')

    service.child.kill('SIGTERM')
    await until(() => last()!.replica?.state === 'draining', 'the replica draining')
    await until(() => last()!.replica!.members!.some((m) => m.self && m.phase.startsWith('draining')), 'this worker draining in the list')
    expect((await slow).statusCode).toBe(200)
    await stream.ended
    expect(last()!.state).toBe('stopped')
    expect((await service.exited()).code).toBe(0)
  })

  it('has no replica in a frame of a single process', () => {
    const actor = createActor(lifecycleMachine, {
      input: { maxConcurrency: 1, drainTimeoutMs: 1_000, shutdownDelayMs: 0, overCapacity: 'admit' },
    }).start()
    expect(lifecycleFrame(actor.getSnapshot()).replica).toBeNull()
    actor.stop()
  })

  it("draws the replica's section in a real browser: its state, workers serving, each worker's phase, this one marked", async () => {
    if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (see .ci/run)`)
    const service = await startService({ WORKERS: '2', LAMEDUCK_DEBUG: '1', MAX_CONCURRENCY: '4', DRAIN_TIMEOUT_MS: '10000' })
    while ((await request(`${service.origin}/ready`).then((r) => (r.body.dump(), r.statusCode))) !== 200) await sleep(20)
    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ['--no-sandbox', '--disable-gpu'] })
    try {
      const page = await browser.newPage()
      await page.goto(`${service.origin}/debug/lifecycle`)
      await page.waitForSelector('body[data-connection="live"][data-path="running"]')
      await page.locator('#replica-members li', { hasText: 'running' }).nth(1).waitFor()
      expect(await page.locator('#replica').isVisible()).toBe(true)
      expect(await page.locator('#replica-state').textContent()).toBe('running')
      expect(await page.locator('#replica-workers').textContent()).toBe('2 / 2')
      expect((await page.locator('#replica-members li').allTextContents()).sort()).toEqual([
        expect.stringMatching(/^worker 1: running/),
        expect.stringMatching(/^worker 2: running/),
      ])
      expect(await page.locator('#replica-members li.self').count()).toBe(1)

      service.child.kill('SIGTERM')
      await page.locator('#replica-state', { hasText: 'draining' }).waitFor()
      await page.waitForSelector('body[data-path="stopped"][data-connection="ended"]', { timeout: 10_000 })
    } finally {
      await browser.close()
    }
    expect((await service.exited()).code).toBe(0)
  }, 60_000)
})
