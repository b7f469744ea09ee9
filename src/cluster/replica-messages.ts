import type { ReplicaView } from '../machine/lifecycle-machine.ts'
import type { LifecycleState, StopOutcome } from '../machine/lifecycle-names.ts'

/**
 * The IPC between a lameduck cluster's primary and its workers. Every message carries `lameduck`, so an
 * application's own `process.send` traffic passes by untouched.
 */

/** Worker to primary: this worker's lifecycle, as of now. */
export interface WorkerReport {
  readonly lameduck: 'report'
  readonly state: LifecycleState
  /** `draining.delay` or `draining.drain` while draining. */
  readonly phase: string
  readonly inFlight: number
  readonly sessions: number
  readonly streams: number
  /** Set once stopped: how it ended, and the exit code that follows. */
  readonly outcome: StopOutcome | null
  readonly exitCode: number | null
  /** The worker's drain settings: the primary's backstop for a worker that never ends is counted from them. */
  readonly timing: { readonly shutdownDelayMs: number; readonly drainTimeoutMs: number; readonly closeTimeoutMs: number }
}

/** Worker to primary: "answer once you have handed me everything you were holding for me". */
export interface SyncRequest {
  readonly lameduck: 'sync'
  readonly n: number
}

export type WorkerMessage = WorkerReport | SyncRequest

/** Primary to worker: the replica as the primary's machine sees it. */
export interface ViewMessage {
  readonly lameduck: 'view'
  readonly view: ReplicaView
}

/**
 * Primary to worker: a signal reached the replica `sentAt` (the primary's clock, the same host's). The
 * first starts the drain, a second forces the stop; `retireSignal` tells this worker alone to leave (a reload).
 */
export interface SignalMessage {
  readonly lameduck: 'signal'
  readonly signal: string
  readonly sentAt: number
  /**
   * Which of the replica's signals this is (1: the drain, 2 or more: "now"); absent for `retireSignal`. A
   * worker already draining on its own (retired, faulted) counts the replica's first as no second signal.
   */
  readonly n?: number
  /**
   * The replica's drain span (or, for `retireSignal`, the reload's) as a W3C `traceparent`, when the primary
   * traces: the worker's drain is its child.
   */
  readonly traceparent?: string
}

export interface SyncReply {
  readonly lameduck: 'synced'
  readonly n: number
}

export type PrimaryMessage = ViewMessage | SignalMessage | SyncReply

/** The signal name a retiring worker's lifecycle records: its drain closes its listener at once, whatever the setting. */
export const retireSignal = 'retire'

/** Set by lameduck's primary in each worker's environment: the worker's id in the replica. */
export const workerIdEnv = 'LAMEDUCK_WORKER_ID'

export function isLameduckMessage(message: unknown): message is { lameduck: string } {
  return typeof message === 'object' && message !== null && typeof (message as { lameduck?: unknown }).lameduck === 'string'
}
