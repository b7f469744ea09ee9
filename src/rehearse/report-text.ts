import { type FailureKind, failureKinds } from './failure-kinds.ts'
import type { LoadKind } from './rehearse-options.ts'
import type { RunLine, RunsSummary } from './runs.ts'
import { describeExit, loadNames, type RehearsalReport, seconds } from './rehearsal-report.ts'

const maxTimelineLines = 40

/** The report for a person: one block, the verdict last. */
export function formatReport(report: RehearsalReport): string {
  const { settings: s, termination: t, requests: r } = report
  const ms = (n: number) => `${Math.round(n)} ms`
  const sinceTerm = (at: number) => `SIGTERM${at >= t.sigtermAt ? '+' : '-'}${Math.abs(Math.round(at - t.sigtermAt))} ms`
  const out: string[] = []
  const order = report.platform === 'kubernetes' ? `kubernetes order (endpoint lag ${ms(s.endpointLagMs ?? 0)})` : 'cerebrium order'
  const extra = (Object.entries(s.clients) as [LoadKind, number][]).filter(([kind]) => kind !== 'request' && kind !== 'sse').map(([kind, n]) => `${n} ${loadNames[kind]}`)
  out.push(
    `lameduck rehearse: ${order}, grace period ${seconds(s.gracePeriodMs)}, ${s.concurrency} clients for ${seconds(s.durationMs)}, ${s.request}${s.sse ? ` + ${s.sse}` : ''}${extra.length ? ` + ${extra.join(', ')}` : ''}${s.ws ? ` (${s.ws})` : ''}`,
  )
  if (s.sources.length) out.push(`  read from   ${s.sources.join(', ')}`)
  const env = Object.entries(s.env)
  if (env.length) out.push(`  env         ${env.map(([k, v]) => `${k}=${v}`).join(' ')}`)
  out.push(`  checks      ready: ${s.readyPath ?? 'TCP connect'}, health: ${s.healthPath ?? 'none'}, every ${ms(s.probeIntervalMs)}`)
  out.push(`  instances   ${report.instances.map((i) => `${i.name} on port ${i.port} (${i.role}${i.readyAt !== null ? `, ready at ${ms(i.readyAt)}` : ''})`).join('; ')}`)
  const retries = [
    ...(r.answeredAfterRetry ? [`${r.answeredAfterRetry} answered after a refused connection was sent elsewhere`] : []),
    ...(r.answeredAfterRetryAfter ? [`${r.answeredAfterRetryAfter} answered after a 503's Retry-After`] : []),
  ]
  out.push(`  requests    ${r.sent} sent, ${r.answered} answered, ${r.lost} lost${retries.length ? ` (${retries.join('; ')})` : ''}`)
  if (report.streams) {
    const st = report.streams
    const endings = Object.entries(st.endedBy).map(([name, n]) => `${n} by ${name}`).join(', ')
    const resumed = st.resumed ? `, ${st.resumed} resumed after reconnect (${st.resumedInOrder} went on in order)` : ''
    out.push(`  streams     ${st.sent + st.openAtEnd} opened, ${st.answered} ended properly${endings ? ` (${endings})` : ''}${resumed}, ${st.lost} lost, ${st.openAtEnd} still open at the end, ${st.events} events`)
  }
  if (report.sessions) {
    const ws = report.sessions
    const reconnects = ws.reconnects ? `, ${ws.reconnects} reconnected after 1012/1001 (${ws.reconnectedOk} echoed on the new instance, ${ws.resent} messages resent)` : ''
    out.push(`  websockets  ${ws.sent + ws.openAtEnd} sessions, ${ws.answered} closed properly${reconnects}, ${ws.lost} lost, ${ws.openAtEnd} still open at the end, ${ws.echoes} echoes`)
  }
  const kinds = Object.entries(report.loads) as [LoadKind, RehearsalReport['loads'][LoadKind]][]
  if (kinds.length > 1) {
    out.push(`  by client   ${kinds.map(([kind, l]) => `${loadNames[kind]} ${l!.sent} sent/${l!.lost} lost`).join(', ')}`)
  }
  if (report.failures.length === 0) out.push('  failures    none')
  const width = Math.max(0, ...report.failures.map((f) => f.label.length))
  report.failures.forEach((f, index) => {
    const byLoad = Object.keys(f.byLoad).length > 1 || (kinds.length > 1 && Object.keys(f.byLoad).length > 0)
    const where = [
      ...Object.entries(f.byInstance).map(([name, n]) => `${name} ${n}`),
      ...(byLoad ? (Object.entries(f.byLoad) as [LoadKind, number][]).map(([kind, n]) => `${loadNames[kind]} ${n}`) : []),
    ].join(', ')
    const retried = f.kind === 'refused' ? s.retryRefused : s.retryAfter
    const lost = f.retryable ? (retried ? `, ${f.lost} lost after retry` : `, not retried (--retry-${f.kind === 'refused' ? 'refused' : 'after'} off)`) : ''
    out.push(`  ${index === 0 ? 'failures   ' : '           '} ${f.label.padEnd(width)} ${String(f.count).padStart(5)}  (${where}${lost}; first at ${sinceTerm(f.firstAt)}: ${f.firstDetail})`)
  })

  const events: Array<[number, string]> = []
  const stateNames = { ready: { ready: 'ready', 'not-ready': 'not ready', unreachable: 'unreachable' }, health: { ready: 'healthy', 'not-ready': 'unhealthy', unreachable: 'unreachable' } }
  for (const change of report.timeline) events.push([change.at, `${change.instance} ${change.probe === 'ready' ? 'readiness' : 'liveness'}: ${stateNames[change.probe][change.state]} (${change.detail})`])
  if (t.platform === 'cerebrium') events.push([t.removedAt, `${t.instance} taken out of rotation`])
  events.push([t.sigtermAt, `${t.instance} SIGTERM, ${t.inFlightAtSigterm} in flight on it`])
  if (t.platform === 'kubernetes') events.push([t.removedAt, `${t.instance} endpoint removal reaches the router`])
  if (t.sigkillAt !== null) events.push([t.sigkillAt, `${t.instance} SIGKILL, grace period over, ${t.inFlightAtSigkill ?? 0} in flight on it`])
  events.push([t.exit.at, `${t.instance} exited: ${describeExit(t.exit)}, ${ms(t.sigtermToExitMs)} after SIGTERM`])
  events.sort((x, y) => x[0] - y[0])
  // A flapping check (at capacity) can make hundreds of changes: the text keeps the first and last ones.
  const shown = events.length > maxTimelineLines ? [...events.slice(0, maxTimelineLines / 2), ...events.slice(-maxTimelineLines / 2)] : events
  shown.forEach(([at, text], index) => {
    if (shown.length < events.length && index === maxTimelineLines / 2) out.push(`             ... ${events.length - shown.length} more changes (--json has them all)`)
    out.push(`  ${index === 0 ? 'timeline   ' : '           '} ${ms(at).padStart(9)}  ${text}`)
  })

  const v = report.verdict
  out.push(
    v.pass
      ? `  verdict     PASS: nothing lost; ${t.instance} exited ${ms(t.sigtermToExitMs)} after SIGTERM, within the ${seconds(s.gracePeriodMs)} grace period`
      : `  verdict     FAIL: ${v.reasons.join('; ')}`,
  )
  for (const advice of v.advice) out.push(`  to fix      ${advice}`)
  for (const note of v.notes) out.push(`  note        ${note}`)
  return `${out.join('\n')}\n`
}

/** One line per run of --runs, printed as soon as the run ends. */
export function formatRunLine(line: RunLine, of: number): string {
  const head = `run ${String(line.run).padStart(String(of).length)}/${of} ${line.platform.padEnd(10)}`
  if (line.verdict === 'error') return `${head} ERROR could not run: ${line.reasons.join('; ')}\n`
  const failures = Object.entries(line.failures).map(([kind, n]) => `${kind} ${n}`).join(', ')
  const verdict = line.verdict === 'pass' ? 'PASS' : `FAIL: ${line.reasons.join('; ')}`
  return `${head} ${line.sent} sent, ${line.lost} lost, ${line.inFlightAtSigterm} in flight at SIGTERM, ${line.exit} ${line.sigtermToExitMs} ms after SIGTERM${failures ? `, failed attempts: ${failures}` : ''}  ${verdict}\n`
}

/** The summary of all runs of --runs. */
export function formatRunsSummary(summary: RunsSummary): string {
  const t = summary.totals
  const out: string[] = []
  const orders = (Object.entries(t.byPlatform) as [string, NonNullable<RunsSummary['totals']['byPlatform']['cerebrium']>][]).map(([p, c]) => `${p} ${c.runs}`)
  out.push(`lameduck rehearse: ${t.runs} runs (${orders.join(', ')}): ${t.passed} passed, ${t.failed} failed, ${t.errors} could not run`)
  out.push(`  sent        ${t.sent}, lost ${t.lost}; answered after a refused connection went elsewhere ${t.answeredAfterRefused}, after a 503's Retry-After ${t.answeredAfterRetryAfter}`)
  const loads = Object.entries(t.loads) as [LoadKind, NonNullable<RunsSummary['totals']['loads'][LoadKind]>][]
  out.push(
    `  by client   ${loads.map(([kind, l]) => `${loadNames[kind]} ${l.sent} sent, ${l.lost} lost${Object.keys(l.lostBy).length ? ` (${Object.entries(l.lostBy).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`).join('; ')}`,
  )
  const failures = Object.entries(t.failures) as [FailureKind, NonNullable<RunsSummary['totals']['failures'][FailureKind]>][]
  if (failures.length === 0) out.push('  failures    none')
  const width = Math.max(0, ...failures.map(([kind]) => failureKinds[kind].length))
  failures.forEach(([kind, f], index) => {
    const byLoad = (Object.entries(f.byLoad) as [LoadKind, number][]).map(([k, n]) => `${loadNames[k]} ${n}`).join(', ')
    out.push(`  ${index === 0 ? 'failures   ' : '           '} ${failureKinds[kind].padEnd(width)} ${String(f.count).padStart(6)} attempts, ${f.lost} lost  (${byLoad})`)
  })
  if (t.streams) {
    const endings = Object.entries(t.streams.endedBy).map(([name, n]) => `${n} by ${name}`).join(', ')
    out.push(`  streams     ${t.streams.resumed} resumed after reconnect, ${t.streams.resumedInOrder} went on in order; ended ${endings || 'none'}`)
  }
  if (t.sessions) {
    out.push(`  websockets  ${t.sessions.reconnects} reconnected after 1012/1001, ${t.sessions.reconnectedOk} echoed on the new instance, ${t.sessions.resent} messages resent, ${t.sessions.echoes} echoes`)
  }
  const spreads = (Object.entries(t.byPlatform) as [string, NonNullable<RunsSummary['totals']['byPlatform']['cerebrium']>][])
    .filter(([, c]) => c.exitMs)
    .map(([p, c]) => `${p} median ${c.exitMs!.median} ms, p99 ${c.exitMs!.p99} ms, max ${c.exitMs!.max} ms`)
  if (spreads.length) out.push(`  exit        SIGTERM to exit: ${spreads.join('; ')}`)
  if (summary.slowestExit) out.push(`  slowest     run ${summary.slowestExit.run} (${summary.slowestExit.platform}): ${summary.slowestExit.ms} ms SIGTERM to exit${t.killedBySigkill ? `; ${t.killedBySigkill} runs killed by SIGKILL` : ''}`)
  const bad = summary.runs.filter((r) => r.verdict !== 'pass')
  out.push(
    t.failed === 0 && t.errors === 0
      ? `  verdict     PASS: ${t.runs} stops, nothing lost`
      : `  verdict     ${t.failed > 0 ? 'FAIL' : 'INCOMPLETE'}: ${bad.slice(0, 20).map((r) => `run ${r.run} ${r.verdict === 'error' ? 'could not run' : r.reasons.join('; ')}`).join(' | ')}${bad.length > 20 ? ` | ... ${bad.length - 20} more` : ''}`,
  )
  return `${out.join('\n')}\n`
}
