import { assign, fromCallback, fromPromise, setup } from 'xstate'
import type { DrainPhase, LifecycleState, OverCapacityPolicy, StopOutcome } from './lifecycle-names.ts'
import { RequestLedger } from './request-ledger.ts'

export interface LifecycleSettings {
  /** In-flight requests at which the service reports `at_capacity`. */
  readonly maxConcurrency: number
  /** Longest the drain proper may take before remaining work is abandoned. */
  readonly drainTimeoutMs: number
  /** How long before the drain deadline long-lived work is told to hand over. Default 0 (at the deadline). */
  readonly drainNoticeMs?: number
  /** Not-ready-but-serving time after the signal, before the listener closes. */
  readonly shutdownDelayMs: number
  /** What happens to a request arriving at capacity. */
  readonly overCapacity: OverCapacityPolicy
  /** Longest the startup work may take; then the service stops (startup_failed). Default: no limit. */
  readonly startupTimeoutMs?: number
}

export interface LifecycleInput extends LifecycleSettings {
  /** Wall clock for the timeline; tests pass a simulated one. */
  readonly now?: () => number
}

export interface LifecycleTimeline {
  createdAt: number
  readyAt: number | null
  signalAt: number | null
  drainStartedAt: number | null
  /** When long-lived work was told the deadline is near (`drainNoticeMs` before it). */
  noticeAt: number | null
  stoppedAt: number | null
}

/**
 * What the rest of the replica looks like, as the cluster's primary last told this worker (lameduck/cluster).
 * `null` outside a cluster: the process is the replica.
 */
export interface ReplicaView {
  /** The replica's lifecycle state, decided by the primary's machine. */
  readonly state: 'starting' | 'running' | 'draining' | 'stopped'
  /** The other workers' counts, summed (each at most one report old). */
  readonly peers: { readonly inFlight: number; readonly sessions: number; readonly streams: number }
  /** Workers serving now, and how many the replica is meant to have. */
  readonly workers: { readonly running: number; readonly expected: number }
  /** Each live worker's phase as last reported (`forked` before its first report), for the live view; `self`: the one told. */
  readonly members?: readonly { readonly id: string; readonly phase: string; readonly self: boolean }[]
}

export interface LifecycleContext {
  readonly settings: LifecycleSettings
  readonly requests: RequestLedger
  /** Upgraded connections (WebSockets): not requests, but the drain waits for them to close too. */
  readonly sessions: RequestLedger
  /**
   * During the drain proper: connections whose request was on its way when the drain began (a head partly
   * read, bytes still in the kernel, a connection accepted but silent). The drain waits for each to
   * become a request (served, `Connection: close`) or to go; the transport bounds how long.
   */
  readonly arrivals: RequestLedger
  readonly now: () => number
  timeline: LifecycleTimeline
  /** The signal that started the drain, then the one that forced it, if any. */
  signals: string[]
  /**
   * How long ago the replica's signal came when this process heard it (a cluster worker told by its primary):
   * the delay, the notice and the deadline are counted from the replica's signal, once. 0 outside a cluster.
   */
  signalLateByMs: number
  /** The rest of the replica (lameduck/cluster); `null` outside a cluster. */
  replica: ReplicaView | null
  inFlightAtSignal: number | null
  outcome: StopOutcome | null
  error: string | null
}

export type LifecycleEvent =
  /**
   * `lateByMs`: how long ago the signal reached the replica (a cluster worker's primary); default 0.
   * `replicaSignal`, in a cluster worker: which of the replica's signals it is (0: this worker retires alone,
   * 1: the replica drains, 2 or more: "now"). A worker already draining on its own takes a 0 or a 1 as no
   * second signal.
   */
  | { type: 'signal.received'; signal: string; lateByMs?: number; replicaSignal?: number }
  /** The cluster primary's latest view of the rest of the replica. */
  | { type: 'replica.viewed'; view: ReplicaView }
  | { type: 'requests.idle' }
  /** An uncaught exception or unhandled rejection: drain and exit non-zero. */
  | { type: 'fault.raised'; origin: string; error: string }

/** Startup work: resolves when the service can take traffic. Aborted if a signal stops the service first. */
export type StartupWork = (signal: AbortSignal) => Promise<void>

/** Wraps startup work as the `startup` actor; its AbortSignal fires if the actor is stopped first. */
export const startupActor = (work: StartupWork) => fromPromise<void>(({ signal }) => work(signal))

/** How far past the end of the shutdown delay the signal was heard: that much of the drain is already gone. */
const lateIntoDrain = (context: LifecycleContext): number =>
  Math.max(0, context.signalLateByMs - context.settings.shutdownDelayMs)

const errorMessage = (error: unknown): string =>
  error instanceof Error ? error.message : String(error)

// 2^31 - 1: the longest delay a Node timer honours; "no limit" for startup.
const maxTimerMs = 2_147_483_647

export const lifecycleMachine = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
  },
  actors: {
    // The service's startup work; the HTTP layer provides the real one with `startupActor()`.
    startup: startupActor(async () => {}),
    // Only alive during the drain proper: the ledger's "in-flight reached zero" edge becomes an event.
    watchIdle: fromCallback<LifecycleEvent, readonly RequestLedger[]>(({ input, sendBack }) => {
      const stops = input.map((ledger) =>
        ledger.subscribe((edge) => {
          if (edge === 'idle') sendBack({ type: 'requests.idle' })
        }),
      )
      return () => {
        for (const stop of stops) stop()
      }
    }),
  },
  guards: {
    isIdle: ({ context }) =>
      context.requests.inFlight === 0 && context.sessions.inFlight === 0 && context.arrivals.inFlight === 0,
    hasNoShutdownDelay: ({ context }) => context.settings.shutdownDelayMs - context.signalLateByMs <= 0,
    /** The replica's drain (or a retirement) reaching a worker that drains already: it asks nothing more. */
    joinsOwnDrain: ({ event }) => event.type === 'signal.received' && event.replicaSignal !== undefined && event.replicaSignal < 2,
  },
  delays: {
    // Counted from the replica's signal: a worker that heard it late (its primary's message waited behind a
    // busy event loop) shortens its delay, then its drain, by what it missed.
    shutdownDelay: ({ context }) => Math.max(0, context.settings.shutdownDelayMs - context.signalLateByMs),
    startupTimeout: ({ context }) => context.settings.startupTimeoutMs ?? maxTimerMs,
    drainTimeout: ({ context }) => Math.max(0, context.settings.drainTimeoutMs - lateIntoDrain(context)),
    drainNotice: ({ context }) =>
      Math.max(0, context.settings.drainTimeoutMs - (context.settings.drainNoticeMs ?? 0) - lateIntoDrain(context)),
  },
  actions: {
    recordReady: assign({
      timeline: ({ context }) => ({ ...context.timeline, readyAt: context.now() }),
    }),
    recordStartupFailure: assign({
      outcome: 'startup_failed',
      error: ({ event }) => errorMessage((event as { error?: unknown }).error),
    }),
    recordStartupTimeout: assign({
      outcome: 'startup_failed',
      error: ({ context }) => `startup did not finish within ${context.settings.startupTimeoutMs} ms`,
    }),
    recordFault: assign({
      // The first fault is the cause; later ones are logged by the HTTP layer.
      error: ({ context, event }) =>
        context.error ?? (event.type === 'fault.raised' ? `${event.origin}: ${event.error}` : null),
    }),
    recordStartupFault: assign({
      outcome: 'startup_failed',
      error: ({ event }) => (event.type === 'fault.raised' ? `${event.origin}: ${event.error}` : 'fault'),
    }),
    recordInterruptedStartup: assign({
      outcome: 'interrupted',
      signals: ({ context, event }) =>
        event.type === 'signal.received' ? [...context.signals, event.signal] : context.signals,
    }),
    recordSignal: assign({
      signals: ({ context, event }) =>
        event.type === 'signal.received' ? [...context.signals, event.signal] : context.signals,
      inFlightAtSignal: ({ context }) => context.requests.inFlight,
      signalLateByMs: ({ event }) => (event.type === 'signal.received' ? Math.max(0, event.lateByMs ?? 0) : 0),
      timeline: ({ context, event }) => ({
        ...context.timeline,
        signalAt: context.now() - (event.type === 'signal.received' ? Math.max(0, event.lateByMs ?? 0) : 0),
      }),
    }),
    recordReplicaView: assign({
      replica: ({ context, event }) => (event.type === 'replica.viewed' ? event.view : context.replica),
    }),
    recordDrainStarted: assign({
      timeline: ({ context }) => ({ ...context.timeline, drainStartedAt: context.now() }),
    }),
    recordNotice: assign({
      timeline: ({ context }) => ({ ...context.timeline, noticeAt: context.now() }),
    }),
    recordDrained: assign({ outcome: 'drained' }),
    abandonAtDeadline: assign(({ context }) => {
      context.requests.abandon()
      context.sessions.abandon()
      context.arrivals.abandon()
      return { outcome: 'timed_out' as const }
    }),
    recordJoinedSignal: assign({
      signals: ({ context, event }) => (event.type === 'signal.received' ? [...context.signals, event.signal] : context.signals),
    }),
    abandonOnSecondSignal: assign(({ context, event }) => {
      context.requests.abandon()
      context.sessions.abandon()
      context.arrivals.abandon()
      return {
        outcome: 'forced' as const,
        signals: event.type === 'signal.received' ? [...context.signals, event.signal] : context.signals,
      }
    }),
    recordStopped: assign({
      timeline: ({ context }) => ({ ...context.timeline, stoppedAt: context.now() }),
    }),
    // Effects the HTTP layer provides (machine.provide); the pure machine only names the moment.
    stopAccepting: () => {},
    /** Provided by the HTTP layer: says that this worker goes on with its own drain. */
    noteJoinedDrain: () => {},
  },
}).createMachine({
  id: 'lifecycle',
  initial: 'starting',
  // In every state: what the rest of the replica is doing changes readiness, never this process's state.
  on: {
    'replica.viewed': { actions: 'recordReplicaView' },
  },
  context: ({ input }) => {
    const now = input.now ?? Date.now
    return {
      settings: Object.freeze({
        maxConcurrency: input.maxConcurrency,
        drainTimeoutMs: input.drainTimeoutMs,
        drainNoticeMs: input.drainNoticeMs ?? 0,
        shutdownDelayMs: input.shutdownDelayMs,
        overCapacity: input.overCapacity,
        ...(input.startupTimeoutMs === undefined ? {} : { startupTimeoutMs: input.startupTimeoutMs }),
      }),
      requests: new RequestLedger(input.maxConcurrency),
      sessions: new RequestLedger(Number.MAX_SAFE_INTEGER),
      arrivals: new RequestLedger(Number.MAX_SAFE_INTEGER),
      now,
      timeline: { createdAt: now(), readyAt: null, signalAt: null, drainStartedAt: null, noticeAt: null, stoppedAt: null },
      signals: [],
      signalLateByMs: 0,
      replica: null,
      inFlightAtSignal: null,
      outcome: null,
      error: null,
    }
  },
  states: {
    starting: {
      invoke: {
        src: 'startup',
        onDone: { target: 'running', actions: 'recordReady' },
        onError: { target: 'stopped', actions: 'recordStartupFailure' },
      },
      after: {
        startupTimeout: { target: 'stopped', actions: 'recordStartupTimeout' },
      },
      on: {
        // Nothing is in flight yet: stop at once rather than finish starting up.
        'signal.received': { target: 'stopped', actions: 'recordInterruptedStartup' },
        'fault.raised': { target: 'stopped', actions: 'recordStartupFault' },
      },
    },
    running: {
      on: {
        'signal.received': { target: 'draining', actions: 'recordSignal' },
        // The process may be damaged: stop taking work, finish what is in flight, exit non-zero.
        'fault.raised': { target: 'draining', actions: ['recordSignal', 'recordFault'] },
      },
    },
    draining: {
      initial: 'delay',
      on: {
        'signal.received': [
          // A cluster worker draining on its own (retired, faulted) when its replica's drain begins: it goes on.
          { guard: 'joinsOwnDrain', actions: ['recordJoinedSignal', 'noteJoinedDrain'] },
          // A second signal means "now": abandon what is left.
          { target: 'stopped', actions: 'abandonOnSecondSignal' },
        ],
        // A further fault does not: the drain deadline already bounds what is left.
        'fault.raised': { actions: 'recordFault' },
      },
      states: {
        delay: {
          always: { guard: 'hasNoShutdownDelay', target: 'drain' },
          after: { shutdownDelay: 'drain' },
        },
        drain: {
          entry: ['recordDrainStarted', 'stopAccepting'],
          always: { guard: 'isIdle', target: '#lifecycle.stopped', actions: 'recordDrained' },
          invoke: { src: 'watchIdle', input: ({ context }) => [context.requests, context.sessions, context.arrivals] },
          on: {
            'requests.idle': { guard: 'isIdle', target: '#lifecycle.stopped', actions: 'recordDrained' },
          },
          after: {
            // Targetless: long-lived work is told to hand over; the drain goes on.
            drainNotice: { actions: 'recordNotice' },
            drainTimeout: { target: '#lifecycle.stopped', actions: 'abandonAtDeadline' },
          },
        },
      },
    },
    stopped: {
      type: 'final',
      entry: 'recordStopped',
    },
  },
})

export type LifecycleMachine = typeof lifecycleMachine
export type { DrainPhase, LifecycleState }
