import type { SnapshotFrom } from 'xstate'
import type { LifecycleMachine } from './lifecycle-machine.ts'
import type { DrainPhase, LifecycleState, ReadinessStatus, RejectReason } from './lifecycle-names.ts'

/**
 * Pure views of a lifecycle snapshot. Readiness, admission and the exit code are
 * computed here from the snapshot and nowhere else, so nothing can disagree with the machine.
 */
export type LifecycleSnapshot = SnapshotFrom<LifecycleMachine>

export function stateOf(snapshot: LifecycleSnapshot): LifecycleState {
  const value = snapshot.value
  return typeof value === 'string' ? (value as LifecycleState) : 'draining'
}

export function drainPhaseOf(snapshot: LifecycleSnapshot): DrainPhase | null {
  const value = snapshot.value
  return typeof value === 'object' ? (value.draining as DrainPhase) : null
}

/** `starting`, `running`, `draining.delay`, `draining.drain`, `stopped`: the granularity logs and spans use. */
export function phaseName(snapshot: LifecycleSnapshot): string {
  const phase = drainPhaseOf(snapshot)
  return phase ? `${stateOf(snapshot)}.${phase}` : stateOf(snapshot)
}

export interface Readiness {
  readonly ready: boolean
  readonly status: ReadinessStatus
  /** In flight in the replica: this process's, plus the other workers' in a cluster. */
  readonly activeRequests: number
  readonly maxConcurrency: number
  /** Upgraded connections (WebSockets) open. Not requests: they do not count toward `at_capacity`. */
  readonly openSessions: number
  /** In a cluster (lameduck/cluster): the workers serving, and how many the replica is meant to have. */
  readonly workers?: { readonly running: number; readonly expected: number }
}

/**
 * Readiness answers for the replica. Outside a cluster that is this process. In a cluster worker it is the
 * replica's state as the primary's machine decided it, and the counts of every worker: this one's own,
 * plus the others' as last reported. A worker leaving on its own (a reload, a fault) or still starting
 * still answers for the replica, which is what the platform routes to.
 */
export function readinessOf(snapshot: LifecycleSnapshot): Readiness {
  const { requests, sessions, replica } = snapshot.context
  const state = stateOf(snapshot)
  const inFlight = requests.inFlight + (replica?.peers.inFlight ?? 0)
  const replicaState = replica === null ? state : replica.state
  const status: ReadinessStatus =
    replicaState === 'running' ? (inFlight >= requests.maxConcurrency ? 'at_capacity' : 'ready') : replicaState
  return {
    ready: status === 'ready',
    status,
    activeRequests: inFlight,
    maxConcurrency: requests.maxConcurrency,
    openSessions: sessions.inFlight + (replica?.peers.sessions ?? 0),
    ...(replica === null ? {} : { workers: replica.workers }),
  }
}

/**
 * Whether a new request is served (`null`) or answered 503, and why.
 * Runs on every request, so the common case is one string comparison.
 */
export function admissionOf(snapshot: LifecycleSnapshot): RejectReason | null {
  const value = snapshot.value
  if (value === 'running' || (typeof value === 'object' && value.draining === 'delay')) {
    const { settings, requests, replica } = snapshot.context
    if (settings.overCapacity !== 'reject') return null
    // The replica's total: in a cluster, `maxConcurrency` is the replica's, shared by every worker.
    const inFlight = replica === null ? requests.inFlight : requests.inFlight + replica.peers.inFlight
    return inFlight >= requests.maxConcurrency ? 'at_capacity' : null
  }
  if (value === 'starting') return 'starting'
  if (value === 'stopped') return 'stopped'
  return 'draining'
}

/** The process exit code a stopped lifecycle calls for: 0 only when nothing was lost and nothing failed. */
export function exitCodeOf(snapshot: LifecycleSnapshot): number | null {
  switch (snapshot.context.outcome) {
    case null:
      return null
    case 'drained':
    case 'interrupted':
      // A drain started by an uncaught error went well, but the process still failed.
      return snapshot.context.error === null ? 0 : 1
    case 'timed_out':
    case 'forced':
    case 'startup_failed':
      return 1
  }
}
