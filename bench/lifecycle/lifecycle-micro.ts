import { performance } from 'node:perf_hooks'
import { createActor } from 'xstate'
import { lifecycleMachine } from '../../src/machine/lifecycle-machine.ts'
import type { RequestLedger } from '../../src/machine/request-ledger.ts'
import { admissionOf } from '../../src/machine/snapshot-views.ts'
import { naiveLifecycleMachine } from './naive-machine.ts'

/**
 * The per-request lifecycle work of each design, without HTTP, in ns per request:
 * (a) lameduck: read the snapshot, admissionOf(), ledger.begin(), ledger.end();
 * (b) naive: send `request.started`, getSnapshot().matches('running'), send `request.finished`.
 * Neither actor has observers (lameduck's plugin has one; a naive plugin would be
 * notified twice per request), so (b) is a floor. Rounds alternate; medians are printed as JSON.
 */
const perRound = Number(process.env.MICRO_REQUESTS ?? 200_000)
const rounds = Number(process.env.MICRO_ROUNDS ?? 7)
const settings = { maxConcurrency: 1, drainTimeoutMs: 30_000, shutdownDelayMs: 0, overCapacity: 'admit' } as const

const ledgerActor = createActor(lifecycleMachine, { input: settings }).start()
const naiveActor = createActor(naiveLifecycleMachine, { input: settings }).start()
await new Promise((resolve) => setTimeout(resolve, 10)) // both startups resolve: `running`
if (!ledgerActor.getSnapshot().matches('running') || !naiveActor.getSnapshot().matches('running')) {
  throw new Error('micro benchmark: an actor did not reach running')
}

function ledgerDesign(n: number): number {
  const ledger = ledgerActor.getSnapshot().context.requests as RequestLedger<object>
  let admitted = 0
  for (let i = 0; i < n; i++) {
    const item = {}
    if (admissionOf(ledgerActor.getSnapshot()) === null) {
      ledger.begin(item)
      admitted++
      ledger.end(item, true)
    }
  }
  return admitted
}

function naiveDesign(n: number): number {
  let admitted = 0
  for (let i = 0; i < n; i++) {
    const item = {}
    naiveActor.send({ type: 'request.started' })
    if (naiveActor.getSnapshot().matches('running') && item) admitted++
    naiveActor.send({ type: 'request.finished' })
  }
  return admitted
}

function timeNs(run: (n: number) => number): number {
  const start = performance.now()
  const admitted = run(perRound)
  const ns = ((performance.now() - start) * 1e6) / perRound
  if (admitted !== perRound) throw new Error(`micro benchmark: admitted ${admitted} of ${perRound}`)
  return ns
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
timeNs(ledgerDesign) // warm both up before measuring
timeNs(naiveDesign)
const ledger: number[] = []
const naive: number[] = []
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) {
    ledger.push(timeNs(ledgerDesign))
    naive.push(timeNs(naiveDesign))
  } else {
    naive.push(timeNs(naiveDesign))
    ledger.push(timeNs(ledgerDesign))
  }
}
const counts = (ledgerActor.getSnapshot().context.requests as RequestLedger).counts()
process.stdout.write(
  `${JSON.stringify({ requestsPerRound: perRound, rounds, ledgerNs: median(ledger), naiveNs: median(naive), ledgerCompleted: counts.completed, naiveInFlight: naiveActor.getSnapshot().context.inFlight })}\n`,
)
