import {
  catchError,
  defer,
  distinctUntilChanged,
  firstValueFrom,
  from,
  map,
  merge,
  Observable as RxObservable,
  of,
  shareReplay,
  startWith,
  takeLast,
  takeUntil,
} from './rx.ts'
// Public types name RxJS's own entry point, which every consumer's TypeScript resolves.
import type { Observable } from 'rxjs'
import type { Actor } from 'xstate'
import type { LifecycleMachine } from '../machine/lifecycle-machine.ts'
import type { LifecycleState } from '../machine/lifecycle-names.ts'
import type { LedgerEdge } from '../machine/request-ledger.ts'
import { type LifecycleSnapshot, type Readiness, readinessOf, stateOf } from '../machine/snapshot-views.ts'

export type LifecycleActor = Actor<LifecycleMachine>

export interface LifecycleStreams {
  /** Every snapshot, starting with the current one; completes when the actor stops. */
  readonly snapshot$: Observable<LifecycleSnapshot>
  /** Top-level state changes, starting with the current state. */
  readonly state$: Observable<LifecycleState>
  /** Readiness whenever its status changes (including crossing capacity), starting with the current one. */
  readonly readiness$: Observable<Readiness>
  /**
   * The last snapshot, once, when the actor stops: on reaching `stopped` (status `done`), on a
   * failure (`error`) or when stopped from outside by `fastify.close()` (`stopped`). Replayed to late subscribers.
   */
  readonly stopped$: Observable<LifecycleSnapshot>
}

/** The actor seen through RxJS. Nothing here holds state of its own: every value is read off the actor. */
export function lifecycleStreams(actor: LifecycleActor): LifecycleStreams {
  const snapshot$ = defer(() => {
    const current = actor.getSnapshot()
    // XState completes a late subscriber only when the actor is `done`; one stopped from outside
    // would leave it waiting forever. A finished actor is just its last snapshot.
    if (current.status !== 'active') return of(current)
    // XState's observable does not replay the current snapshot to late subscribers. A failed actor
    // errors its observers; here its error snapshot is the last value instead.
    return from(actor).pipe(
      startWith(current),
      catchError(() => of(actor.getSnapshot())),
    )
  })

  // Read at completion, not from the last value: `actor.stop()` completes observers without a new snapshot.
  const stopped$ = snapshot$.pipe(
    takeLast(1),
    map(() => actor.getSnapshot()),
    shareReplay({ bufferSize: 1, refCount: false }),
  )

  // Request counts change without snapshots (see RequestLedger); their edges arrive here.
  const ledgerEdge$ = new RxObservable<LedgerEdge>((subscriber) =>
    actor.getSnapshot().context.requests.subscribe((edge) => subscriber.next(edge)),
  ).pipe(takeUntil(stopped$))

  const state$ = snapshot$.pipe(map(stateOf), distinctUntilChanged())

  const readiness$ = merge(snapshot$, ledgerEdge$).pipe(
    map(() => readinessOf(actor.getSnapshot())),
    distinctUntilChanged((a, b) => a.status === b.status),
  )

  return { snapshot$, state$, readiness$, stopped$ }
}

/** Resolves with the last snapshot when the actor stops (see `stopped$`). */
export function whenStopped(streams: LifecycleStreams): Promise<LifecycleSnapshot> {
  return firstValueFrom(streams.stopped$)
}
