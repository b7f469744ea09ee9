import type { FastifyRequest } from 'fastify'
import type { Observable } from 'rxjs'
import { LameduckError } from '../errors.ts'
import type { LifecycleSnapshot } from '../machine/snapshot-views.ts'
import { noticeOf, responseOf } from './request-slots.ts'

/** The two moments long-lived work needs to hear about, as signals it can pass on (fetch, undici, timers). */
export interface DrainNotice {
  /** Aborted when the drain proper begins (the listener closes; new work is refused) or the lifecycle stops. */
  readonly drainSignal: AbortSignal
  /** Aborted `drainNoticeMs` before the drain deadline, or when the lifecycle stops: hand over now. */
  readonly noticeSignal: AbortSignal
}

/** The process's notice, and each request's view of it. */
export interface DrainNotices extends DrainNotice {
  /**
   * One request's view: the process's signals, also aborted when this request is over (its client
   * left, or it was answered), so a handler passes on one signal. Made on first use only: a request
   * that never asks costs nothing.
   */
  forRequest(request: FastifyRequest): DrainNotice
}

type Moment = 'drain' | 'notice'

/**
 * One request that asked for a signal, linked into the open list until the request is over.
 * A list rather than a `Set` for the reason the request ledger gives (src/machine/request-ledger.ts).
 */
interface Watcher {
  drain: AbortController | null
  notice: AbortController | null
  prev: Watcher | null
  next: Watcher | null
  linked: boolean
}

/**
 * The process-wide notice, read off the machine's snapshots: the drain began when the timeline has a
 * `drainStartedAt`; the notice came when it has a `noticeAt`. Nothing here decides anything.
 *
 * A request's signals are plain controllers that this notice aborts itself. Not `AbortSignal.any`: each
 * of its signals registers weak references with its sources, and on the stream route the collector's
 * work for them cost about 15 µs per request (bench/findings.md, "SSE: the per-request signal").
 */
export function processDrainNotice(snapshot$: Observable<LifecycleSnapshot>): DrainNotices {
  const process = { drain: new AbortController(), notice: new AbortController() }
  const reasons = {
    drain: () => new LameduckError('LAMEDUCK_DRAINING', 'the service is draining: finish or hand over, take no new work'),
    notice: () => new LameduckError('LAMEDUCK_DRAIN_NOTICE', 'the drain deadline is near: hand over now'),
  }
  let head: Watcher | null = null
  const unlink = (w: Watcher) => {
    if (!w.linked) return
    w.linked = false
    if (w.prev) w.prev.next = w.next
    else head = w.next
    if (w.next) w.next.prev = w.prev
    w.prev = w.next = null
  }
  const abort = (moment: Moment) => {
    if (process[moment].signal.aborted) return
    process[moment].abort(reasons[moment]())
    const { reason } = process[moment].signal
    for (let w = head; w !== null; w = w.next) w[moment]?.abort(reason)
  }
  snapshot$.subscribe({
    next: (snapshot) => {
      const { timeline } = snapshot.context
      const over = snapshot.status !== 'active'
      if (over || timeline.drainStartedAt !== null) abort('drain')
      if (over || timeline.noticeAt !== null) abort('notice')
    },
    // Stopped from outside (fastify.close()): the actor completes without a last snapshot.
    complete: () => {
      abort('drain')
      abort('notice')
    },
  })

  // Made once, not per request: an abort with no reason builds a DOMException and its stack trace, which
  // showed in the stream route's profile (bench/findings.md).
  const closedReasons = {
    answered: new LameduckError('LAMEDUCK_REQUEST_CLOSED', 'the request was answered'),
    clientGone: new LameduckError('LAMEDUCK_REQUEST_CLOSED', 'the client went away before its answer was complete'),
  }
  const watch = (request: FastifyRequest): Watcher => {
    const w: Watcher = { drain: null, notice: null, prev: null, next: null, linked: false }
    const over = whenOver(request)
    if (over.closed) return w
    w.linked = true
    w.next = head
    if (head) head.prev = w
    head = w
    over.emitter.once('close', () => {
      unlink(w)
      const reason = over.finished() ? closedReasons.answered : closedReasons.clientGone
      w.drain?.abort(reason)
      w.notice?.abort(reason)
    })
    return w
  }
  const signal = (w: Watcher, moment: Moment): AbortSignal => {
    let controller = w[moment]
    if (controller !== null) return controller.signal
    controller = w[moment] = new AbortController()
    const from = process[moment].signal
    if (from.aborted) controller.abort(from.reason)
    // Asked for after the request was over: there is nothing left to watch.
    else if (!w.linked) controller.abort(closedReasons.answered)
    return controller.signal
  }

  return {
    drainSignal: process.drain.signal,
    noticeSignal: process.notice.signal,
    forRequest(request) {
      return noticeOf(request, () => {
        const w = watch(request)
        return {
          get drainSignal() {
            return signal(w, 'drain')
          },
          get noticeSignal() {
            return signal(w, 'notice')
          },
        }
      })
    },
  }
}

interface Closing {
  once(event: 'close', listener: () => void): unknown
}

/**
 * What says the request is over: its response's `close` (answered, or its client left). An upgraded
 * request (a WebSocket) lives as long as its socket. A request lameduck did not see (none in practice:
 * its hook is global) falls back to the request's own `close`.
 */
function whenOver(request: FastifyRequest): { emitter: Closing; closed: boolean; finished: () => boolean } {
  const raw = request.raw
  // A session ends when its socket does; there is no answer to finish.
  if ((raw as { upgrade?: boolean }).upgrade === true && raw.socket) return { emitter: raw.socket, closed: raw.socket.destroyed, finished: () => false }
  const response = responseOf(request)
  // HTTP/2's compatibility response has no `closed` of its own: its stream has.
  if (response !== null) return { emitter: response, closed: 'stream' in response ? response.stream.closed : response.closed, finished: () => response.writableFinished }
  return { emitter: raw, closed: raw.destroyed, finished: () => raw.complete }
}
