import { describe, expect, it } from 'vitest'
import { fixture, referenceService, runRehearse } from './support/rehearse-cli.ts'

describe.concurrent('lameduck rehearse with a mixed load reports each kind of client apart', () => {
  it('HTTP/2 clients (h2c, one connection per instance) against a lameduck app over HTTP/2: GOAWAY at the drain, nothing lost', async () => {
    // The app speaks HTTP/2 only: readiness by TCP, and every client is an HTTP/2 one (--concurrency 0).
    const run = await runRehearse([
      'rehearse', '--ready-path', '', '--probe-interval', '50', '--grace-period', '5', '--duration', '1500', '--stop-after', '500',
      '--concurrency', '0', '--h2', '4', '--method', 'POST', '--path', '/hello', '--body', '{"work_ms":50}', '--json',
      '--', process.execPath, fixture('rehearse-h2.ts'),
    ])
    const report = run.report!
    expect(report.loads.h2).toMatchObject({ clients: 4, lost: 0 })
    expect(report.loads.h2!.sent).toBeGreaterThan(10)
    expect(report.loads.request).toBeUndefined()
    // A connection opened after the GOAWAY may meet the closed listener: refused, and answered by the other instance.
    expect(report.failures.filter((f) => f.kind !== 'refused')).toEqual([])
    expect(report.termination.exit).toMatchObject({ code: 0, signal: null })
  }, 60_000)

  it('the reference service: closed-loop, keep-alive, fresh-connection, SSE and WebSocket clients each counted, sessions closed 1012 reconnect and go on', async () => {
    const run = await runRehearse(
      [
        'rehearse', '--ready-path', '/ready', '--health-path', '/health', '--probe-interval', '50', '--grace-period', '10', '--duration', '1500', '--stop-after', '500',
        '--concurrency', '3', '--method', 'POST', '--path', '/hello', '--body', '{"work_ms":50}', '--keepalive', '2', '--fresh', '2',
        '--sse', '/stream?tokens=200&interval_ms=10', '--sse-streams', '1', '--ws', '/ws', '--ws-sessions', '3', '--ws-interval', '20', '--ws-messages', '1000', '--json', '--', ...referenceService,
      ],
      { MAX_CONCURRENCY: '64', LOG_LEVEL: 'warn', DRAIN_TIMEOUT_MS: '3000', DRAIN_NOTICE_MS: '3000' },
    )
    const report = run.report!
    expect(report.settings.clients).toEqual({ request: 2, keepalive: 2, fresh: 2, sse: 1, ws: 3 })
    for (const kind of ['request', 'keepalive', 'fresh'] as const) expect(report.loads[kind]!.sent, kind).toBeGreaterThan(0)
    // Three sessions over two instances, each longer than the load (1,000 messages 20 ms apart): the rotation put
    // two on A, held there at SIGTERM; they got 1012 and went on on B. (With 20-message sessions a new session
    // could pick B each time, and none was on A at SIGTERM.)
    expect(report.sessions!.reconnects).toBeGreaterThanOrEqual(1)
    expect(report.sessions!.reconnectedOk).toBe(report.sessions!.reconnects)
    expect(report.sessions!.lost).toBe(0)
    expect(report.sessions!.echoes).toBeGreaterThan(0)
    expect(report.failures.filter((f) => f.byLoad.ws || f.byLoad.sse)).toEqual([])
  }, 60_000)
})
