import type { ReplicaView } from '../machine/lifecycle-machine.ts'
import type { LedgerCounts } from '../machine/request-ledger.ts'
import { drainPhaseOf, exitCodeOf, type LifecycleSnapshot, readinessOf, stateOf } from '../machine/snapshot-views.ts'
import type { DrainPhase, LifecycleState, ReadinessStatus, StopOutcome } from '../machine/lifecycle-names.ts'

/** One Server-Sent Event of the live view: everything the page shows, read off one snapshot. */
export interface LifecycleFrame {
  /** Deepest active state as a dotted path, e.g. `draining.drain`: the state the page highlights. */
  readonly path: string
  readonly state: LifecycleState
  readonly phase: DrainPhase | null
  readonly readiness: { readonly status: ReadinessStatus; readonly ready: boolean }
  readonly counts: LedgerCounts
  readonly signals: readonly string[]
  readonly outcome: StopOutcome | null
  readonly exitCode: number | null
  readonly settings: { readonly drainTimeoutMs: number; readonly shutdownDelayMs: number; readonly overCapacity: string }
  /** Wall-clock milliseconds of the lifecycle's milestones, `null` until they happen. */
  readonly timeline: {
    readonly createdAt: number
    readonly readyAt: number | null
    readonly signalAt: number | null
    readonly drainStartedAt: number | null
    readonly stoppedAt: number | null
  }
  /**
   * In a worker of lameduck's cluster: the replica as the primary last told this worker (docs/cluster.md),
   * its state, its workers (each one's phase) and the other workers' counts; `null` in a single process.
   */
  readonly replica: ReplicaView | null
  /** When this frame was read. */
  readonly at: number
}

export function lifecycleFrame(snapshot: LifecycleSnapshot, now: number = Date.now()): LifecycleFrame {
  const { context } = snapshot
  const state = stateOf(snapshot)
  const phase = drainPhaseOf(snapshot)
  const readiness = readinessOf(snapshot)
  return {
    path: phase ? `${state}.${phase}` : state,
    state,
    phase,
    readiness: { status: readiness.status, ready: readiness.ready },
    counts: context.requests.counts(),
    signals: [...context.signals],
    outcome: context.outcome,
    exitCode: exitCodeOf(snapshot),
    settings: {
      drainTimeoutMs: context.settings.drainTimeoutMs,
      shutdownDelayMs: context.settings.shutdownDelayMs,
      overCapacity: context.settings.overCapacity,
    },
    timeline: { ...context.timeline },
    replica: context.replica,
    at: now,
  }
}
