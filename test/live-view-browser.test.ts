import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BrowserContext, chromium, type Page } from 'playwright-core'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killServices, startService } from './live-view-process.ts'

// Debian's chromium; .ci/run installs it when missing.
const chromiumPath = '/usr/bin/chromium'
const shots = fileURLToPath(new URL('../.tmp/live-view/', import.meta.url))

let context: BrowserContext
let profile: string

beforeAll(async () => {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} is missing: apt-get install -y chromium (see .ci/run)`)
  profile = mkdtempSync(join(tmpdir(), 'lameduck-chromium-'))
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 760 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  mkdirSync(shots, { recursive: true })
}, 60_000)

afterAll(async () => {
  killServices()
  await context?.close()
  if (profile) rmSync(profile, { recursive: true, force: true })
})

const text = (page: Page, selector: string) => page.locator(selector).textContent()

describe('the live view in a real browser', () => {
  it('shows the counts moving and a drain live, from running to stopped', async () => {
    const service = await startService({
      LAMEDUCK_DEBUG: '1',
      MAX_CONCURRENCY: '2',
      SHUTDOWN_DELAY_MS: '300',
      DRAIN_TIMEOUT_MS: '10000',
    })
    const page = await context.newPage()
    const elsewhere: string[] = []
    page.on('request', (r) => {
      if (!r.url().startsWith(service.origin)) elsewhere.push(r.url())
    })

    await page.goto(`${service.origin}/debug/lifecycle`)
    await page.waitForSelector('body[data-connection="live"][data-path="running"]')
    expect(await page.getAttribute('g[data-state="running"]', 'class')).toContain('current')
    // A single process is the replica: no replica section (test/live-view-cluster.test.ts has one).
    expect(await page.locator('#replica').isHidden()).toBe(true)

    // A request in flight: the counts move without any transition.
    const inFlight = request(`${service.origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 2_000 }),
    })
    await page.locator('#in-flight', { hasText: /^1 \/ 2$/ }).waitFor()

    // SIGTERM with the request in flight: not-ready delay, then the drain proper.
    service.child.kill('SIGTERM')
    await page.waitForSelector('body[data-path="draining.delay"]')
    expect(await text(page, '#readiness')).toBe('draining')
    await page.waitForSelector('body[data-path="draining.drain"]')
    expect(await page.getAttribute('g[data-state="draining.drain"]', 'class')).toContain('current')
    expect(await page.getAttribute('g[data-state="draining"]', 'class')).toContain('active')
    expect(await page.getAttribute('g[data-state="running"]', 'class')).not.toContain('current')
    expect(await text(page, '#in-flight')).toBe('1 / 2')
    await page.screenshot({ path: join(shots, 'draining.png'), fullPage: true })

    // The request completes, the drain ends, the stream ends with the service.
    await page.waitForSelector('body[data-path="stopped"][data-connection="ended"]', { timeout: 10_000 })
    expect(await text(page, '#outcome')).toBe('drained')
    expect(await text(page, '#exit-code')).toBe('exit code 0')
    expect(await text(page, '#in-flight')).toBe('0 / 2')
    expect(await text(page, '#completed')).toBe('1')
    expect(await page.getAttribute('g[data-state="stopped"]', 'class')).toContain('current')
    const log = await page.locator('#log li').allTextContents()
    expect(log.map((line) => line.split(/\s+/)[1])).toEqual(['running', 'draining.delay', 'draining.drain', 'stopped'])
    await page.screenshot({ path: join(shots, 'stopped.png'), fullPage: true })

    const response = await inFlight
    expect(response.statusCode).toBe(200)
    await response.body.dump()
    expect((await service.exited()).code).toBe(0)
    expect(elsewhere).toEqual([])
    await page.close()
  })
})
