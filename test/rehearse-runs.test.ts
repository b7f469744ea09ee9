import { describe, expect, it } from 'vitest'
import type { RunsSummary } from '../src/rehearse/runs.ts'
import { referenceService, runRehearse } from './support/rehearse-cli.ts'

// The short form of the published thousand stops (docs/reliability.md, "1,000 rehearsals"): the reference service
// (dist/main.js) stopped 10 times in each platform's order, fresh instances each time, under the mixed load:
// closed-loop POSTs, keep-alive clients that go idle between requests, a new connection per request, SSE streams
// resumed with Last-Event-ID, and WebSocket sessions awaiting their echoes.
const mixed = [
  '--ready-path', '/ready', '--health-path', '/health', '--probe-interval', '50', '--grace-period', '10', '--endpoint-lag', '150',
  '--duration', '800', '--stop-after', '300', '--concurrency', '4', '--method', 'POST', '--path', '/hello', '--body', '{"work_ms":50}',
  '--keepalive', '4', '--keepalive-idle', '50', '--fresh', '4', '--sse', '/stream?tokens=200&interval_ms=10', '--sse-streams', '2',
  '--ws', '/ws', '--ws-sessions', '2', '--ws-interval', '20', '--json',
]
// The notice at the drain's start: streams hand over at once, so the stop is short.
const env = { MAX_CONCURRENCY: '64', LOG_LEVEL: 'warn', DRAIN_TIMEOUT_MS: '3000', DRAIN_NOTICE_MS: '3000' }

async function tenStops(platform: 'cerebrium' | 'kubernetes', extra: Record<string, string>): Promise<RunsSummary> {
  const run = await runRehearse(['rehearse', '--runs', '10', '--platform', platform, ...mixed, '--', ...referenceService], { ...env, ...extra })
  expect(run.stderr).toBe('')
  const summary = JSON.parse(run.stdout) as RunsSummary
  // Exit 1 exactly when a run lost something.
  expect(run.code, JSON.stringify(summary.runs.filter((r) => r.verdict !== 'pass'))).toBe(summary.totals.failed > 0 ? 1 : 0)
  const t = summary.totals
  console.log(`[rehearse] 10 stops, ${platform}: ${run.ms.toFixed(0)} ms, ${t.sent} sent, ${t.lost} lost, failed attempts ${JSON.stringify(t.failures)}, exit ${JSON.stringify(t.byPlatform[platform]?.exitMs)}`)
  return summary
}

/**
 * A request the drain meets with a FIN instead of an answer (`closed`, "other side closed"): at 9ede93b the
 * keep-alive race cost 35 of 12,833 keep-alive POSTs in 500 Cerebrium-order stops; with the 250 ms arrival grace
 * for idle connections (44ea8ae), 0 of 15,721. None is allowed any more, of any kind.
 */
const closedBound = 0
const requestKinds = ['request', 'keepalive', 'fresh'] as const

function expectNothingLost(summary: RunsSummary): void {
  const t = summary.totals
  const closed = requestKinds.reduce((n, kind) => n + (t.loads[kind]?.lostBy.closed ?? 0), 0)
  expect(t).toMatchObject({ runs: 10, errors: 0, lost: closed, killedBySigkill: 0 })
  for (const run of summary.runs) expect(run.lost, JSON.stringify(run)).toBeLessThanOrEqual(closedBound)
  for (const kind of ['sse', 'ws'] as const) expect(t.loads[kind]?.lost, kind).toBe(0)
  // Not a reset, not a 5xx, not a dropped session, in any run; a close without an answer only as said above.
  expect(Object.keys(t.failures).filter((kind) => !['refused', 'unavailable-retry-after', 'closed'].includes(kind))).toEqual([])
  // Retried refusals and 503s with Retry-After were answered on the other instance or on return.
  expect(t.failures.refused?.lost ?? 0).toBe(0)
  expect(t.failures['unavailable-retry-after']?.lost ?? 0).toBe(0)
  // Every stream told to reconnect went on from Last-Event-ID on the other instance; every session closed 1012 was echoed on it.
  expect(t.streams!.resumed).toBeGreaterThan(0)
  expect(t.streams!.resumedInOrder).toBe(t.streams!.resumed)
  // A session that reconnects as the load ends may not get its first echo on B before the end: the rehearsal
  // closes it then, not as a loss (ws lost is 0 above). The Cerebrium order below requires some to have shown one.
  expect(t.sessions!.reconnectedOk).toBeLessThanOrEqual(t.sessions!.reconnects)
  expect(summary.runs.every((r) => r.exit === 'exit code 0')).toBe(true)
}

describe.concurrent('ten stops in a row in each order, under the mixed load', () => {
  it('cerebrium order: nothing lost, every stream resumed in order, sessions closed 1012 reconnect and echo on B, exit 0 each time', async () => {
    const summary = await tenStops('cerebrium', {})
    expectNothingLost(summary)
    // Every stop closes sessions 1012 in this order (498 of 500 in the published run, each echoed on B).
    expect(summary.totals.sessions!.reconnectedOk).toBeGreaterThan(0)
  }, 180_000)

  it('kubernetes order with SHUTDOWN_DELAY_MS and the listener closing at the drain (the manifest): nothing lost, nothing refused', async () => {
    // 600 ms: the removal lags 150 ms and a probe period is 50 ms; the rest is room for a busy machine's late timers.
    const summary = await tenStops('kubernetes', { SHUTDOWN_DELAY_MS: '600', LISTENER_AT_DRAIN: 'close' })
    expectNothingLost(summary)
    expect(summary.totals.failures.refused).toBeUndefined()
  }, 180_000)
})
