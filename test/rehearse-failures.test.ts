import { once } from 'node:events'
import { createServer } from 'node:http'
import { describe, expect, it } from 'vitest'
import { LoadTally } from '../src/rehearse/load-tally.ts'
import { Router } from '../src/rehearse/router.ts'
import { freePort } from './support/free-port.ts'
import { fixture, runRehearse } from './support/rehearse-cli.ts'

const byKind = (failures: readonly { kind: string; count: number }[]) => Object.fromEntries(failures.map((f) => [f.kind, f.count]))

describe.concurrent('lameduck rehearse names what broke', () => {
  it('a plain Fastify app (app.close() on SIGTERM, no lameduck): killed by SIGKILL at the grace period with keep-alive connections held, or loses what was not yet routed; exit 1', async () => {
    const run = await runRehearse([
      'rehearse', '--ready-path', '/ready', '--grace-period', '1500ms', '--duration', '1500', '--stop-after', '600', '--probe-interval', '100',
      '--concurrency', '4', '--method', 'POST', '--path', '/hello', '--body', '{"work_ms":300}', '--', process.execPath, fixture('plain-fastify.ts'),
    ])
    expect(run.code, run.stderr).toBe(1)
    const sigkill = /verdict {5}FAIL: (.*; )?A outlived the 1500 ms grace period and was killed by SIGKILL with none of the router's requests in flight: idle keep-alive connections held open/
    // Usually the requests in its handlers at SIGTERM finish with Connection: keep-alive and close() waits for
    // those connections until SIGKILL. When a request had reached A but not yet its router (a busy machine),
    // Fastify answers it 503 with Connection: close: that request is lost, and with its connection gone A can exit.
    if (!sigkill.test(run.stdout)) {
      expect(run.stdout).toMatch(/verdict {5}FAIL: \d+ requests? lost: 5xx x\d+$/m)
      expect(run.stdout).toMatch(/failures {4}5xx +\d+ {2}\(A \d+; first at SIGTERM\+\d+ ms: A: 503, sent at SIGTERM[+-]\d+ ms\)/)
    } else {
      expect(run.stdout).toContain('A SIGKILL, grace period over, 0 in flight on it')
    }
  }, 40_000)

  it('the same app in the kubernetes order: the requests the router still sends it after SIGTERM are answered 503, counted as lost', async () => {
    const run = await runRehearse([
      'rehearse', '--platform', 'kubernetes', '--endpoint-lag', '800', '--ready-path', '/ready', '--grace-period', '1500ms', '--duration', '1500',
      // A probe period longer than the lag: the removal, not the readiness check, takes A out of rotation.
      '--stop-after', '600', '--probe-interval', '2000', '--concurrency', '8', '--method', 'POST', '--path', '/hello', '--body', '{"work_ms":200}',
      '--json', '--', process.execPath, fixture('plain-fastify.ts'),
    ])
    expect(run.code, run.stderr).toBe(1)
    const report = run.report!
    // Fastify answers requests on open keep-alive connections 503 (without Retry-After) once close() has begun.
    const serverErrors = report.failures.find((f) => f.kind === 'server-error')
    expect(serverErrors?.lost, JSON.stringify({ failures: report.failures, termination: report.termination })).toBeGreaterThan(0)
    expect(serverErrors?.byInstance).toEqual({ A: serverErrors?.count })
    expect(serverErrors!.firstAt).toBeGreaterThanOrEqual(report.termination.sigtermAt)
    expect(report.verdict.reasons[0]).toMatch(/^\d+ requests? lost: 5xx x\d+/)
  }, 40_000)

  it('each kind of failure produced on purpose is counted exactly, on the instance that produced it', async () => {
    // Each instance fails its first requests and streams this way, then answers normally (test/fixtures/rehearse-faults.ts).
    // The hangs come first: the two request clients wait out both timeouts side by side, and every fault is
    // behind them long before A is stopped, however slow the machine. Each instance gets every other request
    // of each kind (one rotation per kind), so each instance sees its whole plan.
    const env = { FAULTS: 'hang,reset,close,500,503,503-retry,404', STREAM_FAULTS: 'cut,unterminated' }
    const run = await runRehearse(
      [
        // --retry-after off: the 503 with Retry-After is the client's final answer here, so every fault is one loss.
        'rehearse', '--ready-path', '/ready', '--grace-period', '3', '--duration', '4500', '--stop-after', '4000', '--timeout', '1500', '--retry-after', 'off',
        '--concurrency', '3', '--sse', '/events', '--sse-streams', '1', '--probe-interval', '100', '--json', '--', process.execPath, fixture('rehearse-faults.ts'),
      ],
      env,
    )
    expect(run.code, run.stderr).toBe(1)
    const report = run.report!
    const each = { A: 1, B: 1 }
    const twice = { A: 2, B: 2 }
    expect(byKind(report.failures)).toEqual({
      reset: 2, // RST, on each instance
      closed: 2, // FIN without a response, on each instance
      'server-error': 4, // 500 and 503 without Retry-After
      'unavailable-retry-after': 2,
      'other-status': 2,
      'timed-out': 2,
      'stream-cut': 2,
      'stream-unterminated': 2,
    })
    const failure = (kind: string) => report.failures.find((f) => f.kind === kind)!
    expect(failure('server-error').byInstance).toEqual(twice)
    expect(failure('reset').firstDetail).toMatch(/: ECONNRESET, sent at SIGTERM-\d+ ms$/)
    expect(failure('closed').firstDetail).toMatch(/: UND_ERR_SOCKET \(other side closed\), sent at SIGTERM-\d+ ms$/)
    for (const kind of ['reset', 'closed', 'unavailable-retry-after', 'other-status', 'timed-out', 'stream-cut', 'stream-unterminated']) expect(failure(kind).byInstance).toEqual(each)
    // None of them is retried: each is a lost request or stream.
    expect(report.requests.lost).toBe(14)
    expect(report.streams?.lost).toBe(4)
    expect(report.requests.answered).toBe(report.requests.sent - 14)
    expect(report.streams!.answered).toBeGreaterThan(0)
    expect(report.streams!.endedBy).toEqual({ done: report.streams!.answered })
    // A proper stream carries 3 token events and done: the event count adds up.
    expect(report.streams!.events).toBeGreaterThanOrEqual(report.streams!.answered * 4 + 2 * 1 + 2 * 2)
    // The fixture itself drains properly: the verdict is about the failures only.
    expect(report.termination.killedBySigkill).toBe(false)
    expect(report.verdict.reasons).toEqual([expect.stringMatching(/^18 requests lost: /)])
  }, 40_000)
})

describe('the router', () => {
  it('comes back after a 503 with Retry-After as the client would, and the request is answered then; with --retry-after off the 503 is final', async () => {
    let answered = 0
    const server = createServer((_, response) => {
      if (answered++ % 2 === 0) return void response.writeHead(503, { 'retry-after': '0' }).end('draining')
      response.end('ok')
    }).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const options = { request: { method: 'POST', path: '/', headers: {}, body: '{}' }, timeoutMs: 2000, connectionsPerInstance: 1, retryRefused: true }
    const honours = new Router([{ name: 'A', port, isReady: () => true }], { ...options, retryAfter: true })
    const ignores = new Router([{ name: 'A', port, isReady: () => true }], { ...options, retryAfter: false })
    const tally = new LoadTally()
    try {
      for (let i = 0; i < 3; i++) tally.add('request', await honours.send('request'), i)
      expect(tally.requests).toEqual({ sent: 3, answered: 3, lost: 0 })
      expect(tally.answeredAfterRetryAfter).toBe(3)
      expect(tally.failures.get('unavailable-retry-after')).toMatchObject({ count: 3 })
      answered = 0
      tally.add('request', await ignores.send('request'), 3)
      expect(tally.requests).toEqual({ sent: 4, answered: 3, lost: 1 })
      expect(tally.lost).toEqual(new Map([['unavailable-retry-after', 1]]))
    } finally {
      await honours.close()
      await ignores.close()
      server.close()
    }
  })

  it('counts a connection refused before accept as retryable, sends the request to the other ready instance, and loses it only when there is none', async () => {
    const closedPort = await freePort() // nothing listens here
    const server = createServer((_, response) => response.end('ok')).listen(0, '127.0.0.1')
    await once(server, 'listening')
    const openPort = (server.address() as { port: number }).port
    const options = { request: { method: 'GET', path: '/', headers: {}, body: undefined }, sse: null, timeoutMs: 2000, connectionsPerInstance: 1, retryRefused: true }
    const both = new Router([{ name: 'A', port: closedPort, isReady: () => true }, { name: 'B', port: openPort, isReady: () => true }], options)
    const alone = new Router([{ name: 'A', port: closedPort, isReady: () => true }], options)
    const noRetry = new Router([{ name: 'A', port: closedPort, isReady: () => true }, { name: 'B', port: openPort, isReady: () => true }], { ...options, retryRefused: false })
    const tally = new LoadTally()
    try {
      // The rotation starts at A, and the retry on B moves it back to A: every request meets the refusing instance first.
      for (let i = 0; i < 6; i++) tally.add('request', await both.send('request'), i)
      for (let i = 0; i < 3; i++) tally.add('request', await alone.send('request'), i)
      // --retry-refused off, as a bare Kubernetes Service: A's refusals reach the client, B's answers alternate with them.
      for (let i = 0; i < 4; i++) tally.add('request', await noRetry.send('request'), i)
    } finally {
      await both.close()
      await alone.close()
      await noRetry.close()
      server.close()
    }
    expect(tally.failures.get('refused')).toMatchObject({ count: 11, byInstance: { A: 11 } })
    expect(tally.retriedAnswered).toBe(6)
    expect(tally.requests).toEqual({ sent: 13, answered: 8, lost: 5 })
    expect(tally.lost).toEqual(new Map([['refused', 5]]))
  })
})
