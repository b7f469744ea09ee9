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
  readonly activeRequests: number
  readonly maxConcurrency: number
  /** Upgraded connections (WebSockets) open. Not requests: they do not count toward `at_capacity`. */
  readonly openSessions: number
}

export function readinessOf(snapshot: LifecycleSnapshot): Readiness {
  const requests = snapshot.context.requests
  const state = stateOf(snapshot)
  const status: ReadinessStatus =
    state === 'running' ? (requests.atCapacity ? 'at_capacity' : 'ready') : state
  return {
    ready: status === 'ready',
    status,
    activeRequests: requests.inFlight,
    maxConcurrency: requests.maxConcurrency,
    openSessions: snapshot.context.sessions.inFlight,
  }
}

/**
 * Whether a new request is served (`null`) or answered 503, and why.
 * Runs on every request, so the common case is one string comparison.
 */
export function admissionOf(snapshot: LifecycleSnapshot): RejectReason | null {
  const value = snapshot.value
  if (value === 'running' || (typeof value === 'object' && value.draining === 'delay')) {
    const { settings, requests } = snapshot.context
    return settings.overCapacity === 'reject' && requests.atCapacity ? 'at_capacity' : null
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
