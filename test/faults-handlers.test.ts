import { afterEach, describe, expect, it } from 'vitest'
import { findLeak } from './support/reliability-leaks.ts'
import { rawExchange } from './support/reliability-raw-http.ts'
import { ChildService, fixturesDir } from './support/reliability-child.ts'

const repeats = 20
let child: ChildService | undefined
afterEach(async () => child?.stop())

async function start(env: Record<string, string> = {}): Promise<ChildService> {
  child = new ChildService(`${fixturesDir}faulty-service.ts`, { MAX_CONCURRENCY: '64', ...env })
  await child.listening()
  await child.waitForPhase('running')
  return child
}

async function inFlight(service: ChildService): Promise<number> {
  const body = (await (await fetch(`${service.origin}/ready`)).json()) as { active_requests: number }
  return body.active_requests
}

describe.each(['/throw', '/reject'])('a handler at %s', (path) => {
  it(`answers 500 JSON with nothing internal in it, ${repeats} times, releases every count, and still drains clean`, async () => {
    const service = await start()
    const responses = await Promise.all(Array.from({ length: repeats }, () => fetch(`${service.origin}${path}`)))
    for (const response of responses) {
      expect(response.status).toBe(500)
      const text = await response.text()
      expect(JSON.parse(text)).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
      expect(findLeak(text)).toBeNull()
    }
    expect(await inFlight(service)).toBe(0)
    // The details went to the log, not to the client (the log pipe may lag the sockets).
    const failures = () => service.logs.filter((line) => line.msg === 'request failed').length
    for (const deadline = Date.now() + 5_000; failures() < repeats && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(failures()).toBe(repeats)
    service.signal('SIGTERM')
    expect((await service.exit()).code).toBe(0)
    expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'drained', completed: repeats, aborted: 0 })
  })
})

describe('handlers that never answer', () => {
  it('are cut at the drain deadline: clients see a closed connection, exit 1, abandoned count logged', async () => {
    const service = await start({ DRAIN_TIMEOUT_MS: '800' })
    const hanging = Array.from({ length: 3 }, () =>
      rawExchange(service.port, { send: 'GET /hang HTTP/1.1\r\nHost: test\r\n\r\n', waitMs: 8_000 }),
    )
    const streaming = rawExchange(service.port, { send: 'GET /endless HTTP/1.1\r\nHost: test\r\n\r\n', waitMs: 8_000 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await inFlight(service)).toBe(4)
    const signalled = Date.now()
    service.signal('SIGTERM')
    const exit = await service.exit()
    expect(exit.code).toBe(1)
    expect(Date.now() - signalled).toBeLessThan(6_000)
    for (const exchange of await Promise.all(hanging)) {
      expect(exchange.statuses).toEqual([])
      expect(exchange.closedByServer).toBe(true)
    }
    const stream = await streaming
    expect(stream.statuses).toEqual([200])
    expect(stream.text).toContain('tick')
    expect(stream.closedByServer).toBe(true)
    expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'timed_out', abandoned: 4, in_flight: 0, exit_code: 1 })
  })
})
