import { afterEach, describe, expect, it } from 'vitest'
import { ChildService, fixturesDir } from './support/reliability-child.ts'

let child: ChildService | undefined
afterEach(async () => child?.stop())

async function start(env: Record<string, string> = {}): Promise<ChildService> {
  child = new ChildService(`${fixturesDir}faulty-service.ts`, { DRAIN_TIMEOUT_MS: '5000', MAX_CONCURRENCY: '8', ...env })
  await child.listening()
  await child.waitForPhase('running')
  return child
}

describe.each([
  ['uncaughtException', '/uncaught'],
  ['unhandledRejection', '/unhandled'],
] as const)('%s in a handler', (origin, path) => {
  // Regression: with no process-level handler, Node died on the spot: no drain, the
  // in-flight request was cut, and nothing in the log said why the replica vanished.
  it('is logged, the drain still serves the in-flight request, and the exit is non-zero', async () => {
    const service = await start()
    const inFlight = fetch(`${service.origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'survivor', work_ms: 600 }),
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
    const trigger = await fetch(`${service.origin}${path}`)
    expect(trigger.status).toBe(200)

    const fault = await service.waitForLog((line) => line.origin === origin)
    expect(fault.level).toBe(60)
    expect(JSON.stringify(fault.err)).toMatch(origin === 'uncaughtException' ? /thrown from a timer/ : /nobody awaited this/)
    await service.waitForPhase('draining.drain')

    const survivor = await inFlight
    expect(survivor.status).toBe(200)
    expect(survivor.headers.get('connection')).toBe('close')
    expect(await survivor.json()).toEqual({ message: 'Hello, survivor!' })

    const exit = await service.exit()
    expect(exit.code).toBe(1)
    const stopped = await service.waitForPhase('stopped')
    expect(stopped).toMatchObject({ outcome: 'drained', exit_code: 1, in_flight: 0 })
    expect(String(stopped.error)).toContain(origin)
  })
})

it('a storm of uncaught exceptions during the drain does not force it or crash the process', async () => {
  const service = await start()
  const inFlight = fetch(`${service.origin}/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ work_ms: 800 }),
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  // Five faults; the first starts the drain and the later ones arrive while it runs.
  const triggers = await Promise.allSettled(Array.from({ length: 5 }, () => fetch(`${service.origin}/uncaught`)))
  expect(triggers.filter((t) => t.status === 'fulfilled').length).toBeGreaterThanOrEqual(1)
  expect((await inFlight).status).toBe(200)
  const exit = await service.exit()
  expect(exit.code).toBe(1)
  expect(service.logs.filter((line) => line.origin === 'uncaughtException').length).toBeGreaterThanOrEqual(1)
  expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'drained' })
})

// Regression: an uncaught error after `stopped` (here in an onClose hook's timer) was logged,
// but the drain's exit code 0 stood: the process failed and said it had not.
it('an uncaught exception while the server closes after a clean drain: logged, exit 1', async () => {
  const service = await start({ ONCLOSE_THROW: '1' })
  service.signal('SIGTERM')
  const exit = await service.exit()
  expect(exit.code).toBe(1)
  expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'drained' })
  const fault = await service.waitForLog((line) => line.origin === 'uncaughtException')
  expect(fault.level).toBe(60)
  expect(JSON.stringify(fault.err)).toContain('thrown while closing')
})
