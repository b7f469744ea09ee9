import { assign, setup } from 'xstate'
import type { LifecycleState, StopOutcome } from '../machine/lifecycle-names.ts'
import type { WorkerReport } from './replica-messages.ts'

/** When the replica is ready: once its first worker is, or once all of them are. */
export const replicaReadyRules = ['first', 'all'] as const
export type ReplicaReadyRule = (typeof replicaReadyRules)[number]

export interface ReplicaSettings {
  /** Workers the replica is meant to have. */
  readonly workers: number
  readonly readyWhen: ReplicaReadyRule
  /** Unexpected worker exits allowed within `restartWindowMs`; one more stops the replica (exit 1). */
  readonly maxRestarts: number
  readonly restartWindowMs: number
  /** The first restart's delay; each further crash in the window doubles it, up to 30 s. */
  readonly restartBackoffMs: number
}

/** One worker as the primary knows it: its process, and its lifecycle as last reported. */
export interface WorkerRecord {
  readonly id: string
  /** `forked` until its first report; `exited` once its process is gone. */
  readonly state: LifecycleState | 'forked' | 'exited'
  readonly phase: string
  readonly inFlight: number
  readonly sessions: number
  readonly streams: number
  /** Its lifecycle's own end, if it reported one: then nothing of it was lost. */
  readonly outcome: StopOutcome | null
  readonly reportedAt: number
  /** Told to leave alone (a reload): its replacement is serving. */
  readonly retiring: boolean
  /** The worker this one replaces in a reload. */
  readonly replaces: string | null
  readonly timing: WorkerReport['timing'] | null
}

export type ReplicaOutcome = 'drained' | 'timed_out' | 'forced' | 'failed'

export interface ReplicaContext {
  readonly settings: ReplicaSettings
  readonly now: () => number
  workers: Record<string, WorkerRecord>
  nextId: number
  /** When workers exited unexpectedly, within the restart window. */
  crashes: number[]
  /** Requests in flight in workers that died without finishing them. */
  lost: number
  /** The worst exit among workers; the primary exits with it. */
  exitCode: number
  signals: string[]
  signalAt: number | null
  outcome: ReplicaOutcome | null
  error: string | null
  /** A reload in progress: the workers still to replace, oldest first. */
  reloadQueue: string[] | null
}

export type ReplicaEvent =
  | { type: 'worker.reported'; id: string; report: WorkerReport }
  | { type: 'worker.exited'; id: string; code: number | null; signal: string | null }
  | { type: 'signal.received'; signal: string }
  | { type: 'reload.requested' }
  | { type: 'restart.due' }
  /** An uncaught exception or unhandled rejection in the primary: drain the replica, exit 1. */
  | { type: 'fault.raised'; error: string }

export interface ReplicaInput {
  readonly settings: ReplicaSettings
  readonly now?: () => number
}

const live = (context: ReplicaContext) => Object.values(context.workers).filter((w) => w.state !== 'exited')

/** Workers serving: running, and not on their way out. */
export const servingWorkers = (context: ReplicaContext): number =>
  live(context).filter((w) => w.state === 'running' && !w.retiring).length

/**
 * The places of the replica its live workers fill: a worker on its way out fills none, and a reload's
 * replacement fills the place of the worker it replaces until that one is retired.
 */
const filledPlaces = (context: ReplicaContext): number =>
  live(context).filter((w) => {
    if (w.retiring) return false
    const replaced = w.replaces === null ? undefined : context.workers[w.replaces]
    return replaced === undefined || replaced.state === 'exited' || replaced.retiring
  }).length

/** Whether the readiness rule holds: the replica can serve. */
export const replicaCanServe = (context: ReplicaContext): boolean =>
  context.settings.readyWhen === 'first' ? servingWorkers(context) >= 1 : servingWorkers(context) >= context.settings.workers

const backoffCapMs = 30_000

/** The delay before the next restart: doubled for each recent crash. */
export const restartDelayOf = (context: ReplicaContext): number =>
  Math.min(backoffCapMs, context.settings.restartBackoffMs * 2 ** Math.max(0, context.crashes.length - 1))

/** The drain's backstop: past it, a worker still alive is killed. Counted from the signal, from the workers' own settings. */
export const drainBackstopMs = (context: ReplicaContext): number => {
  let longest = 0
  for (const w of Object.values(context.workers)) {
    const t = w.timing ?? { shutdownDelayMs: 0, drainTimeoutMs: 30_000, closeTimeoutMs: 5_000 }
    longest = Math.max(longest, t.shutdownDelayMs + t.drainTimeoutMs + t.closeTimeoutMs)
  }
  // A worker past its own deadline exits within its backstop (1 s) by itself; this is for one that cannot.
  return longest + 2_000
}

/**
 * After a second signal: workers get this long to exit on their own (they abandon at once and exit within
 * their 50 ms backstop), then SIGKILL, and the replica stops without waiting to hear of their deaths: the
 * operator asked for "now", and the goal is the whole replica gone within 100 ms.
 */
export const forceGraceMs = 50

const newRecord = (id: string, replaces: string | null, now: number): WorkerRecord => ({
  id,
  state: 'forked',
  phase: 'forked',
  inFlight: 0,
  sessions: 0,
  streams: 0,
  outcome: null,
  reportedAt: now,
  retiring: false,
  replaces,
  timing: null,
})

/**
 * The replica's lifecycle, in the cluster's primary: one truth for every worker. Workers report their
 * own lifecycles (src/cluster/worker-link.ts); this machine decides what the replica is (starting until
 * its readiness rule holds, running, draining from the signal, stopped once every worker has exited),
 * when a crashed worker is replaced, when a reload moves on, and the exit code. The effects (fork,
 * message, kill) are the primary's (src/cluster/replica-primary.ts), provided by name.
 */
export const replicaMachine = setup({
  types: {
    context: {} as ReplicaContext,
    events: {} as ReplicaEvent,
    input: {} as ReplicaInput,
  },
  guards: {
    canServe: ({ context }) => replicaCanServe(context),
    allExited: ({ context }) => Object.keys(context.workers).length > 0 && live(context).length === 0,
    isSecondSignal: ({ context }) => context.signals.length > 0,
    crashLooping: ({ context }) => context.crashes.length > context.settings.maxRestarts,
    /** A worker told to leave (a reload), or one the replica never knew: nothing to replace. */
    exitWasExpected: ({ context, event }) => {
      if (event.type !== 'worker.exited') return true
      const worker = context.workers[event.id]
      return worker === undefined || worker.retiring
    },
    /** A worker that stopped by itself and cleanly (its own `shutdown()`): replaced, but not a crash. */
    exitWasClean: ({ context, event }) => {
      if (event.type !== 'worker.exited') return false
      const worker = context.workers[event.id]
      return worker !== undefined && worker.outcome !== null && event.code === 0
    },
    reloadStepDone: ({ context, event }) => {
      // The replacement is serving: the worker it replaces may go.
      if (event.type !== 'worker.reported' || event.report.state !== 'running') return false
      const worker = context.workers[event.id]
      return worker?.replaces != null && context.workers[worker.replaces]?.retiring === false
    },
  },
  delays: {
    restartDelay: ({ context }) => restartDelayOf(context),
    drainBackstop: ({ context }) => drainBackstopMs(context),
    forceGrace: forceGraceMs,
  },
  actions: {
    recordReport: assign({
      workers: ({ context, event }) => {
        if (event.type !== 'worker.reported') return context.workers
        const worker = context.workers[event.id]
        if (worker === undefined || worker.state === 'exited') return context.workers
        const r = event.report
        return {
          ...context.workers,
          [event.id]: {
            ...worker,
            state: r.state,
            phase: r.phase,
            inFlight: r.inFlight,
            sessions: r.sessions,
            streams: r.streams,
            outcome: r.outcome,
            reportedAt: context.now(),
            timing: r.timing,
          },
        }
      },
    }),
    recordExit: assign(({ context, event }) => {
      if (event.type !== 'worker.exited') return {}
      const worker = context.workers[event.id]
      if (worker === undefined) return {}
      // Died without finishing its lifecycle: what it had in flight is lost.
      const lost = worker.outcome === null ? worker.inFlight : 0
      // A reload's replacement that left before it took over: the worker it was to replace goes back first in line.
      const replaced = worker.replaces === null ? undefined : context.workers[worker.replaces]
      const requeue = context.reloadQueue !== null && replaced !== undefined && replaced.state !== 'exited' && !replaced.retiring
      return {
        workers: { ...context.workers, [event.id]: { ...worker, state: 'exited' as const } },
        lost: context.lost + lost,
        ...(requeue ? { reloadQueue: [replaced.id, ...context.reloadQueue!.filter((id) => id !== replaced.id)] } : {}),
      }
    }),
    /** In the replica's drain, every worker's exit counts: the primary exits with the worst. */
    recordDrainExitCode: assign({
      exitCode: ({ context, event }) => {
        if (event.type !== 'worker.exited') return context.exitCode
        const worker = context.workers[event.id]
        const failed = event.code !== 0 || (worker !== undefined && worker.outcome === null && worker.inFlight > 0)
        return failed ? Math.max(context.exitCode, 1) : context.exitCode
      },
    }),
    recordCrash: assign({
      crashes: ({ context }) => {
        const now = context.now()
        return [...context.crashes.filter((t) => now - t < context.settings.restartWindowMs), now]
      },
    }),
    recordCrashLoop: assign({
      outcome: 'failed' as const,
      exitCode: 1,
      error: ({ context }) =>
        `workers exited unexpectedly ${context.crashes.length} times within ${context.settings.restartWindowMs} ms (WORKER_MAX_RESTARTS ${context.settings.maxRestarts}): stopping the replica`,
    }),
    recordSignal: assign({
      signals: ({ context, event }) => (event.type === 'signal.received' ? [...context.signals, event.signal] : context.signals),
      signalAt: ({ context }) => context.signalAt ?? context.now(),
      reloadQueue: null,
    }),
    recordForced: assign({ outcome: 'forced' as const, exitCode: 1 }),
    recordFault: assign({
      exitCode: 1,
      error: ({ context, event }) => context.error ?? (event.type === 'fault.raised' ? `primary: ${event.error}` : null),
    }),
    /** Every live worker was just SIGKILLed: gone, with whatever it had not finished. */
    recordKilled: assign(({ context }) => {
      const workers = { ...context.workers }
      let lost = context.lost
      for (const worker of live(context)) {
        if (worker.outcome === null) lost += worker.inFlight
        workers[worker.id] = { ...worker, state: 'exited' }
      }
      return { workers, lost }
    }),
    recordBackstop: assign({ outcome: ({ context }) => context.outcome ?? ('timed_out' as const), exitCode: 1 }),
    recordStopped: assign({
      outcome: ({ context }) => context.outcome ?? (context.exitCode === 0 ? ('drained' as const) : ('failed' as const)),
    }),
    addWorker: assign(({ context }) => {
      // A reload's replacement that crashed left no gap: the worker it was to replace still serves.
      if (filledPlaces(context) >= context.settings.workers) return {}
      const id = String(context.nextId)
      return { nextId: context.nextId + 1, workers: { ...context.workers, [id]: newRecord(id, null, context.now()) } }
    }),
    addWorkers: assign(({ context }) => {
      const workers = { ...context.workers }
      let nextId = context.nextId
      for (let i = 0; i < context.settings.workers; i++) {
        const id = String(nextId++)
        workers[id] = newRecord(id, null, context.now())
      }
      return { workers, nextId }
    }),
    startReload: assign({
      reloadQueue: ({ context }) => live(context).filter((w) => !w.retiring && (w.replaces === null || context.workers[w.replaces]?.state === 'exited')).map((w) => w.id),
    }),
    /** The next worker of a reload gets its replacement (forked by the primary once the record exists). */
    reloadNext: assign(({ context }) => {
      const queue = context.reloadQueue
      if (queue === null) return {}
      // One step at a time: a replacement not yet serving, or a worker still retiring, holds the next.
      const busy = live(context).some((w) => w.retiring || (w.replaces !== null && context.workers[w.replaces]?.state !== 'exited'))
      if (busy) return {}
      const [next, ...rest] = queue.filter((id) => context.workers[id]?.state !== 'exited')
      if (next === undefined) return { reloadQueue: null }
      const id = String(context.nextId)
      return {
        reloadQueue: rest,
        nextId: context.nextId + 1,
        workers: { ...context.workers, [id]: newRecord(id, next, context.now()) },
      }
    }),
    retireReplaced: assign({
      workers: ({ context, event }) => {
        if (event.type !== 'worker.reported') return context.workers
        const old = context.workers[event.id]?.replaces
        if (old == null || context.workers[old] === undefined) return context.workers
        return { ...context.workers, [old]: { ...context.workers[old], retiring: true } }
      },
    }),
    // Effects the primary provides.
    spawnNew: () => {},
    signalWorkers: () => {},
    retireWorkers: () => {},
    killWorkers: () => {},
  },
}).createMachine({
  id: 'replica',
  initial: 'starting',
  context: ({ input }) => ({
    settings: input.settings,
    now: input.now ?? Date.now,
    workers: {},
    nextId: 1,
    crashes: [],
    lost: 0,
    exitCode: 0,
    signals: [],
    signalAt: null,
    outcome: null,
    error: null,
    reloadQueue: null,
  }),
  entry: ['addWorkers', 'spawnNew'],
  on: {
    'worker.reported': [
      { guard: 'reloadStepDone', actions: ['recordReport', 'retireReplaced', 'retireWorkers'] },
      { actions: 'recordReport' },
    ],
  },
  states: {
    starting: {
      always: { guard: 'canServe', target: 'running' },
      on: {
        'signal.received': { target: 'draining', actions: 'recordSignal' },
        'fault.raised': { target: 'draining', actions: 'recordFault' },
        'worker.exited': [
          { guard: 'exitWasExpected', actions: 'recordExit' },
          { guard: 'exitWasClean', actions: 'recordExit', target: 'restarting' },
          { actions: ['recordExit', 'recordCrash'], target: 'restarting' },
        ],
      },
    },
    running: {
      // A reload that a crash interrupted goes on once the replica serves again.
      entry: ['reloadNext', 'spawnNew'],
      on: {
        'signal.received': { target: 'draining', actions: 'recordSignal' },
        'fault.raised': { target: 'draining', actions: 'recordFault' },
        'reload.requested': { actions: ['startReload', 'reloadNext', 'spawnNew'] },
        'worker.exited': [
          { guard: 'exitWasExpected', actions: ['recordExit', 'reloadNext', 'spawnNew'] },
          { guard: 'exitWasClean', actions: 'recordExit', target: 'restarting' },
          { actions: ['recordExit', 'recordCrash'], target: 'restarting' },
        ],
      },
    },
    /** A worker crashed: replaced after the backoff, unless workers keep crashing. */
    restarting: {
      always: { guard: 'crashLooping', target: 'draining', actions: 'recordCrashLoop' },
      after: { restartDelay: { target: 'starting', actions: ['addWorker', 'spawnNew'] } },
      on: {
        'signal.received': { target: 'draining', actions: 'recordSignal' },
        'fault.raised': { target: 'draining', actions: 'recordFault' },
        'worker.exited': [
          { guard: 'exitWasExpected', actions: 'recordExit' },
          { guard: 'exitWasClean', actions: 'recordExit', target: 'restarting', reenter: true },
          { actions: ['recordExit', 'recordCrash'], target: 'restarting', reenter: true },
        ],
      },
    },
    draining: {
      entry: 'signalWorkers',
      always: { guard: 'allExited', target: 'stopped' },
      on: {
        'signal.received': { guard: 'isSecondSignal', target: '.forced', actions: ['recordSignal', 'recordForced', 'signalWorkers'] },
        'worker.exited': { actions: ['recordDrainExitCode', 'recordExit'] },
        'fault.raised': { actions: 'recordFault' },
      },
      initial: 'waiting',
      states: {
        waiting: {
          after: { drainBackstop: { actions: ['recordBackstop', 'killWorkers'] } },
        },
        forced: {
          after: { forceGrace: { target: '#replica.stopped', actions: ['killWorkers', 'recordKilled'] } },
        },
      },
    },
    stopped: { type: 'final', entry: 'recordStopped' },
  },
})

export type ReplicaMachine = typeof replicaMachine
