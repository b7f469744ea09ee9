import type { FailureKind } from './failure-kinds.ts'
import type { LoadKind } from './rehearse-options.ts'
import type { Sent } from './router.ts'
import type { StreamSent } from './stream-session.ts'
import type { SessionSent } from './ws-session.ts'

/** How often one kind of failure happened, where first and last. */
export interface FailureCount {
  count: number
  byInstance: Record<string, number>
  /** Attempts of this kind by the kind of client that made them. */
  byLoad: Partial<Record<LoadKind, number>>
  first: { at: number; instance: string | null; detail: string; load: LoadKind; startedAt: number | undefined }
  lastAt: number
}

export interface Totals {
  /** Requests (or streams, or sessions) the clients sent. */
  sent: number
  /** Answered with success (2xx, 3xx; a stream that ended with its end event). */
  answered: number
  /** Failed as the client saw it, after the router's retries. */
  lost: number
}

/** One kind of client's own totals: what it sent, and what it lost by failure kind. */
export interface LoadTotals extends Totals {
  lostBy: Partial<Record<FailureKind, number>>
  /** Still open (a stream, a session) or waiting when the load ended: neither answered nor lost. */
  openAtEnd: number
}

export interface StreamTotals extends Totals {
  events: number
  openAtEnd: number
  endedBy: Record<string, number>
  /** Streams ended by `reconnect` and resumed with Last-Event-ID on another instance, and how many went on in order. */
  resumed: number
  resumedInOrder: number
}

export interface SessionTotals extends Totals {
  echoes: number
  openAtEnd: number
  /** Reconnections after a 1012 or 1001 close, and how many had a message echoed on the new instance. */
  reconnects: number
  reconnectedOk: number
  /** Messages sent again on the new session because the old one closed before their echo. */
  resent: number
}

/** The running counts of the load: totals, and every failed attempt by kind. */
export class LoadTally {
  /** Every request-like kind (the closed loop, --keepalive, --fresh, --h2) together. */
  readonly requests: Totals = { sent: 0, answered: 0, lost: 0 }
  /**
   * `sent` counts streams that ended (properly or not); `openAtEnd` those still open when the load ended, closed by
   * the rehearsal and counted nowhere else; `endedBy`: proper ends by end event (`done`, or `reconnect` without --sse-resume).
   */
  readonly streams: StreamTotals = { sent: 0, answered: 0, lost: 0, events: 0, openAtEnd: 0, endedBy: {}, resumed: 0, resumedInOrder: 0 }
  readonly sessions: SessionTotals = { sent: 0, answered: 0, lost: 0, echoes: 0, openAtEnd: 0, reconnects: 0, reconnectedOk: 0, resent: 0 }
  /** Each kind of client apart. */
  readonly byLoad = new Map<LoadKind, LoadTotals>()
  /** Attempts that failed, by kind, retried ones included. */
  readonly failures = new Map<FailureKind, FailureCount>()
  /** Final outcomes that failed, by kind. */
  readonly lost = new Map<FailureKind, number>()
  /** Requests a second instance answered after a refused connection. */
  retriedAnswered = 0
  /** Requests answered after the client came back as a 503's Retry-After asked. */
  answeredAfterRetryAfter = 0
  inFlight = 0

  /** A stream, session or request still open (or waiting for an instance) when the load ended. */
  addOpenAtEnd(kind: LoadKind, sent: Sent): void {
    this.#load(kind).openAtEnd++
    if (kind === 'sse' && sent.final.instance !== null) {
      this.streams.openAtEnd++
      this.#streamExtras(sent as StreamSent)
    }
    if (kind === 'ws' && sent.final.instance !== null) {
      this.sessions.openAtEnd++
      this.#sessionExtras(sent as SessionSent)
    }
  }

  add(kind: LoadKind, sent: Sent, at: number): void {
    const totals = kind === 'sse' ? this.streams : kind === 'ws' ? this.sessions : this.requests
    const load = this.#load(kind)
    totals.sent++
    load.sent++
    if (kind === 'sse') this.#streamExtras(sent as StreamSent)
    if (kind === 'ws') this.#sessionExtras(sent as SessionSent)
    for (const attempt of sent.attempts) {
      if (attempt.failure === null) continue
      const instance = attempt.instance ?? '-'
      const count = this.failures.get(attempt.failure) ?? { count: 0, byInstance: {}, byLoad: {}, first: { at, instance: attempt.instance, detail: attempt.detail, load: kind, startedAt: attempt.startedAt }, lastAt: at }
      count.count++
      count.byInstance[instance] = (count.byInstance[instance] ?? 0) + 1
      count.byLoad[kind] = (count.byLoad[kind] ?? 0) + 1
      count.lastAt = at
      this.failures.set(attempt.failure, count)
    }
    if (sent.final.failure === null) {
      totals.answered++
      load.answered++
      if (kind === 'sse' && sent.final.lastEvent) this.streams.endedBy[sent.final.lastEvent] = (this.streams.endedBy[sent.final.lastEvent] ?? 0) + 1
      if (sent.attempts.some((a) => a.failure === 'refused')) this.retriedAnswered++
      if (sent.attempts.some((a) => a.failure === 'unavailable-retry-after')) this.answeredAfterRetryAfter++
    } else {
      totals.lost++
      load.lost++
      load.lostBy[sent.final.failure] = (load.lostBy[sent.final.failure] ?? 0) + 1
      this.lost.set(sent.final.failure, (this.lost.get(sent.final.failure) ?? 0) + 1)
    }
  }

  #load(kind: LoadKind): LoadTotals {
    let load = this.byLoad.get(kind)
    if (!load) this.byLoad.set(kind, (load = { sent: 0, answered: 0, lost: 0, lostBy: {}, openAtEnd: 0 }))
    return load
  }

  #streamExtras(sent: StreamSent): void {
    for (const attempt of sent.attempts) this.streams.events += attempt.events ?? 0
    this.streams.resumed += sent.resumes ?? 0
    this.streams.resumedInOrder += sent.resumedInOrder ?? 0
  }

  #sessionExtras(sent: SessionSent): void {
    this.sessions.echoes += sent.echoes ?? 0
    this.sessions.reconnects += sent.reconnects ?? 0
    this.sessions.reconnectedOk += sent.reconnectedOk ?? 0
    this.sessions.resent += sent.resent ?? 0
  }
}
