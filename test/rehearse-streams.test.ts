import { describe, expect, it } from 'vitest'
import { fixture, runRehearse } from './support/rehearse-cli.ts'

// Streams over POST (as LLM gateways stream their answers), judged as a client judges them: a stream ended by
// `reconnect` is resumed on the other instance with Last-Event-ID, and lost unless its tokens go on with no gap and
// no duplicate (test/fixtures/rehearse-streams.ts). Each stream lasts 2 s, longer than the stop takes to come: the four
// streams opened first, two on each instance, are the ones open at SIGTERM, however slow the machine.
const args = [
  'rehearse', '--ready-path', '/ready', '--probe-interval', '50', '--grace-period', '5', '--duration', '1500', '--stop-after', '600', '--concurrency', '4',
  '--sse', '/tokens?n=200', '--sse-method', 'POST', '--sse-body', '{"prompt":"rehearsal"}', '--sse-streams', '4', '--json', '--', process.execPath, fixture('rehearse-streams.ts'),
]

describe.concurrent('lameduck rehearse judges a resumed stream by its events', () => {
  it('a POST stream told to reconnect at SIGTERM and resumed on the other instance with the next token passes', async () => {
    const run = await runRehearse(args)
    expect(run.code, run.stdout + run.stderr).toBe(0)
    const report = run.report!
    expect(report.settings.sse).toBe('POST /tokens?n=200 x4')
    expect(report.streams!.resumed).toBeGreaterThanOrEqual(1)
    expect(report.streams!.resumedInOrder).toBe(report.streams!.resumed)
    expect(report.streams!.lost).toBe(0)
    // Ending by reconnect is not an end: no stream counts as ended by it.
    expect(report.streams!.endedBy['reconnect']).toBeUndefined()
  }, 40_000)

  it('a resume that skips a token is a lost stream (gap), with advice naming Last-Event-ID', async () => {
    const run = await runRehearse(args, { RESUME_FAULT: 'gap' })
    expect(run.code, run.stdout + run.stderr).toBe(1)
    const report = run.report!
    const gap = report.failures.find((f) => f.kind === 'stream-gap')
    expect(gap?.lost).toBeGreaterThanOrEqual(1)
    expect(gap?.firstDetail).toMatch(/^B: after id \d+ came id \d+ on resuming, sent at SIGTERM\+\d+ ms$/)
    expect(report.verdict.advice).toContain('resumed streams did not go on from Last-Event-ID: every instance must continue a stream from the id the client sends, with nothing skipped and nothing repeated')
  }, 40_000)

  it('a resume that repeats a token is a lost stream (duplicate)', async () => {
    const run = await runRehearse(args, { RESUME_FAULT: 'duplicate' })
    expect(run.code, run.stdout + run.stderr).toBe(1)
    const duplicate = run.report!.failures.find((f) => f.kind === 'stream-duplicate')
    expect(duplicate?.lost).toBeGreaterThanOrEqual(1)
    expect(duplicate?.label).toBe('resumed stream repeated events')
  }, 40_000)

  it('with --sse-resume off, ending by reconnect counts as a proper end, as before', async () => {
    const run = await runRehearse([...args.slice(0, args.indexOf('--json')), '--sse-resume', 'off', ...args.slice(args.indexOf('--json'))], { RESUME_FAULT: 'gap' })
    expect(run.code, run.stdout + run.stderr).toBe(0)
    expect(run.report!.streams!.endedBy['reconnect'], JSON.stringify(run.report!.streams)).toBeGreaterThanOrEqual(1)
    expect(run.report!.streams!.endedBy['reconnect']).toBeGreaterThanOrEqual(1)
    expect(run.report!.streams!.resumed).toBe(0)
  }, 40_000)
})
