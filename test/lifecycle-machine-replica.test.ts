import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import type { ReplicaView } from '../src/machine/lifecycle-machine.ts'
import { admissionOf, drainPhaseOf, type LifecycleInput, lifecycleMachine, readinessOf, stateOf } from '../src/machine/index.ts'

// A worker's own machine in a clustered replica: what its primary tells it changes readiness and admission,
// and a signal passed on late is counted from the replica's moment.
const settings: LifecycleInput = { maxConcurrency: 4, drainTimeoutMs: 1_000, shutdownDelayMs: 500, overCapacity: 'reject' }

async function runningWorker(input: Partial<LifecycleInput> = {}) {
  const clock = new SimulatedClock()
  const actor = createActor(lifecycleMachine, { clock, input: { ...settings, now: () => clock.now(), ...input } })
  actor.start()
  await new Promise((resolve) => setImmediate(resolve))
  return { actor, clock, ledger: actor.getSnapshot().context.requests }
}

const view = (state: ReplicaView['state'], inFlight = 0, running = 2): ReplicaView => ({
  state,
  peers: { inFlight, sessions: 1, streams: 0 },
  workers: { running, expected: 2 },
})

describe('a cluster worker answers for the replica', () => {
  it('answers for itself until the primary has said anything', async () => {
    const { actor } = await runningWorker()
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ status: 'ready', activeRequests: 0 })
    expect(readinessOf(actor.getSnapshot()).workers).toBeUndefined()
  })

  it('counts the other workers toward the replica total and at_capacity', async () => {
    const { actor, ledger } = await runningWorker()
    ledger.begin({})
    actor.send({ type: 'replica.viewed', view: view('running', 2) })
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ status: 'ready', activeRequests: 3, openSessions: 1, workers: { running: 2, expected: 2 } })
    expect(admissionOf(actor.getSnapshot())).toBeNull()
    actor.send({ type: 'replica.viewed', view: view('running', 3) })
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ ready: false, status: 'at_capacity', activeRequests: 4 })
    // OVER_CAPACITY=reject decides on the replica's total, not this worker's one request.
    expect(admissionOf(actor.getSnapshot())).toBe('at_capacity')
  })

  it('says starting while the replica is, though this worker runs', async () => {
    const { actor } = await runningWorker()
    actor.send({ type: 'replica.viewed', view: view('starting', 0, 1) })
    expect(stateOf(actor.getSnapshot())).toBe('running')
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ ready: false, status: 'starting' })
    // Serving goes on: the platform decides where to route; a request that reaches us is served.
    expect(admissionOf(actor.getSnapshot())).toBeNull()
  })

  it('answers ready while it retires alone and the replica runs on', async () => {
    const { actor, ledger } = await runningWorker()
    ledger.begin({})
    actor.send({ type: 'replica.viewed', view: view('running', 0) })
    actor.send({ type: 'signal.received', signal: 'retire', lateByMs: 500 })
    expect(stateOf(actor.getSnapshot())).toBe('draining')
    expect(readinessOf(actor.getSnapshot()).status).toBe('ready')
  })

  it('says draining as soon as the replica is', async () => {
    const { actor } = await runningWorker()
    actor.send({ type: 'replica.viewed', view: view('draining', 0) })
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ ready: false, status: 'draining' })
  })
})

describe('a signal passed on late is counted from the replica signal', () => {
  it('shortens the shutdown delay by how late it came', async () => {
    const { actor, clock, ledger } = await runningWorker()
    ledger.begin({})
    actor.send({ type: 'signal.received', signal: 'SIGTERM', lateByMs: 300 })
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    clock.increment(199)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    clock.increment(1)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    // The timeline says when the replica got it, not when this worker heard.
    const { signalAt } = actor.getSnapshot().context.timeline
    expect(signalAt).toBe(-300)
  })

  it('shortens the drain by what it missed past the delay', async () => {
    const { actor, clock, ledger } = await runningWorker()
    ledger.begin({})
    actor.send({ type: 'signal.received', signal: 'SIGTERM', lateByMs: 700 })
    // 200 ms into the replica's drain already: 800 ms are left of the 1000 ms deadline.
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    clock.increment(799)
    expect(stateOf(actor.getSnapshot())).toBe('draining')
    clock.increment(1)
    expect(actor.getSnapshot().context.outcome).toBe('timed_out')
  })

  it('keeps every delay whole when the signal is this process own', async () => {
    const { actor, clock, ledger } = await runningWorker()
    ledger.begin({})
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    clock.increment(499)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    clock.increment(1)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
  })

  it("goes on with its own drain when the replica's drain or a retirement reaches it draining; the replica's second signal cuts it", async () => {
    const { actor, ledger } = await runningWorker({ shutdownDelayMs: 0 })
    const held = {}
    ledger.begin(held)
    actor.send({ type: 'signal.received', signal: 'retire', replicaSignal: 0 })
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    // The replica's first SIGTERM, and a retirement of a worker that drains after a fault: neither is "now".
    actor.send({ type: 'signal.received', signal: 'SIGTERM', replicaSignal: 1 })
    actor.send({ type: 'signal.received', signal: 'retire', replicaSignal: 0 })
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    expect(ledger.inFlight).toBe(1)
    expect(actor.getSnapshot().context.signals).toEqual(['retire', 'SIGTERM', 'retire'])
    actor.send({ type: 'signal.received', signal: 'SIGTERM', replicaSignal: 2 })
    expect(stateOf(actor.getSnapshot())).toBe('stopped')
    expect(actor.getSnapshot().context.outcome).toBe('forced')
  })

  it("takes a process's own second signal as \"now\", as outside a cluster", async () => {
    const { actor, ledger } = await runningWorker({ shutdownDelayMs: 0 })
    ledger.begin({})
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(actor.getSnapshot().context.outcome).toBe('forced')
  })
})
