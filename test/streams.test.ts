import Fastify from 'fastify'
import { filter, firstValueFrom, type Observable } from 'rxjs'
import { afterEach, describe, expect, it } from 'vitest'
import { createActor } from 'xstate'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { lifecycleMachine, type LifecycleInput } from '../src/machine/lifecycle-machine.ts'
import { drainPhaseOf, stateOf } from '../src/machine/snapshot-views.ts'
import { type LifecycleActor, lifecycleStreams, whenStopped } from '../src/streams/lifecycle-streams.ts'

const settings: LifecycleInput = { maxConcurrency: 2, drainTimeoutMs: 5_000, shutdownDelayMs: 0, overCapacity: 'admit' }

const actors: LifecycleActor[] = []
afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop()
})

function startedActor(input: Partial<LifecycleInput> = {}): LifecycleActor {
  const actor = createActor(lifecycleMachine, { input: { ...settings, ...input } })
  actors.push(actor)
  actor.start()
  return actor
}

async function running(actor: LifecycleActor): Promise<void> {
  await firstValueFrom(lifecycleStreams(actor).state$.pipe(filter((s) => s === 'running')))
}

/** Records what a stream emits and whether it completed, synchronously as it happens. */
function record<T>(stream: Observable<T>) {
  const seen = { values: [] as T[], completed: false, error: null as unknown }
  stream.subscribe({
    next: (value) => seen.values.push(value),
    complete: () => (seen.completed = true),
    error: (error) => (seen.error = error),
  })
  return seen
}

describe('snapshot$', () => {
  it('gives a late subscriber the current snapshot at once', async () => {
    const actor = startedActor()
    await running(actor)
    const seen = record(lifecycleStreams(actor).snapshot$)
    expect(seen.values.map(stateOf)).toEqual(['running'])
  })

  it('emits each snapshot, including both drain phases, and completes at stopped', async () => {
    const actor = startedActor({ shutdownDelayMs: 20 })
    await running(actor)
    const streams = lifecycleStreams(actor)
    const seen = record(streams.snapshot$)
    const work = {}
    actor.getSnapshot().context.requests.begin(work)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    await firstValueFrom(streams.snapshot$.pipe(filter((s) => drainPhaseOf(s) === 'drain')))
    actor.getSnapshot().context.requests.end(work, true)
    await whenStopped(streams)
    expect(seen.values.map((s) => [stateOf(s), drainPhaseOf(s)])).toEqual([
      ['running', null],
      ['draining', 'delay'],
      ['draining', 'drain'],
      ['stopped', null],
    ])
    expect(seen.completed).toBe(true)
  })

  it('completes a subscriber that arrives after the actor was stopped from outside', () => {
    const actor = startedActor()
    actor.stop()
    const seen = record(lifecycleStreams(actor).snapshot$)
    expect(seen.values.map((s) => s.status)).toEqual(['stopped'])
    expect(seen.completed).toBe(true)
  })
})

describe('state$', () => {
  it('starts with the current state and emits each top-level state once', async () => {
    const actor = createActor(lifecycleMachine, { input: { ...settings, shutdownDelayMs: 20 } })
    actors.push(actor)
    const seen = record(lifecycleStreams(actor).state$)
    expect(seen.values).toEqual(['starting'])
    actor.start()
    await running(actor)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    await whenStopped(lifecycleStreams(actor))
    // Not started, started, delay, drain: four snapshots say `starting` or `draining` twice; the stream once.
    expect(seen.values).toEqual(['starting', 'running', 'draining', 'stopped'])
    expect(seen.completed).toBe(true)
  })
})

describe('readiness$', () => {
  it('sees capacity crossed both ways although no snapshot is emitted for it', async () => {
    const actor = startedActor({ maxConcurrency: 2 })
    await running(actor)
    const { snapshot$, readiness$ } = lifecycleStreams(actor)
    const snapshots = record(snapshot$)
    const readiness = record(readiness$)
    const ledger = actor.getSnapshot().context.requests
    const [a, b] = [{}, {}]

    ledger.begin(a)
    expect(readiness.values.map((r) => r.status)).toEqual(['ready'])
    ledger.begin(b)
    expect(readiness.values.map((r) => r.status)).toEqual(['ready', 'at_capacity'])
    expect(readiness.values.at(-1)).toMatchObject({ ready: false, activeRequests: 2, maxConcurrency: 2 })
    ledger.end(b, true)
    expect(readiness.values.map((r) => r.status)).toEqual(['ready', 'at_capacity', 'ready'])
    ledger.end(a, true)
    // The counts moved four times and the machine took no transition: only the current snapshot was seen.
    expect(snapshots.values).toHaveLength(1)
    expect(readiness.values.map((r) => r.status)).toEqual(['ready', 'at_capacity', 'ready'])
  })

  it('starts with the current readiness, then says draining and stopped, and completes', async () => {
    const actor = startedActor({ maxConcurrency: 1 })
    await running(actor)
    const ledger = actor.getSnapshot().context.requests
    const work = {}
    ledger.begin(work)
    const readiness = record(lifecycleStreams(actor).readiness$)
    expect(readiness.values.map((r) => r.status)).toEqual(['at_capacity'])
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    // Capacity is crossed again in the drain, but draining is draining: no new value.
    ledger.end(work, true)
    await whenStopped(lifecycleStreams(actor))
    expect(readiness.values.map((r) => r.status)).toEqual(['at_capacity', 'draining', 'stopped'])
    expect(readiness.completed).toBe(true)
  })

  it('completes when the actor is stopped from outside, edges included', async () => {
    const actor = startedActor()
    await running(actor)
    const readiness = record(lifecycleStreams(actor).readiness$)
    actor.stop()
    expect(readiness.completed).toBe(true)
    expect(readiness.error).toBe(null)
  })
})

describe('stopped$ and whenStopped', () => {
  it('emits the final snapshot once, and replays it to late subscribers', async () => {
    const actor = startedActor()
    await running(actor)
    const streams = lifecycleStreams(actor)
    const early = record(streams.stopped$)
    expect(early.values).toEqual([])
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    const final = await whenStopped(streams)
    expect(final.status).toBe('done')
    expect(final.context.outcome).toBe('drained')
    expect(early.values).toEqual([final])
    expect(early.completed).toBe(true)
    const late = record(streams.stopped$)
    expect(late.values).toEqual([final])
  })

  it('resolves with a `stopped` snapshot when the actor is stopped from outside', async () => {
    const actor = startedActor()
    await running(actor)
    const stopped = whenStopped(lifecycleStreams(actor))
    actor.stop()
    const last = await stopped
    expect(last.status).toBe('stopped')
    expect(stateOf(last)).toBe('running')
  })

  // Regression: stopped$ used to complete empty here, so finished() rejected with EmptyError, unhandled.
  it('lets fastify.close() without a signal finish the plugin cleanly', async () => {
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    try {
      const app = Fastify()
      app.register(lameduck, { exit: false, signals: false })
      await app.ready()
      await app.close()
      const last = await app.lameduck.finished()
      expect(last.status).toBe('stopped')
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).toEqual([])
    } finally {
      process.off('unhandledRejection', onUnhandled)
    }
  })
})
