import { type FailureKind, failureKinds, isRetryable } from './failure-kinds.ts'
import type { InstanceExit } from './instance-process.ts'
import type { LoadTally, Totals } from './load-tally.ts'
import type { ProbeChange } from './probe-poller.ts'
import type { RehearseOptions } from './rehearse-options.ts'
import type { Termination } from './termination-order.ts'

export interface FailureLine {
  readonly kind: FailureKind
  readonly label: string
  /** Failed attempts of this kind, retried ones included. */
  readonly count: number
  /** Of them, how many were the client's final answer. */
  readonly lost: number
  readonly retryable: boolean
  readonly byInstance: Readonly<Record<string, number>>
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
}

/** What a rehearsal found: the same object is printed as text and written by --json. Times are ms since the start. */
export interface RehearsalReport {
  readonly verdict: { readonly pass: boolean; readonly reasons: readonly string[]; readonly notes: readonly string[] }
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
    readonly request: string
    readonly sse: string | null
    readonly sources: readonly string[]
    readonly env: Readonly<Record<string, string>>
  }
  readonly requests: Totals & { readonly answeredAfterRetry: number }
  readonly streams: (Totals & { readonly events: number; readonly openAtEnd: number; readonly endedBy: Readonly<Record<string, number>> }) | null
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
      firstAt: c.first.at,
      lastAt: c.lastAt,
      firstDetail: `${c.first.instance ?? 'no instance'}: ${c.first.detail}`,
    }))
    .sort((a, b) => b.lost - a.lost || b.count - a.count)

  const killedBySigkill = termination.sigkillAt !== null
  const stopped = termination.instance
  const reasons: string[] = []
  const notes: string[] = []
  const lost = tally.requests.lost + tally.streams.lost
  if (lost > 0) {
    const kinds = failures.filter((f) => f.lost > 0).map((f) => `${f.label} x${f.lost}`)
    reasons.push(`${lost} ${lost === 1 ? 'request' : 'requests'} lost: ${kinds.join(', ')}`)
  }
  if (termination.exit.at < termination.sigtermAt) {
    reasons.push(`${stopped} exited on its own before SIGTERM (${describeExit(termination.exit)}), so the stop was never rehearsed`)
  }
  if (killedBySigkill) {
    reasons.push(`${stopped} outlived the ${seconds(termination.gracePeriodMs)} grace period and was killed by SIGKILL${killHint(termination)}`)
  }
  const replacement = instances.find((i) => i.role === 'replacement')
  if (replacement?.exit && replacement.exit.at < elapsedMs - 1) {
    reasons.push(`${replacement.name}, the replacement, exited during the rehearsal (${describeExit(replacement.exit)})`)
  }
  if (!killedBySigkill && termination.exit.code !== 0 && termination.exit.at >= termination.sigtermAt) notes.push(`${stopped} ended with ${describeExit(termination.exit)} after SIGTERM`)
  if (termination.inFlightAtSigterm === 0) {
    notes.push(`nothing was in flight on ${stopped} at SIGTERM, so the drain of in-flight work was not exercised: raise --concurrency or the work per request`)
  }
  const refused = failures.find((f) => f.kind === 'refused')
  if (refused && tally.retriedAnswered > 0) {
    notes.push(`${refused.count} connections were refused before accept; the router sent ${tally.retriedAnswered} of those requests to another instance, as gateways do`)
  }
  const liveness = timeline.find((c) => c.probe === 'health' && c.instance === stopped && c.state === 'not-ready' && c.at >= termination.sigtermAt)
  if (liveness) {
    notes.push(`the liveness check ${options.healthPath} answered ${liveness.detail} ${Math.round(liveness.at - termination.sigtermAt)} ms after SIGTERM: a platform may restart the instance mid-drain`)
  }

  return {
    verdict: { pass: reasons.length === 0, reasons, notes },
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
      request: `${options.request.method} ${options.request.path}`,
      sse: options.sse ? `GET ${options.sse.path} x${options.sse.streams}` : null,
      sources: options.sources,
      env: options.env,
    },
    requests: { ...tally.requests, answeredAfterRetry: tally.retriedAnswered },
    streams: options.sse ? { ...tally.streams, endedBy: { ...tally.streams.endedBy } } : null,
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

export function describeExit(exit: InstanceExit): string {
  if (exit.signal) return `killed by ${exit.signal}`
  return exit.code === null ? 'no exit code' : `exit code ${exit.code}`
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
