import { defer, distinctUntilChanged, firstValueFrom, from, last, map, merge, Observable, type Observable as Obs, shareReplay, startWith, takeUntil } from 'rxjs'
import type { Actor } from 'xstate'
import type { LifecycleMachine } from '../machine/lifecycle-machine.ts'
import type { LifecycleState } from '../machine/lifecycle-names.ts'
import type { LedgerEdge } from '../machine/request-ledger.ts'
import { type LifecycleSnapshot, type Readiness, readinessOf, stateOf } from '../machine/snapshot-views.ts'

export type LifecycleActor = Actor<LifecycleMachine>

export interface LifecycleStreams {
  /** Every snapshot, starting with the current one; completes when the lifecycle stops. */
  readonly snapshot$: Obs<LifecycleSnapshot>
  /** Top-level state changes, starting with the current state. */
  readonly state$: Obs<LifecycleState>
  /** Readiness whenever its status changes (including crossing capacity), starting with the current one. */
  readonly readiness$: Obs<Readiness>
  /** The last snapshot, once, when the lifecycle reaches `stopped` (or the actor is stopped). Replayed to late subscribers. */
  readonly stopped$: Obs<LifecycleSnapshot>
}

/** The actor seen through RxJS. Nothing here holds state of its own: every value is read off the actor. */
export function lifecycleStreams(actor: LifecycleActor): LifecycleStreams {
  // XState's observable does not replay the current snapshot to late subscribers.
  const snapshot$ = defer(() => from(actor).pipe(startWith(actor.getSnapshot())))

  // The actor's observable completes both at the final state and when the actor is stopped
  // from outside; either way the last snapshot is the one to report.
  const stopped$ = snapshot$.pipe(
    last(),
    map(() => actor.getSnapshot()),
    shareReplay({ bufferSize: 1, refCount: false }),
  )

  // Request counts change without snapshots (see RequestLedger); their edges arrive here.
  const ledgerEdge$ = new Observable<LedgerEdge>((subscriber) =>
    actor.getSnapshot().context.requests.subscribe((edge) => subscriber.next(edge)),
  ).pipe(takeUntil(stopped$))

  const state$ = snapshot$.pipe(map(stateOf), distinctUntilChanged())

  const readiness$ = merge(snapshot$, ledgerEdge$).pipe(
    map(() => readinessOf(actor.getSnapshot())),
    distinctUntilChanged((a, b) => a.status === b.status),
  )

  return { snapshot$, state$, readiness$, stopped$ }
}

/** Resolves with the final snapshot when the lifecycle stops. */
export function whenStopped(streams: LifecycleStreams): Promise<LifecycleSnapshot> {
  return firstValueFrom(streams.stopped$)
}
