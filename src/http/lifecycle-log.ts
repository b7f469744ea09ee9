import type { FastifyBaseLogger } from 'fastify'
import type { Observable, Subscription } from 'rxjs'
import { distinctUntilChanged, map } from '../streams/rx.ts'
import { exitCodeOf, type LifecycleSnapshot, phaseName } from '../machine/snapshot-views.ts'

export function lifecycleFields(snapshot: LifecycleSnapshot) {
  const { context } = snapshot
  const counts = context.requests.counts()
  return {
    lifecycle: phaseName(snapshot),
    in_flight: counts.inFlight,
    max_concurrency: counts.maxConcurrency,
    completed: counts.completed,
    aborted: counts.aborted,
    rejected: counts.rejected,
    abandoned: counts.abandoned,
    // Upgraded connections (WebSockets): open, closed (by either side, the goodbye included), cut at a deadline.
    sessions: { open: context.sessions.inFlight, closed: context.sessions.completed + context.sessions.aborted, cut: context.sessions.abandoned },
    ...(context.signals.length ? { signals: context.signals } : {}),
    ...(context.outcome ? { outcome: context.outcome, exit_code: exitCodeOf(snapshot) } : {}),
    ...(context.error ? { error: context.error } : {}),
  }
}

/** Logs each lifecycle transition exactly once, with the counts at that moment. */
export function logTransitions(
  snapshot$: Observable<LifecycleSnapshot>,
  log: FastifyBaseLogger,
  outsideSpans: (write: () => void) => void = (write) => write(),
): Subscription {
  return snapshot$
    .pipe(
      map((snapshot) => ({ snapshot, phase: phaseName(snapshot) })),
      distinctUntilChanged((a, b) => a.phase === b.phase),
    )
    .subscribe(({ snapshot, phase }) => {
      const fields = lifecycleFields(snapshot)
      const failed = exitCodeOf(snapshot) ?? 0
      // The last request's end often causes the transition; its trace ids do not belong on this line.
      outsideSpans(() => {
        if (failed) log.error(fields, `lifecycle: ${phase} (${snapshot.context.outcome})`)
        else log.info(fields, `lifecycle: ${phase}`)
      })
    })
}
