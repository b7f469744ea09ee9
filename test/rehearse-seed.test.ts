import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { fixture, runRehearse } from './support/rehearse-cli.ts'
import { repoRoot } from './support/service-process.ts'

// The seed's design (bench/seed-python/main.py) on Debian's FastAPI and uvicorn, which .ci/run installs
// (apt-get install python3-fastapi python3-uvicorn). Without them these tests are skipped, saying so.
const python = '/usr/bin/python3'
const importable = spawnSync(python, ['-c', 'import fastapi, uvicorn'], { encoding: 'utf8' }).status === 0
if (!importable) console.warn(`[rehearse-seed] skipped: FastAPI/uvicorn not importable by ${python} (apt-get install python3-fastapi python3-uvicorn)`)

const seed = ['sh', '-c', `exec ${python} -m uvicorn main:app --app-dir ${resolve(repoRoot, 'bench/seed-python')} --host 127.0.0.1 --port "$PORT" --log-level warning`]
// Its own deployment settings: a port, no endpoints (TCP checks only), no grace period.
const settings = ['--cerebrium', fixture('seed-cerebrium.toml'), '--port', '0', '--startup-timeout', '15s']

describe.skipIf(!importable).concurrent("lameduck rehearse against the seed's design (FastAPI + uvicorn)", () => {
  it('as deployed (TCP checks, cerebrium order): nothing lost, and the 30 s wait never happens, uvicorn drains before the app is told', async () => {
    const run = await runRehearse(
      ['rehearse', ...settings, '--grace-period', '10', '--duration', '3s', '--stop-after', '1500', '--concurrency', '4', '--method', 'POST', '--path', '/hello', '--body', '{"name":"seed","work_ms":200}', '--json', '--', ...seed],
    )
    expect(run.code, run.stderr).toBe(0)
    const report = run.report!
    console.log(`[rehearse] seed, cerebrium: ${report.requests.sent} sent, ${report.requests.lost} lost, ${report.termination.inFlightAtSigterm} in flight at SIGTERM, SIGTERM to exit ${report.termination.sigtermToExitMs} ms`)
    expect(report.settings).toMatchObject({ readyPath: null, healthPath: null, gracePeriodMs: 10_000 })
    expect(report.requests.lost).toBe(0)
    expect(report.termination.inFlightAtSigterm).toBeGreaterThan(0)
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
    expect(report.termination.sigtermToExitMs).toBeLessThan(5000)
  }, 40_000)

  it('with the readycheck_endpoint it was written for (/ready): never ready, because /ready counts itself (max_concurrency 1)', async () => {
    const run = await runRehearse(['rehearse', ...settings.slice(0, -1), '6s', '--ready-path', '/ready', '--', ...seed])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/instance [AB]: GET \/ready answered 503 \{"status":"at_capacity","active_requests":1,"max_concurrency":1\} for 6000 ms; it never became ready/)
  }, 40_000)
})
