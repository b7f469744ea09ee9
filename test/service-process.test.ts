import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { Client, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { waitUntil } from './support/plugin-harness.ts'
import { builtEntry, repoRoot, type ServiceProcess, startService } from './support/service-process.ts'

let service: ServiceProcess | undefined
afterEach(() => service?.kill())

const lifecycleLines = (s: ServiceProcess) => s.logs.filter((l) => typeof l.lifecycle === 'string' && String(l.msg).startsWith('lifecycle:'))

/** Polls /ready until it reports `n` active requests; returns its body. */
async function activeRequests(s: ServiceProcess, n: number) {
  let body: Record<string, unknown> = {}
  for (let i = 0; i < 250 && body.active_requests !== n; i++) {
    body = (await (await request(`${s.origin}/ready`)).body.json()) as Record<string, unknown>
    if (body.active_requests !== n) await new Promise((r) => setTimeout(r, 20))
  }
  return body
}

/** POST /hello with a JSON body, as the platform would forward it. */
function hello(s: ServiceProcess, body: Record<string, unknown>, signal?: AbortSignal) {
  return request(`${s.origin}/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  })
}

async function ready(s: ServiceProcess) {
  await waitUntil(() => s.logs.some((l) => l.lifecycle === 'running'))
}

describe('the built service as a child process', () => {
  it('finishes in-flight work after SIGTERM, answers it with Connection: close, and exits 0 at once', async () => {
    service = await startService({ DRAIN_TIMEOUT_MS: '5000' })
    await ready(service)
    const pending = hello(service, { name: 'drain', work_ms: 300 })
    await activeRequests(service, 1)
    service.child.kill('SIGTERM')
    const response = await pending
    const answeredAt = performance.now()
    expect(response.statusCode).toBe(200)
    expect(response.headers.connection).toBe('close')
    expect(await response.body.json()).toEqual({ message: 'Hello, drain!' })
    const exit = await service.exited
    expect(exit.code).toBe(0)
    // "Within a few milliseconds" is the benchmark's business; here: far under the 1 s event-loop backstop.
    expect(exit.at - answeredAt).toBeLessThan(900)
    expect(service.stderr()).not.toContain('event loop still busy')
    const phases = lifecycleLines(service).map((l) => l.lifecycle)
    expect(phases).toEqual(['starting', 'running', 'draining.drain', 'stopped'])
    expect(lifecycleLines(service).at(-1)).toMatchObject({ outcome: 'drained', exit_code: 0, completed: 1, abandoned: 0 })
  })

  it('exits promptly on SIGTERM although an idle keep-alive connection is open', async () => {
    service = await startService()
    await ready(service)
    const client = new Client(service.origin, { keepAliveTimeout: 60_000 })
    const first = await client.request({ path: '/hello', method: 'POST' })
    expect(first.headers.connection).toBe('keep-alive')
    await first.body.text()
    const disconnected = once(client, 'disconnect')
    const signalledAt = performance.now()
    service.child.kill('SIGTERM')
    const exit = await service.exited
    await disconnected
    expect(exit.code).toBe(0)
    expect(exit.at - signalledAt).toBeLessThan(900)
    await client.destroy()
  })

  it('abandons work at the drain deadline, logs the abandoned count and exits 1', async () => {
    service = await startService({ DRAIN_TIMEOUT_MS: '300' })
    await ready(service)
    const pending = hello(service, { work_ms: 20_000 }).catch((error: Error) => error)
    await new Promise((r) => setTimeout(r, 100))
    const signalledAt = performance.now()
    service.child.kill('SIGTERM')
    const exit = await service.exited
    expect(exit.code).toBe(1)
    expect(exit.at - signalledAt).toBeLessThan(2_000)
    expect(await pending).toBeInstanceOf(Error)
    expect(lifecycleLines(service).at(-1)).toMatchObject({ lifecycle: 'stopped', outcome: 'timed_out', abandoned: 1, exit_code: 1 })
  })

  it('forces an immediate non-zero exit on a second signal, logging what was abandoned', async () => {
    service = await startService({ DRAIN_TIMEOUT_MS: '30000' })
    await ready(service)
    const pending = hello(service, { work_ms: 20_000 }).catch((error: Error) => error)
    await new Promise((r) => setTimeout(r, 100))
    service.child.kill('SIGINT')
    await service.waitForLog((l) => l.lifecycle === 'draining.drain')
    const secondAt = performance.now()
    service.child.kill('SIGTERM')
    const exit = await service.exited
    expect(exit.code).toBe(1)
    expect(exit.at - secondAt).toBeLessThan(1_000)
    expect(await pending).toBeInstanceOf(Error)
    expect(lifecycleLines(service).at(-1)).toMatchObject({ outcome: 'forced', abandoned: 1, signals: ['SIGINT', 'SIGTERM'] })
    expect(service.stderr()).not.toContain('ERR_SERVER_NOT_RUNNING')
  })

  it('returns the in-flight count to zero after aborted requests, then drains cleanly', async () => {
    service = await startService({ MAX_CONCURRENCY: '4' })
    await ready(service)
    const aborts = Array.from({ length: 3 }, () => new AbortController())
    const pending = aborts.map((controller) =>
      hello(service!, { work_ms: 5_000 }, controller.signal).catch(() => 'aborted'),
    )
    await activeRequests(service, 3)
    for (const controller of aborts) controller.abort()
    expect(await Promise.all(pending)).toEqual(['aborted', 'aborted', 'aborted'])
    expect(await activeRequests(service, 0)).toEqual({ status: 'ready', active_requests: 0, max_concurrency: 4, open_streams: 0, open_sessions: 0 })
    service.child.kill('SIGTERM')
    expect((await service.exited).code).toBe(0)
    expect(lifecycleLines(service).at(-1)).toMatchObject({ outcome: 'drained', aborted: 3, in_flight: 0 })
  })

  it('stops at once, exit 0, on SIGTERM during startup', async () => {
    service = await startService({ STARTUP_MS: '20000' })
    const ready503 = await request(`${service.origin}/ready`)
    expect(ready503.statusCode).toBe(503)
    expect(await ready503.body.json()).toMatchObject({ status: 'starting' })
    const signalledAt = performance.now()
    service.child.kill('SIGTERM')
    const exit = await service.exited
    expect(exit.code).toBe(0)
    expect(exit.at - signalledAt).toBeLessThan(900)
    expect(lifecycleLines(service).at(-1)).toMatchObject({ outcome: 'interrupted' })
  })

  it('exits 1 with a clear message when the startup work fails', async () => {
    const fixture = await startService({ EXPECT_NO_LISTEN: '1' }, `${repoRoot}/test/fixtures/failing-startup.ts`)
    service = fixture
    const exit = await fixture.exited
    expect(exit.code).toBe(1)
    expect(lifecycleLines(fixture).at(-1)).toMatchObject({
      lifecycle: 'stopped',
      outcome: 'startup_failed',
      error: 'could not load model weights from /models/missing.bin',
      exit_code: 1,
    })
  })

  it.each([
    ['MAX_CONCURRENCY', 'abc'],
    ['MAX_CONCURRENCY', '0'],
    ['PORT', '70000'],
    ['DRAIN_TIMEOUT_MS', ''],
    ['SHUTDOWN_DELAY_MS', '-5'],
    ['OVER_CAPACITY', 'drop'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses to start with %s=%j, naming the variable and the value', (name, value) => {
    const result = spawnSync(process.execPath, [builtEntry], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', PORT: '0', [name]: value },
      encoding: 'utf8',
      timeout: 10_000,
    })
    expect(result.status).toBe(78)
    expect(result.stderr).toContain(name)
    expect(result.stderr).toContain(JSON.stringify(value))
    expect(result.stdout).not.toContain('Server listening')
  })
})
