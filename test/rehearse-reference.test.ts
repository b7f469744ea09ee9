import { describe, expect, it } from 'vitest'
import { referenceService, runRehearse } from './support/rehearse-cli.ts'

// The reference service (dist/main.js, built by npm test) through the built `lameduck rehearse`, one short
// rehearsal per termination order. Requests carry 100 ms of work so some are in flight at SIGTERM.
const load = ['--concurrency', '6', '--duration', '2500', '--stop-after', '800', '--probe-interval', '100', '--grace-period', '10']
const request = ['--method', 'POST', '--path', '/hello', '--body', '{"name":"rehearsal","work_ms":100}', '--ready-path', '/ready', '--health-path', '/health']
const env = { MAX_CONCURRENCY: '64', LOG_LEVEL: 'warn' }

describe.concurrent('lameduck rehearse against the reference service', () => {
  it('cerebrium order (out of rotation, then SIGTERM): nothing lost, the liveness check answered until exit, the drain ends long before the grace period, exit 0', async () => {
    const run = await runRehearse(['rehearse', '--platform', 'cerebrium', ...load, ...request, '--json', '--', ...referenceService], env)
    // Not a terminal: no status line.
    expect(run.stderr).toBe('')
    const report = run.report!
    console.log(`[rehearse] reference, cerebrium: ${run.ms.toFixed(0)} ms, ${report.requests.sent} sent, ${report.requests.lost} lost, ${report.termination.inFlightAtSigterm} in flight at SIGTERM, SIGTERM to exit ${report.termination.sigtermToExitMs} ms`)
    // Nothing lost: not even the keep-alive race of issue 18 (an idle connection is an arrival for 250 ms).
    expect(report.failures, JSON.stringify(report.failures)).toEqual([])
    expect(run.code, run.stderr + run.stdout).toBe(0)
    expect(report.requests.lost).toBe(0)
    // The reference service keeps its listener for the probes: the liveness check answers until exit.
    expect(report.verdict).toEqual({ pass: true, reasons: [], advice: [], notes: [] })
    expect(report.requests.sent).toBeGreaterThan(10)
    expect(report.requests.answered).toBe(report.requests.sent)
    // The drain was exercised: work was in flight on A when it got SIGTERM, and it still exited 0 in time.
    expect(report.termination.inFlightAtSigterm).toBeGreaterThan(0)
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
    expect(report.termination.killedBySigkill).toBe(false)
    expect(report.termination.sigtermToExitMs).toBeLessThan(5000)
    // Taken out of rotation before the signal, as Cerebrium does.
    expect(report.termination.removedAt).toBeLessThanOrEqual(report.termination.sigtermAt)
  }, 40_000)

  it('kubernetes order (SIGTERM with the endpoint removal 1 s behind) with SHUTDOWN_DELAY_MS=1500: nothing lost, nothing refused', async () => {
    const run = await runRehearse(['rehearse', '--platform', 'kubernetes', '--endpoint-lag', '1000', ...load, ...request, '--json', '--', ...referenceService], { ...env, SHUTDOWN_DELAY_MS: '1500' })
    expect(run.code, run.stderr + run.stdout).toBe(0)
    const report = run.report!
    console.log(`[rehearse] reference, kubernetes: ${run.ms.toFixed(0)} ms, ${report.requests.sent} sent, ${report.requests.lost} lost, SIGTERM to exit ${report.termination.sigtermToExitMs} ms`)
    expect(report.verdict.pass).toBe(true)
    expect(report.requests.lost).toBe(0)
    expect(report.failures).toEqual([])
    expect(report.termination.inFlightAtSigterm).toBeGreaterThan(0)
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
    // The removal's own time: its timer fires 1000 ms after SIGTERM at the earliest (later on a busy machine).
    expect(report.termination.removedAt - report.termination.sigtermAt).toBeGreaterThanOrEqual(999.9)
    // /ready turned 503 at SIGTERM while the delay kept serving: the router saw it before the listener closed.
    const notReady = report.timeline.find((c) => c.instance === 'A' && c.probe === 'ready' && c.at > report.termination.sigtermAt && c.state === 'not-ready')
    expect(notReady?.detail).toBe('503')
    expect(notReady!.at).toBeLessThan(report.termination.exit.at)
    // The delay held the exit back: at least SHUTDOWN_DELAY_MS after SIGTERM.
    expect(report.termination.sigtermToExitMs).toBeGreaterThanOrEqual(1500)
  }, 40_000)

  it('with SSE streams (GET /stream): the stream on A at SIGTERM ends with its reconnect event at the drain notice and goes on from Last-Event-ID on B, no gap, no duplicate', async () => {
    const sse = ['--sse', '/stream?tokens=100&interval_ms=20', '--sse-streams', '2', '--concurrency', '4', '--duration', '2500', '--stop-after', '1000']
    const run = await runRehearse(
      ['rehearse', '--platform', 'cerebrium', ...sse, '--probe-interval', '100', '--grace-period', '10', ...request, '--json', '--', ...referenceService],
      // The notice comes 500 ms into the drain: streams are told to hand over, then A can exit.
      { ...env, DRAIN_TIMEOUT_MS: '3000', DRAIN_NOTICE_MS: '2500' },
    )
    expect(run.code, run.stderr + run.stdout).toBe(0)
    const report = run.report!
    console.log(`[rehearse] reference with SSE: ${run.ms.toFixed(0)} ms, streams ${JSON.stringify(report.streams)}, SIGTERM to exit ${report.termination.sigtermToExitMs} ms`)
    expect(report.failures).toEqual([])
    expect(report.streams).toMatchObject({ lost: 0 })
    // Each stream lasts 2 s and the two alternate over A and B: one was on A at SIGTERM and was told to reconnect;
    // it resumed on B with the next token.
    expect(report.streams!.resumed).toBeGreaterThanOrEqual(1)
    expect(report.streams!.resumedInOrder).toBe(report.streams!.resumed)
    expect(report.streams!.endedBy['reconnect']).toBeUndefined()
    expect(report.streams!.answered).toBe(report.streams!.sent)
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
    expect(report.termination.sigtermToExitMs).toBeGreaterThanOrEqual(500)
  }, 40_000)
})
