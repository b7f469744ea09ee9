import { setTimeout as sleep } from 'node:timers/promises'
import { readEventStream, type StreamEvent } from './event-stream.ts'
import { classifyError, classifyStatus, errorDetail } from './failure-kinds.ts'
import type { SseLoad } from './rehearse-options.ts'
import { type Attempt, type Router, retryAfterMs, type Sent, type Upstream } from './router.ts'

/** One stream as its client saw it, across the instances it was resumed on. */
export interface StreamSent extends Sent {
  /** Times the stream was resumed with Last-Event-ID after a `reconnect`. */
  readonly resumes: number
  /** Of them, how many went on with the next event (no gap, no duplicate). */
  readonly resumedInOrder: number
  readonly events: number
}

// A client honours the server's `retry:` hint, up to this: a rehearsal's load is short (and --runs makes many), and the point is
// where the stream resumes, not how long it waited.
const maxRetryWaitMs = 250
// After the load ends, a resumed stream still gets this long to show its next event before it is let go.
const resumeCheckMs = 5000
// A stream told to reconnect more often than this (every instance draining) is lost.
const maxResumes = 10

/**
 * Holds one stream the way an EventSource does: reads it to its end event; after a `reconnect` it waits the
 * `retry:` hint and asks the router again with `Last-Event-ID`, and checks that the events go on from the last id
 * with no gap and no duplicate (numeric ids, as the reference service's `/stream` numbers its tokens). Ended by
 * `reconnect` alone is not success: only a stream that reached another end event, or that was still open and in
 * order when the load ended, is.
 */
export async function holdStream(router: Router, sse: SseLoad, timeoutMs: number, end: AbortSignal): Promise<StreamSent> {
  const attempts: Attempt[] = []
  let lastId: string | undefined
  let resumes = 0
  let resumedInOrder = 0
  let events = 0
  for (;;) {
    const resuming = resumes > 0
    let continuity: Attempt['failure'] = null
    let continuityDetail = ''
    let firstAfterResume = resuming
    let retryMs: number | undefined
    const sent = await router.through('sse', resuming ? undefined : end, (upstream) =>
      streamAttempt(upstream, sse, timeoutMs, lastId, end, resuming, (event) => {
        events++
        if (event.retryMs !== undefined) retryMs = event.retryMs
        if (event.id === undefined) {
          // A resumed stream may have nothing left but its end: that is in order too.
          if (firstAfterResume && event.name !== 'reconnect' && sse.endEvents.includes(event.name)) resumedInOrder++
          firstAfterResume = false
          return
        }
        const previous = lastId === undefined ? undefined : Number(lastId)
        const id = Number(event.id)
        if (continuity === null && previous !== undefined && Number.isInteger(previous) && Number.isInteger(id)) {
          if (id > previous + 1) {
            continuity = 'stream-gap'
            continuityDetail = `after id ${previous} came id ${id}${firstAfterResume ? ' on resuming' : ''}`
          } else if (id <= previous) {
            continuity = 'stream-duplicate'
            continuityDetail = `after id ${previous} came id ${id}${firstAfterResume ? ' on resuming' : ''}`
          }
        }
        if (firstAfterResume && continuity === null) resumedInOrder++
        firstAfterResume = false
        lastId = event.id
      }),
    )
    // A gap or duplicate loses the stream even when it showed only as the load ended (a resume checked late).
    const { closedAtEnd: _, ...judged } = sent.final
    const final: Attempt = continuity !== null ? { ...judged, failure: continuity, detail: continuityDetail } : sent.final
    attempts.push(...sent.attempts.slice(0, -1), final)
    const done = (f: Attempt): StreamSent => {
      // The final word is an attempt too, so that its failure is counted where the loss is.
      attempts[attempts.length - 1] = f
      return { attempts, final: f, resumes, resumedInOrder, events }
    }
    if (final.failure !== null || final.closedAtEnd || final.lastEvent !== 'reconnect' || !sse.resume) return done(final)
    if (resumes >= maxResumes) return done({ ...final, failure: 'stream-unterminated', detail: `told to reconnect ${resumes + 1} times in a row` })
    // Told to reconnect before any event with an id, the client starts over without Last-Event-ID, as an EventSource does.
    resumes++
    await sleep(Math.min(retryMs ?? 0, maxRetryWaitMs))
  }
}

async function streamAttempt(
  upstream: Upstream,
  sse: SseLoad,
  timeoutMs: number,
  lastId: string | undefined,
  end: AbortSignal,
  resuming: boolean,
  onEvent: (event: StreamEvent) => void,
): Promise<Attempt> {
  const instance = upstream.route.name
  // The load's end closes the stream; a resumed one first gets to show its next event (or its end).
  const close = new AbortController()
  let seen = false
  let lateTimer: NodeJS.Timeout | undefined
  const onEnd = () => {
    if (!resuming || seen) return close.abort()
    lateTimer = setTimeout(() => close.abort(), resumeCheckMs)
  }
  if (end.aborted) onEnd()
  else end.addEventListener('abort', onEnd, { once: true })
  try {
    const response = await upstream.pool.request({
      method: sse.method as 'GET',
      path: sse.path,
      headers: { ...sse.headers, ...(lastId !== undefined ? { 'last-event-id': lastId } : {}) },
      body: sse.body ?? null,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: close.signal,
    })
    const status = classifyStatus(response.statusCode, response.headers['retry-after'])
    const type = String(response.headers['content-type'] ?? '')
    if (status !== null || !type.startsWith('text/event-stream')) {
      await response.body.dump()
      return {
        instance,
        failure: status ?? 'other-status',
        detail: status ? String(response.statusCode) : `${response.statusCode} with content-type ${JSON.stringify(type)}`,
        ...(status === 'unavailable-retry-after' ? { retryAfterMs: retryAfterMs(response.headers['retry-after']) } : {}),
      }
    }
    const outcome = await readEventStream(response.body, sse.endEvents, (event) => {
      onEvent(event)
      seen = true
      if (end.aborted) close.abort()
    })
    if (close.signal.aborted) return { instance, failure: null, detail: `closed at the end after ${outcome.events} events`, events: outcome.events, closedAtEnd: true }
    return { instance, failure: outcome.failure, detail: outcome.detail, events: outcome.events, ...(outcome.lastEvent ? { lastEvent: outcome.lastEvent } : {}) }
  } catch (error) {
    if (close.signal.aborted) return { instance, failure: null, detail: 'closed at the end', events: 0, closedAtEnd: true }
    return { instance, failure: classifyError(error), detail: errorDetail(error), events: 0 }
  } finally {
    clearTimeout(lateTimer)
    end.removeEventListener('abort', onEnd)
  }
}
