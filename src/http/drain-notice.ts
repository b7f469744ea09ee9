import type { FastifyRequest } from 'fastify'
import type { Observable } from 'rxjs'
import { LameduckError } from '../errors.ts'
import type { LifecycleSnapshot } from '../machine/snapshot-views.ts'

/** The two moments long-lived work needs to hear about, as signals it can pass on (fetch, undici, timers). */
export interface DrainNotice {
  /** Aborted when the drain proper begins (the listener closes; new work is refused) or the lifecycle stops. */
  readonly drainSignal: AbortSignal
  /** Aborted `drainNoticeMs` before the drain deadline, or when the lifecycle stops: hand over now. */
  readonly noticeSignal: AbortSignal
}

/**
 * The process-wide notice, read off the machine's snapshots: the drain began when the timeline has a
 * `drainStartedAt`; the notice came when it has a `noticeAt`. Nothing here decides anything.
 */
export function processDrainNotice(snapshot$: Observable<LifecycleSnapshot>): DrainNotice {
  const drain = new AbortController()
  const notice = new AbortController()
  const abortDrain = () => {
    if (!drain.signal.aborted) drain.abort(new LameduckError('LAMEDUCK_DRAINING', 'the service is draining: finish or hand over, take no new work'))
  }
  const abortNotice = () => {
    if (!notice.signal.aborted) notice.abort(new LameduckError('LAMEDUCK_DRAIN_NOTICE', 'the drain deadline is near: hand over now'))
  }
  snapshot$.subscribe({
    next: (snapshot) => {
      const { timeline } = snapshot.context
      const over = snapshot.status !== 'active'
      if (over || timeline.drainStartedAt !== null) abortDrain()
      if (over || timeline.noticeAt !== null) abortNotice()
    },
    // Stopped from outside (fastify.close()): the actor completes without a last snapshot.
    complete: () => {
      abortDrain()
      abortNotice()
    },
  })
  return { drainSignal: drain.signal, noticeSignal: notice.signal }
}

const perRequest = new WeakMap<FastifyRequest, DrainNotice>()

/**
 * One request's view of the notice: the process's signals, also aborted when this request's client
 * goes away (Fastify's `request.signal`), so a handler passes on one signal. Made on first use only:
 * a request that never asks costs nothing.
 */
export function requestDrainNotice(request: FastifyRequest, process: DrainNotice): DrainNotice {
  let notice = perRequest.get(request)
  if (notice === undefined) {
    let drainSignal: AbortSignal | undefined
    let noticeSignal: AbortSignal | undefined
    notice = {
      get drainSignal() {
        drainSignal ??= AbortSignal.any([process.drainSignal, request.signal])
        return drainSignal
      },
      get noticeSignal() {
        noticeSignal ??= AbortSignal.any([process.noticeSignal, request.signal])
        return noticeSignal
      },
    }
    perRequest.set(request, notice)
  }
  return notice
}
