import { describeExit, type RehearsalReport, seconds } from './rehearsal-report.ts'

const maxTimelineLines = 40

/** The report for a person: one block, the verdict last. */
export function formatReport(report: RehearsalReport): string {
  const { settings: s, termination: t, requests: r } = report
  const ms = (n: number) => `${Math.round(n)} ms`
  const sinceTerm = (at: number) => `SIGTERM${at >= t.sigtermAt ? '+' : '-'}${Math.abs(Math.round(at - t.sigtermAt))} ms`
  const out: string[] = []
  const order = report.platform === 'kubernetes' ? `kubernetes order (endpoint lag ${ms(s.endpointLagMs ?? 0)})` : 'cerebrium order'
  out.push(`lameduck rehearse: ${order}, grace period ${seconds(s.gracePeriodMs)}, ${s.concurrency} clients for ${seconds(s.durationMs)}, ${s.request}${s.sse ? ` + ${s.sse}` : ''}`)
  if (s.sources.length) out.push(`  read from   ${s.sources.join(', ')}`)
  const env = Object.entries(s.env)
  if (env.length) out.push(`  env         ${env.map(([k, v]) => `${k}=${v}`).join(' ')}`)
  out.push(`  checks      ready: ${s.readyPath ?? 'TCP connect'}, health: ${s.healthPath ?? 'none'}, every ${ms(s.probeIntervalMs)}`)
  out.push(`  instances   ${report.instances.map((i) => `${i.name} on port ${i.port} (${i.role}${i.readyAt !== null ? `, ready at ${ms(i.readyAt)}` : ''})`).join('; ')}`)
  out.push(`  requests    ${r.sent} sent, ${r.answered} answered, ${r.lost} lost${r.answeredAfterRetry ? ` (${r.answeredAfterRetry} answered after a refused connection was sent elsewhere)` : ''}`)
  if (report.streams) {
    const st = report.streams
    const endings = Object.entries(st.endedBy).map(([name, n]) => `${n} by ${name}`).join(', ')
    out.push(`  streams     ${st.sent + st.openAtEnd} opened, ${st.answered} ended properly${endings ? ` (${endings})` : ''}, ${st.lost} lost, ${st.openAtEnd} still open at the end, ${st.events} events`)
  }
  if (report.failures.length === 0) out.push('  failures    none')
  const width = Math.max(0, ...report.failures.map((f) => f.label.length))
  report.failures.forEach((f, index) => {
    const where = Object.entries(f.byInstance).map(([name, n]) => `${name} ${n}`).join(', ')
    const lost = f.retryable ? (s.retryRefused ? `, ${f.lost} lost after retry` : ', not retried (--retry-refused off)') : ''
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
  for (const note of v.notes) out.push(`  note        ${note}`)
  return `${out.join('\n')}\n`
}
