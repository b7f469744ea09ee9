import { describe, expect, it } from 'vitest'
import { createActor, SimulatedClock } from 'xstate'
import type { WorkerReport } from '../src/cluster/replica-messages.ts'
import { forceGraceMs, replicaMachine, type ReplicaSettings } from '../src/cluster/replica-machine.ts'
import { replicaStateOf, replicaViewFor } from '../src/cluster/replica-view.ts'

const settings: ReplicaSettings = { workers: 2, readyWhen: 'all', maxRestarts: 2, restartWindowMs: 60_000, restartBackoffMs: 100 }
const timing = { shutdownDelayMs: 0, drainTimeoutMs: 1_000, closeTimeoutMs: 500 }

function report(state: WorkerReport['state'], inFlight = 0, outcome: WorkerReport['outcome'] = null): WorkerReport {
  return { lameduck: 'report', state, phase: state, inFlight, sessions: 0, streams: 0, outcome, exitCode: outcome === null ? null : 0, timing }
}

/** A replica with effects recorded instead of done. */
function replica(overrides: Partial<ReplicaSettings> = {}) {
  const clock = new SimulatedClock()
  const effects: string[] = []
  const spawned = new Set<string>()
  const machine = replicaMachine.provide({
    actions: {
      // As the primary does: only records not yet forked (a record stays `forked` until its first report).
      spawnNew: ({ context }) => {
        const ids = Object.values(context.workers).filter((w) => w.state === 'forked' && !spawned.has(w.id)).map((w) => w.id)
        for (const id of ids) spawned.add(id)
        if (ids.length > 0) effects.push(`spawn ${ids.join(',')}`)
      },
      signalWorkers: ({ context }) => effects.push(`signal ${context.signals.length}`),
      retireWorkers: ({ context }) => effects.push(`retire ${Object.values(context.workers).filter((w) => w.retiring && w.state !== 'exited').map((w) => w.id).join(',')}`),
      killWorkers: () => effects.push('kill'),
    },
  })
  const actor = createActor(machine, { clock, input: { settings: { ...settings, ...overrides }, now: () => clock.now() } })
  actor.start()
  const send = (id: string, r: WorkerReport) => actor.send({ type: 'worker.reported', id, report: r })
  const exit = (id: string, code: number | null, signal: string | null = null) => actor.send({ type: 'worker.exited', id, code, signal })
  return { actor, clock, effects, send, exit, value: () => actor.getSnapshot().value, context: () => actor.getSnapshot().context }
}

describe('the replica machine (the primary)', () => {
  it('forks its workers and is starting until every one serves (WORKERS_READY=all)', () => {
    const r = replica()
    expect(r.effects).toEqual(['spawn 1,2'])
    r.send('1', report('running'))
    expect(replicaStateOf(r.actor.getSnapshot())).toBe('starting')
    r.send('2', report('running'))
    expect(r.value()).toBe('running')
  })

  it('is ready with its first serving worker under WORKERS_READY=first', () => {
    const r = replica({ readyWhen: 'first' })
    r.send('1', report('running'))
    expect(r.value()).toBe('running')
    expect(replicaViewFor(r.actor.getSnapshot(), '1').workers).toEqual({ running: 1, expected: 2 })
  })

  it('tells each worker the sum of the others', () => {
    const r = replica()
    r.send('1', report('running', 3))
    r.send('2', report('running', 5))
    expect(replicaViewFor(r.actor.getSnapshot(), '1').peers.inFlight).toBe(5)
    expect(replicaViewFor(r.actor.getSnapshot(), '2').peers.inFlight).toBe(3)
  })

  it('replaces a worker that crashed while running, after the backoff, and counts its requests lost', () => {
    const r = replica()
    r.send('1', report('running', 2))
    r.send('2', report('running'))
    r.exit('1', null, 'SIGKILL')
    expect(r.value()).toBe('restarting')
    expect(r.context().lost).toBe(2)
    expect(replicaStateOf(r.actor.getSnapshot())).toBe('starting')
    r.clock.increment(99)
    expect(r.effects).toEqual(['spawn 1,2'])
    r.clock.increment(1)
    expect(r.effects).toEqual(['spawn 1,2', 'spawn 3'])
    r.send('3', report('running'))
    expect(r.value()).toBe('running')
    // A crash while running is not the replica's exit code: it was replaced.
    expect(r.context().exitCode).toBe(0)
  })

  it('replaces a worker that stopped by itself cleanly, without counting it a crash', () => {
    const r = replica({ maxRestarts: 0 })
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.send('1', report('stopped', 0, 'drained'))
    r.exit('1', 0)
    expect(r.value()).toBe('restarting')
    expect(r.context().crashes).toEqual([])
    r.clock.increment(100)
    expect(r.effects.at(-1)).toBe('spawn 3')
  })

  it('doubles the backoff for each crash in the window', () => {
    const r = replica({ maxRestarts: 5 })
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.exit('1', 1)
    r.clock.increment(100)
    r.exit('3', 1)
    r.clock.increment(199)
    expect(r.effects.filter((e) => e.startsWith('spawn'))).toHaveLength(2)
    r.clock.increment(1)
    expect(r.effects.filter((e) => e.startsWith('spawn'))).toHaveLength(3)
  })

  it('stops the replica with exit 1 and a clear error when workers keep crashing', () => {
    const r = replica({ maxRestarts: 1 })
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.exit('1', 1)
    r.clock.increment(100)
    r.exit('3', 1)
    expect(r.value()).toEqual({ draining: 'waiting' })
    expect(r.context().error).toMatch(/exited unexpectedly 2 times within 60000 ms/)
    r.exit('2', 0)
    expect(r.value()).toBe('stopped')
    expect(r.context()).toMatchObject({ outcome: 'failed', exitCode: 1 })
  })

  it('drains every worker on the signal and stops once all have exited, with the worst code', () => {
    const r = replica()
    r.send('1', report('running'))
    r.send('2', report('running', 1))
    r.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    expect(r.effects).toContain('signal 1')
    expect(replicaStateOf(r.actor.getSnapshot())).toBe('draining')
    r.send('1', report('stopped', 0, 'drained'))
    r.exit('1', 0)
    expect(r.value()).toEqual({ draining: 'waiting' })
    // Worker 2 dies mid-drain with its request: lost, and the replica exits 1.
    r.exit('2', null, 'SIGKILL')
    expect(r.value()).toBe('stopped')
    expect(r.context()).toMatchObject({ exitCode: 1, lost: 1, outcome: 'failed' })
  })

  it('exits 0 when every worker drained', () => {
    const r = replica()
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    for (const id of ['1', '2']) {
      r.send(id, report('stopped', 0, 'drained'))
      r.exit(id, 0)
    }
    expect(r.context()).toMatchObject({ outcome: 'drained', exitCode: 0, lost: 0 })
  })

  it('forces the workers on a second signal and kills what is left after the grace', () => {
    const r = replica()
    r.send('1', report('running', 1))
    r.send('2', report('running', 1))
    r.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    r.actor.send({ type: 'signal.received', signal: 'SIGINT' })
    expect(r.effects).toContain('signal 2')
    expect(r.context()).toMatchObject({ outcome: 'forced', exitCode: 1 })
    r.clock.increment(forceGraceMs - 1)
    expect(r.effects).not.toContain('kill')
    r.clock.increment(1)
    expect(r.effects).toContain('kill')
    // Stopped at once: a SIGKILLed worker is gone; their requests are lost.
    expect(r.value()).toBe('stopped')
    expect(r.context()).toMatchObject({ outcome: 'forced', exitCode: 1, lost: 2 })
  })

  it('kills a worker that outlives every deadline', () => {
    const r = replica()
    r.send('1', report('running', 1))
    r.send('2', report('running'))
    r.actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    // Longest delay + drain + close timeout + 2 s.
    r.clock.increment(1_000 + 500 + 2_000 - 1)
    expect(r.effects).not.toContain('kill')
    r.clock.increment(1)
    expect(r.effects).toContain('kill')
    expect(r.context().exitCode).toBe(1)
  })

  it('reloads one worker at a time: fork, then retire the old once the new one serves', () => {
    const r = replica()
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.actor.send({ type: 'reload.requested' })
    expect(r.effects.at(-1)).toBe('spawn 3')
    r.send('3', report('running'))
    expect(r.effects.at(-1)).toBe('retire 1')
    // The replica never stops serving, and counts only the workers staying.
    expect(replicaViewFor(r.actor.getSnapshot(), '3')).toMatchObject({ state: 'running', workers: { running: 2 } })
    r.send('1', report('stopped', 0, 'drained'))
    r.exit('1', 0)
    expect(r.effects.at(-1)).toBe('spawn 4')
    r.send('4', report('running'))
    expect(r.effects.at(-1)).toBe('retire 2')
    r.exit('2', 0)
    expect(r.context().reloadQueue).toBeNull()
    expect(r.context().lost).toBe(0)
    expect(r.value()).toBe('running')
  })

  it('finishes a reload that a crash interrupted, so the next reload is not refused as one still running', () => {
    const r = replica()
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.actor.send({ type: 'reload.requested' })
    expect(r.effects.at(-1)).toBe('spawn 3')
    // Worker 2, next in line, crashes: the replica restarts a worker while the reload's first step goes on.
    r.exit('2', 1)
    expect(r.value()).toBe('restarting')
    r.clock.increment(100)
    expect(r.effects.at(-1)).toBe('spawn 4')
    r.send('3', report('running'))
    expect(r.effects.at(-1)).toBe('retire 1')
    // Worker 1 drains in milliseconds, long before a new worker is up: it exits while the replica is starting.
    r.exit('1', 0)
    r.send('4', report('running'))
    expect(r.value()).toBe('running')
    // Worker 2 is gone, replaced by 4: nothing is left to replace, and the reload is over.
    expect(r.context().reloadQueue).toBeNull()
    expect(r.effects.filter((e) => e.startsWith('spawn'))).toEqual(['spawn 1,2', 'spawn 3', 'spawn 4'])
  })

  it('puts a worker back in the reload when its replacement crashes before taking over', () => {
    const r = replica()
    r.send('1', report('running'))
    r.send('2', report('running'))
    r.actor.send({ type: 'reload.requested' })
    expect(r.effects.at(-1)).toBe('spawn 3')
    r.exit('3', 1)
    // A crash like any other (backoff, counted toward WORKER_MAX_RESTARTS), but it left no gap to fill:
    // workers 1 and 2 still serve. After the backoff the reload takes its step again: a new replacement for 1.
    expect(r.value()).toBe('restarting')
    expect(r.context().crashes).toHaveLength(1)
    r.clock.increment(100)
    expect(r.value()).toBe('running')
    expect(r.effects.at(-1)).toBe('spawn 4')
    expect(r.context().workers['4']!.replaces).toBe('1')
    r.send('4', report('running'))
    expect(r.effects.at(-1)).toBe('retire 1')
    r.exit('1', 0)
    expect(r.effects.at(-1)).toBe('spawn 5')
    r.send('5', report('running'))
    expect(r.effects.at(-1)).toBe('retire 2')
    r.exit('2', 0)
    expect(r.context().reloadQueue).toBeNull()
    // Two workers, as WORKERS says: the crashed replacement added none.
    expect(Object.values(r.context().workers).filter((w) => w.state !== 'exited').map((w) => w.id).sort()).toEqual(['4', '5'])
  })
})
