import { describe, expect, it } from 'vitest'
import type { RunsSummary } from '../src/rehearse/runs.ts'
import { fixture, referenceService, runRehearse } from './support/rehearse-cli.ts'

// Issue 20, "Measured": `lameduck rehearse` against the reference service as one replica of two workers
// (WORKERS=2, docs/cluster.md). The instance the rehearsal stops is the cluster's primary: SIGTERM reaches it
// alone, as a platform signals a container's PID 1, and the stop ends when it has exited and nothing it
// started is left (the rehearsal looks for the rest of its process group).
const load = ['--concurrency', '6', '--duration', '2500', '--stop-after', '800', '--probe-interval', '100', '--grace-period', '10', '--endpoint-lag', '1000']
const request = ['--method', 'POST', '--path', '/hello', '--body', '{"name":"rehearsal","work_ms":100}', '--ready-path', '/ready', '--health-path', '/health']
const env = { WORKERS: '2', MAX_CONCURRENCY: '64', LOG_LEVEL: 'warn' }

describe.concurrent('lameduck rehearse against a clustered replica', () => {
  it('WORKERS=2 in both platform orders (--platform both): every run passes, nothing lost, the primary exits 0 after its workers, none left behind', async () => {
    // The Kubernetes order's delay, for the endpoint removal 1 s behind SIGTERM; the replica's, counted from the primary's signal.
    const run = await runRehearse(['rehearse', '--runs', '4', '--platform', 'both', '--env', 'kubernetes:SHUTDOWN_DELAY_MS=1500', ...load, ...request, '--json', '--', ...referenceService], env)
    const summary = JSON.parse(run.stdout) as RunsSummary & { failedReports: unknown[] }
    console.log(`[rehearse] WORKERS=2, both orders: ${run.ms.toFixed(0)} ms, ${JSON.stringify(summary.runs.map((r) => [r.platform, r.sent, r.lost, r.inFlightAtSigterm, r.sigtermToExitMs]))}`)
    expect(run.stderr).toBe('')
    expect(summary.failedReports, JSON.stringify(summary.failedReports).slice(0, 3000)).toEqual([])
    expect(run.code).toBe(0)
    expect(summary.totals).toMatchObject({ runs: 4, passed: 4, failed: 0, errors: 0, lost: 0, killedBySigkill: 0, failures: {} })
    expect(summary.totals.byPlatform).toMatchObject({ cerebrium: { runs: 2, passed: 2 }, kubernetes: { runs: 2, passed: 2 } })
    for (const r of summary.runs) {
      expect(r.exit).toBe('exit code 0')
      // The drain was exercised on the workers: requests were in flight when the primary got SIGTERM.
      expect(r.inFlightAtSigterm).toBeGreaterThan(0)
    }
    // The Kubernetes order waits out the replica's shutdown delay before the workers close; the Cerebrium order does not.
    for (const r of summary.runs.filter((r) => r.platform === 'kubernetes')) expect(r.sigtermToExitMs).toBeGreaterThanOrEqual(1500)
    for (const r of summary.runs.filter((r) => r.platform === 'cerebrium')) expect(r.sigtermToExitMs).toBeLessThan(1500)
  }, 120_000)

  it('a main process that exits while a process it started is still running fails the rehearsal, naming what was left', async () => {
    const run = await runRehearse(
      ['rehearse', '--platform', 'cerebrium', '--concurrency', '2', '--duration', '1200', '--stop-after', '400', '--probe-interval', '100', '--grace-period', '10', '--ready-path', '/ready', '--json', '--', process.execPath, fixture('rehearse-leaves-child.ts')],
      {},
    )
    expect(run.code, run.stderr).toBe(1)
    const report = run.report!
    expect(report.requests.lost).toBe(0)
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
    expect(report.termination.survivors).toHaveLength(1)
    expect(report.verdict.reasons).toEqual([expect.stringMatching(/^A exited, but 1 process it started was still running 1 s later \(pid \d+\): /)])
  }, 60_000)
})
