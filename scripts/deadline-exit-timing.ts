/**
 * Measures how long the process takes to end after each deadline decision (issue 10): the second
 * signal, the drain deadline and the close timeout, with a handler that ignores aborts (sleep 5 s)
 * still pending. Run: `node scripts/deadline-exit-timing.ts [runs]` (Node 24 on PATH). Not a test.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ChildService, fixturesDir } from '../test/support/reliability-child.ts'

const runs = Number(process.argv[2] ?? 9)
const fixture = `${fixturesDir}process-exit-app.ts`

async function running(env: Record<string, string>): Promise<ChildService> {
  const child = new ChildService(fixture, env)
  await child.listening()
  await child.waitForPhase('running')
  return child
}

/** Milliseconds from `decidedAt()` to the child's exit, as the parent sees it. */
async function timeExit(child: ChildService, decidedAt: number): Promise<number> {
  await child.exited
  return Date.now() - decidedAt
}

const cases: Record<string, () => Promise<number>> = {
  'second signal -> exit': async () => {
    const child = await running({})
    void fetch(`${child.origin}/sleep?ms=5000`).catch(() => {})
    await sleep(100)
    child.signal('SIGTERM')
    await child.waitForPhase('draining.drain')
    const decided = Date.now()
    child.signal('SIGTERM')
    return timeExit(child, decided)
  },
  'drain deadline (300 ms) -> exit': async () => {
    const child = await running({ DRAIN_TIMEOUT_MS: '300' })
    void fetch(`${child.origin}/sleep?ms=5000`).catch(() => {})
    await sleep(100)
    child.signal('SIGTERM')
    await child.waitForPhase('draining.drain')
    return (await timeExit(child, Date.now())) - 300
  },
  'close timeout (300 ms) -> exit': async () => {
    const child = await running({ ONCLOSE_HANG: '1', CLOSE_TIMEOUT_MS: '300' })
    child.signal('SIGTERM')
    await child.waitForPhase('stopped')
    return (await timeExit(child, Date.now())) - 300
  },
}

for (const [name, measure] of Object.entries(cases)) {
  const times: number[] = []
  for (let i = 0; i < runs; i++) times.push(await measure())
  times.sort((a, b) => a - b)
  console.log(`${name}: ms after the decision, ${runs} runs sorted: ${times.join(', ')} (median ${times[Math.floor(runs / 2)]})`)
}
