import type { FailureKind } from './failure-kinds.ts'
import { describeExit, type RehearsalReport } from './rehearsal-report.ts'
import type { LoadKind, Platform, RehearseOptions } from './rehearse-options.ts'

/** One run of many, in a line: its verdict and what it counted. */
export interface RunLine {
  readonly run: number
  readonly platform: Platform
  /** `error`: the run could not take place (an instance never turned ready, ...): neither passed nor lost anything. */
  readonly verdict: 'pass' | 'fail' | 'error'
  readonly reasons: readonly string[]
  readonly sent: number
  readonly lost: number
  /** Failed attempts by kind (retried refusals included). */
  readonly failures: Readonly<Partial<Record<FailureKind, number>>>
  readonly inFlightAtSigterm: number | null
  readonly sigtermToExitMs: number | null
  readonly exit: string | null
  readonly elapsedMs: number | null
}

interface KindTotals {
  sent: number
  answered: number
  lost: number
  openAtEnd: number
  lostBy: Partial<Record<FailureKind, number>>
}

/** Every run's line, and the totals over all of them. */
export interface RunsSummary {
  readonly runs: RunLine[]
  readonly totals: {
    runs: number
    passed: number
    failed: number
    errors: number
    byPlatform: Partial<Record<Platform, { runs: number; passed: number; failed: number; errors: number; exitMs: ExitSpread | null }>>
    sent: number
    lost: number
    /** Requests answered after a refused connection went elsewhere, and after a 503's Retry-After. */
    answeredAfterRefused: number
    answeredAfterRetryAfter: number
    /** Failed attempts of each kind over all runs, and of them the client's final answer. */
    failures: Partial<Record<FailureKind, { count: number; lost: number; byLoad: Partial<Record<LoadKind, number>> }>>
    loads: Partial<Record<LoadKind, KindTotals>>
    streams: { resumed: number; resumedInOrder: number; endedBy: Record<string, number> } | null
    sessions: { reconnects: number; reconnectedOk: number; resent: number; echoes: number } | null
    killedBySigkill: number
  }
  /** The run whose stop took longest, SIGTERM to exit. */
  readonly slowestExit: { run: number; platform: Platform; ms: number } | null
}

export interface ExitSpread {
  readonly median: number
  readonly p99: number
  readonly max: number
}

/** Adds runs one by one and keeps the totals; the options of each run come from `runOptions`. */
export class RunsTally {
  readonly #lines: RunLine[] = []
  readonly #exitMs = new Map<Platform, number[]>()
  readonly #totals: RunsSummary['totals'] = { runs: 0, passed: 0, failed: 0, errors: 0, byPlatform: {}, sent: 0, lost: 0, answeredAfterRefused: 0, answeredAfterRetryAfter: 0, failures: {}, loads: {}, streams: null, sessions: null, killedBySigkill: 0 }
  #slowest: RunsSummary['slowestExit'] = null

  add(run: number, platform: Platform, report: RehearsalReport): RunLine {
    const t = this.#totals
    const sent = report.requests.sent + (report.streams?.sent ?? 0) + (report.sessions?.sent ?? 0)
    const lost = report.requests.lost + (report.streams?.lost ?? 0) + (report.sessions?.lost ?? 0)
    const line: RunLine = {
      run,
      platform,
      verdict: report.verdict.pass ? 'pass' : 'fail',
      reasons: report.verdict.reasons,
      sent,
      lost,
      failures: Object.fromEntries(report.failures.map((f) => [f.kind, f.count])),
      inFlightAtSigterm: report.termination.inFlightAtSigterm,
      sigtermToExitMs: report.termination.sigtermToExitMs,
      exit: describeExit(report.termination.exit),
      elapsedMs: Math.round(report.elapsedMs),
    }
    this.#count(platform, line.verdict)
    t.sent += sent
    t.lost += lost
    t.answeredAfterRefused += report.requests.answeredAfterRetry
    t.answeredAfterRetryAfter += report.requests.answeredAfterRetryAfter
    if (report.termination.killedBySigkill) t.killedBySigkill++
    for (const f of report.failures) {
      const total = (t.failures[f.kind] ??= { count: 0, lost: 0, byLoad: {} })
      total.count += f.count
      total.lost += f.lost
      for (const [kind, n] of Object.entries(f.byLoad) as [LoadKind, number][]) total.byLoad[kind] = (total.byLoad[kind] ?? 0) + n
    }
    for (const [kind, l] of Object.entries(report.loads) as [LoadKind, RehearsalReport['loads'][LoadKind]][]) {
      const total = (t.loads[kind] ??= { sent: 0, answered: 0, lost: 0, openAtEnd: 0, lostBy: {} })
      total.sent += l!.sent
      total.answered += l!.answered
      total.lost += l!.lost
      total.openAtEnd += l!.openAtEnd
      for (const [failure, n] of Object.entries(l!.lostBy) as [FailureKind, number][]) total.lostBy[failure] = (total.lostBy[failure] ?? 0) + n
    }
    if (report.streams) {
      const st = (t.streams ??= { resumed: 0, resumedInOrder: 0, endedBy: {} })
      st.resumed += report.streams.resumed
      st.resumedInOrder += report.streams.resumedInOrder
      for (const [name, n] of Object.entries(report.streams.endedBy)) st.endedBy[name] = (st.endedBy[name] ?? 0) + n
    }
    if (report.sessions) {
      const ws = (t.sessions ??= { reconnects: 0, reconnectedOk: 0, resent: 0, echoes: 0 })
      ws.reconnects += report.sessions.reconnects
      ws.reconnectedOk += report.sessions.reconnectedOk
      ws.resent += report.sessions.resent
      ws.echoes += report.sessions.echoes
    }
    const ms = report.termination.sigtermToExitMs
    const spread = this.#exitMs.get(platform) ?? []
    spread.push(ms)
    this.#exitMs.set(platform, spread)
    if (!this.#slowest || ms > this.#slowest.ms) this.#slowest = { run, platform, ms }
    this.#lines.push(line)
    return line
  }

  addError(run: number, platform: Platform, message: string): RunLine {
    const line: RunLine = { run, platform, verdict: 'error', reasons: [message], sent: 0, lost: 0, failures: {}, inFlightAtSigterm: null, sigtermToExitMs: null, exit: null, elapsedMs: null }
    this.#count(platform, 'error')
    this.#lines.push(line)
    return line
  }

  summary(): RunsSummary {
    const totals = structuredClone(this.#totals)
    for (const [platform, ms] of this.#exitMs) totals.byPlatform[platform]!.exitMs = spreadOf(ms)
    return { runs: [...this.#lines], totals, slowestExit: this.#slowest }
  }

  #count(platform: Platform, verdict: RunLine['verdict']): void {
    const t = this.#totals
    const p = (t.byPlatform[platform] ??= { runs: 0, passed: 0, failed: 0, errors: 0, exitMs: null })
    t.runs++
    p.runs++
    const key = verdict === 'pass' ? 'passed' : verdict === 'fail' ? 'failed' : 'errors'
    t[key]++
    p[key]++
  }
}

/** The options of run `index` (from 0): the orders in turn, each with its own --env values. */
export function runOptions(options: RehearseOptions, index: number): RehearseOptions {
  const platform = options.platforms[index % options.platforms.length]!
  return Object.freeze({ ...options, platform, env: Object.freeze({ ...options.env, ...options.platformEnv[platform] }) })
}

function spreadOf(values: readonly number[]): ExitSpread {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { median: at(0.5), p99: at(0.99), max: sorted.at(-1)! }
}
