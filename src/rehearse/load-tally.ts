import type { FailureKind } from './failure-kinds.ts'
import type { Sent } from './router.ts'

/** How often one kind of failure happened, where first and last. */
export interface FailureCount {
  count: number
  byInstance: Record<string, number>
  first: { at: number; instance: string | null; detail: string }
  lastAt: number
}

export interface Totals {
  /** Requests (or streams) the clients sent. */
  sent: number
  /** Answered with success (2xx, 3xx; a stream that ended with its end event). */
  answered: number
  /** Failed as the client saw it, after the router's retries. */
  lost: number
}

/** The running counts of the load: totals, and every failed attempt by kind. */
export class LoadTally {
  readonly requests: Totals = { sent: 0, answered: 0, lost: 0 }
  /**
   * `sent` counts streams that ended (properly or not); `openAtEnd` those still open when the load ended, closed by
   * the rehearsal and counted nowhere else; `endedBy`: proper ends by end event (`done`, or `reconnect` at a drain).
   */
  readonly streams: Totals & { events: number; openAtEnd: number; endedBy: Record<string, number> } = { sent: 0, answered: 0, lost: 0, events: 0, openAtEnd: 0, endedBy: {} }
  /** Attempts that failed, by kind, retried ones included. */
  readonly failures = new Map<FailureKind, FailureCount>()
  /** Final outcomes that failed, by kind. */
  readonly lost = new Map<FailureKind, number>()
  /** Requests a second instance answered after a refused connection. */
  retriedAnswered = 0
  inFlight = 0

  add(kind: 'request' | 'stream', sent: Sent, at: number): void {
    const totals = kind === 'stream' ? this.streams : this.requests
    totals.sent++
    for (const attempt of sent.attempts) {
      if (kind === 'stream') this.streams.events += attempt.events ?? 0
      if (attempt.failure === null) continue
      const instance = attempt.instance ?? '-'
      const count = this.failures.get(attempt.failure) ?? { count: 0, byInstance: {}, first: { at, instance: attempt.instance, detail: attempt.detail }, lastAt: at }
      count.count++
      count.byInstance[instance] = (count.byInstance[instance] ?? 0) + 1
      count.lastAt = at
      this.failures.set(attempt.failure, count)
    }
    if (sent.final.failure === null) {
      totals.answered++
      if (kind === 'stream' && sent.final.lastEvent) this.streams.endedBy[sent.final.lastEvent] = (this.streams.endedBy[sent.final.lastEvent] ?? 0) + 1
      if (sent.attempts.length > 1) this.retriedAnswered++
    } else {
      totals.lost++
      this.lost.set(sent.final.failure, (this.lost.get(sent.final.failure) ?? 0) + 1)
    }
  }
}
