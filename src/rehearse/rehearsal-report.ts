import { type FailureKind, failureKinds, isRetryable } from './failure-kinds.ts'
import type { InstanceExit } from './instance-process.ts'
import { clientCounts } from './load-driver.ts'
import type { LoadTally, LoadTotals, SessionTotals, StreamTotals, Totals } from './load-tally.ts'
import type { ProbeChange } from './probe-poller.ts'
import type { LoadKind, RehearseOptions } from './rehearse-options.ts'
import { survivorGraceMs, type Termination } from './termination-order.ts'

export interface FailureLine {
  readonly kind: FailureKind
  readonly label: string
  /** Failed attempts of this kind, retried ones included. */
  readonly count: number
  /** Of them, how many were the client's final answer. */
  readonly lost: number
  readonly retryable: boolean
  readonly byInstance: Readonly<Record<string, number>>
  /** By the kind of client that met it. */
  readonly byLoad: Readonly<Partial<Record<LoadKind, number>>>
  readonly firstAt: number
  readonly lastAt: number
  readonly firstDetail: string
}

export interface InstanceLine {
  readonly name: string
  readonly role: 'stopped' | 'replacement'
  readonly port: number
  readonly readyAt: number | null
  readonly exit: InstanceExit | null
  /** The instance's last lines of output, when it exited on its own (the replacement during the rehearsal, A before SIGTERM). */
  readonly lastOutput?: string
}

/** What a rehearsal found: the same object is printed as text and written by --json. Times are ms since the start. */
export interface RehearsalReport {
  /** `advice`: what to change, where the report can tell the cause. */
  readonly verdict: { readonly pass: boolean; readonly reasons: readonly string[]; readonly advice: readonly string[]; readonly notes: readonly string[] }
  readonly platform: RehearseOptions['platform']
  readonly command: readonly string[]
  readonly settings: {
    readonly readyPath: string | null
    readonly healthPath: string | null
    readonly gracePeriodMs: number
    readonly endpointLagMs: number | null
    readonly probeIntervalMs: number
    readonly concurrency: number
    readonly durationMs: number
    readonly stopAfterMs: number
    readonly timeoutMs: number
    readonly retryRefused: boolean
    readonly retryAfter: boolean
    readonly request: string
    readonly sse: string | null
    readonly ws: string | null
    /** Clients of each kind. */
    readonly clients: Readonly<Partial<Record<LoadKind, number>>>
    readonly sources: readonly string[]
    readonly env: Readonly<Record<string, string>>
  }
  /** Every request-like kind together (the closed loop, --keepalive, --fresh, --h2). */
  readonly requests: Totals & { readonly answeredAfterRetry: number; readonly answeredAfterRetryAfter: number }
  readonly streams: Readonly<StreamTotals> | null
  readonly sessions: Readonly<SessionTotals> | null
  /** Each kind of client apart: what it sent, answered, lost (by failure kind). */
  readonly loads: Readonly<Partial<Record<LoadKind, Readonly<LoadTotals> & { readonly clients: number }>>>
  readonly failures: readonly FailureLine[]
  readonly instances: readonly InstanceLine[]
  readonly termination: Termination & { readonly sigtermToExitMs: number; readonly killedBySigkill: boolean }
  readonly timeline: readonly ProbeChange[]
  readonly elapsedMs: number
}

export interface ReportInput {
  readonly options: RehearseOptions
  readonly tally: LoadTally
  readonly instances: readonly InstanceLine[]
  readonly termination: Termination
  readonly timeline: readonly ProbeChange[]
  readonly elapsedMs: number
}

export function buildReport({ options, tally, instances, termination, timeline, elapsedMs }: ReportInput): RehearsalReport {
  const failures: FailureLine[] = [...tally.failures.entries()]
    .map(([kind, c]) => ({
      kind,
      label: failureKinds[kind],
      count: c.count,
      lost: tally.lost.get(kind) ?? 0,
      retryable: isRetryable(kind),
      byInstance: c.byInstance,
      byLoad: c.byLoad,
      firstAt: c.first.at,
      lastAt: c.lastAt,
      firstDetail: `${c.first.instance ?? 'no instance'}: ${c.first.detail}${c.first.startedAt !== undefined ? `, sent at ${sinceSigterm(c.first.startedAt, termination.sigtermAt)}` : ''}`,
    }))
    .sort((a, b) => b.lost - a.lost || b.count - a.count)

  const killedBySigkill = termination.sigkillAt !== null
  const stopped = termination.instance
  const reasons: string[] = []
  const notes: string[] = []
  const lost = tally.requests.lost + tally.streams.lost + tally.sessions.lost
  if (lost > 0) {
    const kinds = failures.filter((f) => f.lost > 0).map((f) => `${f.label} x${f.lost}`)
    const loads = [...tally.byLoad.entries()].filter(([, t]) => t.lost > 0).map(([kind, t]) => `${loadNames[kind]} ${t.lost}`)
    reasons.push(`${lost} ${lost === 1 ? 'request' : 'requests'} lost: ${kinds.join(', ')}${loads.length > 1 ? ` (by client: ${loads.join(', ')})` : ''}`)
  }
  if (termination.exit.at < termination.sigtermAt) {
    reasons.push(`${stopped} exited on its own before SIGTERM (${describeExit(termination.exit)}), so the stop was never rehearsed`)
    const output = instances.find((i) => i.role === 'stopped')?.lastOutput
    if (output) notes.push(`${stopped}'s last output: ${output.split('\n').slice(-5).join(' | ').slice(0, 1000)}`)
  }
  if (killedBySigkill) {
    reasons.push(`${stopped} outlived the ${seconds(termination.gracePeriodMs)} grace period and was killed by SIGKILL${killHint(termination)}`)
  }
  if (termination.survivors.length > 0) {
    const n = termination.survivors.length
    reasons.push(
      `${stopped} exited, but ${n} ${n === 1 ? 'process' : 'processes'} it started ${n === 1 ? 'was' : 'were'} still running ${seconds(survivorGraceMs)} later (pid ${termination.survivors.filter((p) => p > 0).join(', ') || 'unknown'}): on a platform the container's end kills ${n === 1 ? 'it' : 'them'} with whatever ${n === 1 ? 'it was' : 'they were'} doing; the main process must exit last (lameduck/cluster's primary waits for every worker)`,
    )
  }
  const replacement = instances.find((i) => i.role === 'replacement')
  if (replacement?.exit && replacement.exit.at < elapsedMs - 1) {
    reasons.push(`${replacement.name}, the replacement, exited during the rehearsal (${describeExit(replacement.exit)})`)
    if (replacement.lastOutput) notes.push(`${replacement.name}'s last output: ${replacement.lastOutput.split('\n').slice(-5).join(' | ').slice(0, 1000)}`)
  }
  if (!killedBySigkill && termination.exit.code !== 0 && termination.exit.at >= termination.sigtermAt) {
    notes.push(termination.exit.signal === 'SIGTERM' ? `${stopped} died of the SIGTERM itself: no handler caught it, so nothing drained` : `${stopped} ended with ${describeExit(termination.exit)} after SIGTERM`)
  }
  if (termination.inFlightAtSigterm === 0) {
    notes.push(`nothing was in flight on ${stopped} at SIGTERM, so the drain of in-flight work was not exercised: raise --concurrency or the work per request`)
  }
  const unavailable = failures.find((f) => f.kind === 'unavailable-retry-after')
  if (unavailable && tally.answeredAfterRetryAfter > 0) {
    notes.push(`${unavailable.count} answers were 503 with Retry-After; ${tally.answeredAfterRetryAfter} of those requests were answered when their clients came back, as clients that honour Retry-After do`)
  }
  const refused = failures.find((f) => f.kind === 'refused')
  if (refused && tally.retriedAnswered > 0) {
    notes.push(`${refused.count} connections were refused before accept; the router sent ${tally.retriedAnswered} of those requests to another instance, as gateways do`)
  }
  // A liveness check that fails, or cannot connect, during the drain invites a restart mid-drain on a platform that still acts on it.
  // Not one that fails in the last probe period before the exit: a process's listener closes some moment before it
  // is gone, and one failed check then cannot restart what is already exiting.
  const liveness = timeline.find(
    (c) => c.probe === 'health' && c.instance === stopped && c.state !== 'ready' && c.at >= termination.sigtermAt && c.at < termination.exit.at - options.probeIntervalMs,
  )
  if (liveness) {
    const what = liveness.state === 'unreachable' ? `became unreachable (${liveness.detail})` : `answered ${liveness.detail}`
    notes.push(`the liveness check ${options.healthPath} ${what} ${Math.round(liveness.at - termination.sigtermAt)} ms after SIGTERM, before ${stopped} exited (see the timeline): a platform that still acts on liveness during a stop may restart the instance mid-drain`)
  }
  const streams = options.sse ? { ...tally.streams, endedBy: { ...tally.streams.endedBy } } : null
  if (streams && streams.resumed > streams.resumedInOrder) {
    notes.push(`${streams.resumed - streams.resumedInOrder} of ${streams.resumed} resumed streams showed no next event (lost ones included in the failures; the rest were still open at the end)`)
  }

  const advice = reasons.length > 0 ? adviceFor({ options, failures, termination, timeline }) : []
  const counts = clientCounts(options)
  const loads = Object.fromEntries(
    (Object.entries(counts) as [LoadKind, number][]).map(([kind, clients]) => [kind, { clients, ...(tally.byLoad.get(kind) ?? { sent: 0, answered: 0, lost: 0, lostBy: {}, openAtEnd: 0 }) }]),
  )
  return {
    verdict: { pass: reasons.length === 0, reasons, advice, notes },
    platform: options.platform,
    command: options.command,
    settings: {
      readyPath: options.readyPath,
      healthPath: options.healthPath,
      gracePeriodMs: options.gracePeriodMs,
      endpointLagMs: options.platform === 'kubernetes' ? options.endpointLagMs : null,
      probeIntervalMs: options.probeIntervalMs,
      concurrency: options.concurrency,
      durationMs: options.durationMs,
      stopAfterMs: options.stopAfterMs,
      timeoutMs: options.timeoutMs,
      retryRefused: options.retryRefused,
      retryAfter: options.retryAfter,
      request: `${options.request.method} ${options.request.path}`,
      sse: options.sse ? `${options.sse.method} ${options.sse.path} x${options.sse.streams}` : null,
      ws: options.ws ? `${options.ws.path} x${options.ws.sessions}, ${options.ws.messages} messages each` : null,
      clients: counts,
      sources: options.sources,
      env: options.env,
    },
    requests: { ...tally.requests, answeredAfterRetry: tally.retriedAnswered, answeredAfterRetryAfter: tally.answeredAfterRetryAfter },
    streams,
    sessions: options.ws ? { ...tally.sessions } : null,
    loads,
    failures,
    instances,
    termination: {
      ...termination,
      sigtermToExitMs: Math.round(termination.exit.at - termination.sigtermAt),
      killedBySigkill,
    },
    timeline,
    elapsedMs,
  }
}

/** What each kind of client is called in the report. */
export const loadNames: Readonly<Record<LoadKind, string>> = {
  request: 'requests',
  keepalive: 'keep-alive clients',
  fresh: 'fresh-connection clients',
  h2: 'HTTP/2 clients',
  sse: 'streams',
  ws: 'WebSocket sessions',
}

export function describeExit(exit: InstanceExit): string {
  // Died of the signal itself: no handler caught it (so nothing drained), not "killed by SIGTERM after SIGTERM".
  if (exit.signal === 'SIGTERM') return 'died of the SIGTERM itself (no handler)'
  if (exit.signal) return `killed by ${exit.signal}`
  return exit.code === null ? 'no exit code' : `exit code ${exit.code}`
}

function sinceSigterm(at: number, sigtermAt: number): string {
  return `SIGTERM${at >= sigtermAt ? '+' : '-'}${Math.abs(Math.round(at - sigtermAt))} ms`
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

function killHint(termination: Termination): string {
  const cut = termination.inFlightAtSigkill ?? 0
  if (cut > 0) return ` with ${cut} of the router's requests still in flight on it`
  // Nothing of ours was in flight, yet it did not exit: an idle keep-alive connection its server waits out
  // (Fastify 5 core: keepAliveTimeout, 72 s), or a process that does not act on SIGTERM.
  return ' with none of the router\'s requests in flight: idle keep-alive connections held open, or SIGTERM not acted on'
}

interface AdviceInput {
  readonly options: RehearseOptions
  readonly failures: readonly FailureLine[]
  readonly termination: Termination
  readonly timeline: readonly ProbeChange[]
}

/** What to change, for the causes a report can tell apart; nothing where it cannot. */
function adviceFor({ options, failures, termination: t, timeline }: AdviceInput): string[] {
  const advice: string[] = []
  const onStopped = (kind: FailureKind) => failures.find((f) => f.kind === kind && f.lost > 0 && (f.byInstance[t.instance] ?? 0) > 0 && f.lastAt >= t.sigtermAt)
  // Did the instance fail readiness while it still served, before it began to refuse? That is the not-ready delay.
  const firstTrouble = Math.min(...['refused', 'reset', 'closed'].map((k) => failures.find((f) => f.kind === k && (f.byInstance[t.instance] ?? 0) > 0)?.firstAt ?? Infinity))
  const notReadyFirst = timeline.some((c) => c.instance === t.instance && c.probe === 'ready' && c.state === 'not-ready' && c.at >= t.sigtermAt && c.at < firstTrouble)
  const stillRouted = t.platform === 'kubernetes' && !notReadyFirst
  if (onStopped('refused') && stillRouted) {
    advice.push(
      `${t.instance} closed its listener while the router still sent it connections (kubernetes order: the endpoint removal lags SIGTERM by ${Math.round(t.removedAt - t.sigtermAt)} ms): fail readiness at SIGTERM and keep serving for longer than that lag plus a probe period before closing (lameduck: SHUTDOWN_DELAY_MS, the shutdownDelayMs option), or retry refused connections in the proxy`,
    )
  }
  if ((onStopped('reset') || onStopped('closed')) && stillRouted) {
    advice.push(
      `connections to ${t.instance} were reset or closed under requests sent while it was still routed to: with SHUTDOWN_DELAY_MS (shutdownDelayMs) longer than the endpoint lag plus a probe period, no new request reaches ${t.instance} when it closes its listener and idle connections`,
    )
  }
  const unavailable = onStopped('server-error')
  if (unavailable && /^503/.test(unavailable.firstDetail.split(': ')[1] ?? '')) {
    advice.push(`${t.instance} answered 503 without Retry-After while draining: clients and gateways cannot tell it from a failure; add Retry-After (lameduck's 503s carry it)`)
  }
  if (onStopped('stream-cut') || onStopped('stream-cut-between-events') || onStopped('stream-unterminated')) {
    advice.push(`streams on ${t.instance} ended at the stop without an end event: send one (event: reconnect) before the drain deadline so clients resume elsewhere (lameduck: DRAIN_NOTICE_MS, the drainNoticeMs option, and noticeSignal)`)
  }
  // The resumed stream is on the other instance: the fault is wherever it resumed.
  if (failures.some((f) => (f.kind === 'stream-gap' || f.kind === 'stream-duplicate') && f.lost > 0)) {
    advice.push(`resumed streams did not go on from Last-Event-ID: every instance must continue a stream from the id the client sends, with nothing skipped and nothing repeated`)
  }
  if (onStopped('ws-dropped')) {
    advice.push(`WebSocket sessions on ${t.instance} were dropped without a close frame: close them with 1012 or 1001 at the drain so clients reconnect (lameduck: the websocketGoodbye option)`)
  }
  if (t.sigkillAt !== null && (t.inFlightAtSigkill ?? 0) === 0) {
    advice.push(`nothing of the router's was in flight when ${t.instance} was killed: close idle keep-alive connections at SIGTERM (Fastify's close() waits out keepAliveTimeout) and make sure the signal reaches the process (exec, not a shell wrapper)`)
  } else if (t.sigkillAt !== null) {
    advice.push(`work was still in flight on ${t.instance} at SIGKILL: lengthen --grace-period (response_grace_period, terminationGracePeriodSeconds) beyond the longest request, or bound the drain (DRAIN_TIMEOUT_MS) below it`)
  }
  return advice
}
