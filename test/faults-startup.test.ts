import { afterEach, expect, it } from 'vitest'
import { ChildService, fixturesDir } from './support/reliability-child.ts'

let child: ChildService | undefined
afterEach(async () => child?.stop())

it('startup work that fails: one clear log line naming the cause, exit 1, promptly', async () => {
  child = new ChildService(`${fixturesDir}faulty-service.ts`, { STARTUP_FAULT: 'fail' })
  const exit = await child.exit(10_000)
  expect(exit.code).toBe(1)
  expect(exit.elapsedMs).toBeLessThan(8_000)
  const stopped = await child.waitForPhase('stopped')
  expect(stopped).toMatchObject({ outcome: 'startup_failed', exit_code: 1, error: 'model weights not found' })
  expect(child.stderr).toBe('')
})

// Regression: startup work that never settled kept the process in `starting` for ever,
// /ready 503, with nothing in the log: only the platform's own timeout ended it.
it('startup work that hangs is stopped at startupTimeoutMs: message names the limit, exit 1', async () => {
  child = new ChildService(`${fixturesDir}faulty-service.ts`, { STARTUP_FAULT: 'hang', STARTUP_TIMEOUT_MS: '700' })
  await child.listening()
  const ready = await fetch(`${child.origin}/ready`)
  expect(ready.status).toBe(503)
  expect(await ready.json()).toMatchObject({ status: 'starting' })
  const exit = await child.exit(10_000)
  expect(exit.code).toBe(1)
  expect(exit.elapsedMs).toBeLessThan(8_000)
  expect(await child.waitForPhase('stopped')).toMatchObject({
    outcome: 'startup_failed',
    error: 'startup did not finish within 700 ms',
  })
})

it('a signal during a hanging startup stops it at once, exit 0 (nothing was in flight)', async () => {
  child = new ChildService(`${fixturesDir}faulty-service.ts`, { STARTUP_FAULT: 'hang' })
  await child.listening()
  await child.waitForPhase('starting')
  const before = Date.now()
  child.signal('SIGTERM')
  const exit = await child.exit(5_000)
  expect(exit.code).toBe(0)
  expect(Date.now() - before).toBeLessThan(5_000)
  expect(await child.waitForPhase('stopped')).toMatchObject({ outcome: 'interrupted', signals: ['SIGTERM'] })
})

it('the port already taken: a fatal log line and exit 1, not a hang', async () => {
  const first = new ChildService(`${fixturesDir}faulty-service.ts`)
  try {
    await first.listening()
    child = new ChildService(`${fixturesDir}faulty-service.ts`, { PORT: String(first.port) })
    const exit = await child.exit(10_000)
    expect(exit.code).toBe(1)
  } finally {
    await first.stop()
  }
})
