import { expect, it } from 'vitest'
import { runSoak } from '../scripts/soak.ts'

// A short soak in the suite; `npm run soak -- --duration=600` for the long one.
it('after 6 s of mixed traffic with aborts, garbage and errors: in-flight 0, /ready 200, clean drain, heap flat', async () => {
  const result = await runSoak({ durationS: 6, concurrency: 8, verbose: false })
  expect(result.unexpected).toEqual([])
  expect(result.requests).toBeGreaterThan(1_000)
  expect(result.outcomes.aborted ?? 0).toBeGreaterThan(0)
  expect(result.outcomes['throw 500'] ?? 0).toBeGreaterThan(0)
  expect(result.finalReady).toEqual({ status: 200, active_requests: 0 })
  expect(result.exitCode).toBe(0)
  expect(result.stoppedLog).toMatchObject({ outcome: 'drained', in_flight: 0, abandoned: 0 })
  expect(result.leakSuspected).toBe(false)
}, 60_000)
