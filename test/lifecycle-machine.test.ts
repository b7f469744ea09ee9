import { describe, expect, it } from 'vitest'
import { createActor, fromPromise, SimulatedClock } from 'xstate'
import {
  admissionOf,
  drainPhaseOf,
  exitCodeOf,
  type LifecycleInput,
  lifecycleMachine,
  readinessOf,
  startupActor,
  stateOf,
} from '../src/machine/index.ts'

// Requests as the ledger sees them: opaque objects (the HTTP layer uses its responses).
const item_a = { request: 'a' }
const item_b = { request: 'b' }
const item_never_started = { request: 'never-started' }
const item_slow = { request: 'slow' }

const settings: LifecycleInput = {
  maxConcurrency: 2,
  drainTimeoutMs: 1_000,
  shutdownDelayMs: 0,
  overCapacity: 'admit',
}

function start(input: Partial<LifecycleInput> = {}, machine = lifecycleMachine) {
  const clock = new SimulatedClock()
  const actor = createActor(machine, { clock, input: { ...settings, now: () => clock.now(), ...input } })
  actor.start()
  const ledger = actor.getSnapshot().context.requests
  return { actor, clock, ledger }
}

/** Resolves pending promise actors (startup) without touching the simulated clock. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

async function running(input: Partial<LifecycleInput> = {}) {
  const started = start(input)
  await settle()
  expect(stateOf(started.actor.getSnapshot())).toBe('running')
  return started
}

describe('starting', () => {
  it('is not ready and rejects work until the startup work resolves', async () => {
    let finish!: () => void
    const machine = lifecycleMachine.provide({
      actors: { startup: fromPromise(() => new Promise<void>((resolve) => (finish = resolve))) },
    })
    const { actor } = start({}, machine)
    await settle()
    expect(readinessOf(actor.getSnapshot()).status).toBe('starting')
    expect(admissionOf(actor.getSnapshot())).toBe('starting')
    finish()
    await settle()
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ ready: true, status: 'ready' })
    expect(actor.getSnapshot().context.timeline.readyAt).not.toBeNull()
  })

  it('stops with the error and exit code 1 when the startup work fails', async () => {
    const machine = lifecycleMachine.provide({
      actors: { startup: startupActor(async () => Promise.reject(new Error('model file missing'))) },
    })
    const { actor } = start({}, machine)
    await settle()
    const snapshot = actor.getSnapshot()
    expect(snapshot.status).toBe('done')
    expect(snapshot.context).toMatchObject({ outcome: 'startup_failed', error: 'model file missing' })
    expect(exitCodeOf(snapshot)).toBe(1)
  })

  it('stops at once on a signal during startup and aborts the startup work', async () => {
    let aborted = false
    const machine = lifecycleMachine.provide({
      actors: {
        startup: startupActor(
          (signal) =>
            new Promise<void>(() => {
              signal.addEventListener('abort', () => (aborted = true))
            }),
        ),
      },
    })
    const { actor } = start({}, machine)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    const snapshot = actor.getSnapshot()
    expect(snapshot.status).toBe('done')
    expect(snapshot.context.outcome).toBe('interrupted')
    expect(exitCodeOf(snapshot)).toBe(0)
    expect(aborted).toBe(true)
  })
})

describe('arrivals (issue 18)', () => {
  // The transport's stopAccepting puts connections whose request may be on its way into `arrivals` as the
  // drain proper begins; the machine must not call the drain done while one is left.
  const connection = { socket: 'arriving' }
  const withArrival = lifecycleMachine.provide({
    actions: { stopAccepting: ({ context }) => context.arrivals.begin(connection) },
  })

  it('a drain with nothing in flight but an arrival waits for it, and ends when it becomes a request that ends', async () => {
    const { actor, ledger } = start({}, withArrival)
    await settle()
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(actor.getSnapshot().value).toEqual({ draining: 'drain' })
    // The admission hook begins the request first, then ends the arrival.
    ledger.begin(item_a)
    actor.getSnapshot().context.arrivals.end(connection, true)
    expect(actor.getSnapshot().value).toEqual({ draining: 'drain' })
    ledger.end(item_a, true)
    expect(actor.getSnapshot().context.outcome).toBe('drained')
  })

  it('an arrival that goes without a request ends the drain too; one left at the deadline is abandoned', async () => {
    const settled = start({}, withArrival)
    await settle()
    settled.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    settled.actor.getSnapshot().context.arrivals.end(connection, false)
    expect(settled.actor.getSnapshot().context.outcome).toBe('drained')

    const stuck = start({}, withArrival)
    await settle()
    stuck.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    stuck.clock.increment(settings.drainTimeoutMs)
    expect(stuck.actor.getSnapshot().context).toMatchObject({ outcome: 'timed_out' })
    expect(stuck.actor.getSnapshot().context.arrivals.abandoned).toBe(1)
  })
})

describe('running', () => {
  it('reports at_capacity at max concurrency and ready again below it', async () => {
    const { actor, ledger } = await running()
    ledger.begin(item_a)
    expect(readinessOf(actor.getSnapshot()).status).toBe('ready')
    ledger.begin(item_b)
    expect(readinessOf(actor.getSnapshot())).toMatchObject({ ready: false, status: 'at_capacity', activeRequests: 2 })
    ledger.end(item_a, true)
    expect(readinessOf(actor.getSnapshot()).status).toBe('ready')
  })

  it('admits at capacity under the admit policy and rejects under the reject policy', async () => {
    const admitting = await running({ overCapacity: 'admit' })
    admitting.ledger.begin(item_a)
    admitting.ledger.begin(item_b)
    expect(admissionOf(admitting.actor.getSnapshot())).toBeNull()

    const rejecting = await running({ overCapacity: 'reject' })
    rejecting.ledger.begin(item_a)
    expect(admissionOf(rejecting.actor.getSnapshot())).toBeNull()
    rejecting.ledger.begin(item_b)
    expect(admissionOf(rejecting.actor.getSnapshot())).toBe('at_capacity')
  })

  it('counts a request released twice only once, and never goes below zero', async () => {
    const { ledger } = await running()
    ledger.begin(item_a)
    expect(ledger.end(item_a, true)).toBe(true)
    expect(ledger.end(item_a, false)).toBe(false)
    expect(ledger.end(item_never_started, true)).toBe(false)
    expect(ledger.counts()).toMatchObject({ inFlight: 0, completed: 1, aborted: 0 })
  })
})

describe('draining', () => {
  it('with no delay goes straight to the drain proper and stops when nothing is in flight', async () => {
    const { actor } = await running()
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    const snapshot = actor.getSnapshot()
    expect(snapshot.status).toBe('done')
    expect(snapshot.context).toMatchObject({ outcome: 'drained', signals: ['SIGTERM'], inFlightAtSignal: 0 })
    expect(exitCodeOf(snapshot)).toBe(0)
  })

  it('runs the stopAccepting effect once, on entering the drain proper', async () => {
    let calls = 0
    const machine = lifecycleMachine.provide({ actions: { stopAccepting: () => void calls++ } })
    const { actor, clock } = start({ shutdownDelayMs: 500 }, machine)
    await settle()
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(calls).toBe(0)
    clock.increment(500)
    expect(calls).toBe(1)
  })

  it('stays not ready but serving through the shutdown delay', async () => {
    const { actor, clock, ledger } = await running({ shutdownDelayMs: 500 })
    ledger.begin(item_a)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    expect(readinessOf(actor.getSnapshot()).status).toBe('draining')
    expect(admissionOf(actor.getSnapshot())).toBeNull()
    clock.increment(499)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    // Work finishing during the delay does not cut the delay short.
    ledger.end(item_a, true)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('delay')
    clock.increment(1)
    expect(actor.getSnapshot().context.outcome).toBe('drained')
  })

  it('rejects new work in the drain proper and ends with the last in-flight request', async () => {
    const { actor, ledger } = await running()
    ledger.begin(item_a)
    ledger.begin(item_b)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    expect(admissionOf(actor.getSnapshot())).toBe('draining')
    expect(actor.getSnapshot().context.inFlightAtSignal).toBe(2)
    ledger.end(item_a, true)
    expect(stateOf(actor.getSnapshot())).toBe('draining')
    ledger.end(item_b, false)
    const snapshot = actor.getSnapshot()
    expect(stateOf(snapshot)).toBe('stopped')
    expect(snapshot.context.outcome).toBe('drained')
    expect(ledger.counts()).toMatchObject({ completed: 1, aborted: 1, abandoned: 0 })
  })

  it('abandons what is left at the drain deadline, measured from the start of the drain proper', async () => {
    const { actor, clock, ledger } = await running({ shutdownDelayMs: 200, drainTimeoutMs: 1_000 })
    ledger.begin(item_slow)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    clock.increment(200)
    expect(drainPhaseOf(actor.getSnapshot())).toBe('drain')
    clock.increment(999)
    expect(stateOf(actor.getSnapshot())).toBe('draining')
    clock.increment(1)
    const snapshot = actor.getSnapshot()
    expect(snapshot.context.outcome).toBe('timed_out')
    expect(exitCodeOf(snapshot)).toBe(1)
    expect(ledger.counts()).toMatchObject({ inFlight: 0, abandoned: 1 })
    // The abandoned request's socket closing later is not counted a second time.
    expect(ledger.end(item_slow, false)).toBe(false)
    expect(ledger.aborted).toBe(0)
    const { timeline } = snapshot.context
    expect(timeline.stoppedAt! - timeline.drainStartedAt!).toBe(1_000)
    expect(timeline.drainStartedAt! - timeline.signalAt!).toBe(200)
  })

  it('forces the stop on a second signal, abandoning what is in flight', async () => {
    const { actor, ledger } = await running()
    ledger.begin(item_a)
    actor.send({ type: 'signal.received', signal: 'SIGINT' })
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    const snapshot = actor.getSnapshot()
    expect(snapshot.context).toMatchObject({ outcome: 'forced', signals: ['SIGINT', 'SIGTERM'] })
    expect(ledger.abandoned).toBe(1)
    expect(exitCodeOf(snapshot)).toBe(1)
  })

  it('forces the stop on a second signal during the shutdown delay too', async () => {
    const { actor } = await running({ shutdownDelayMs: 10_000 })
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(actor.getSnapshot().context.outcome).toBe('forced')
  })

  it('leaves no timer running once stopped', async () => {
    const { actor, clock, ledger } = await running({ drainTimeoutMs: 1_000 })
    ledger.begin(item_a)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    ledger.end(item_a, true)
    expect(actor.getSnapshot().context.outcome).toBe('drained')
    // The cancelled drain deadline must not fire later and rewrite the outcome.
    clock.increment(10_000)
    expect(actor.getSnapshot().context.outcome).toBe('drained')
  })

  it('reports stopped, and rejects work, once stopped', async () => {
    const { actor } = await running()
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(readinessOf(actor.getSnapshot()).status).toBe('stopped')
    expect(admissionOf(actor.getSnapshot())).toBe('stopped')
  })
})
