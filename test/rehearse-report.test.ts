import { describe, expect, it } from 'vitest'
import { LoadTally } from '../src/rehearse/load-tally.ts'
import type { ProbeChange } from '../src/rehearse/probe-poller.ts'
import { buildReport, describeExit } from '../src/rehearse/rehearsal-report.ts'
import { parseRehearseOptions } from '../src/rehearse/rehearse-options.ts'
import type { Attempt } from '../src/rehearse/router.ts'
import type { Termination } from '../src/rehearse/termination-order.ts'

// The report's verdict, advice and labels, from made-up counts: what a FAIL says to change, and that each
// label says what was seen.
const kubernetes = parseRehearseOptions(['--platform', 'kubernetes', '--ready-path', '/ready', '--health-path', '/health', '--', 'x'], '/nonexistent')
const termination: Termination = {
  platform: 'kubernetes',
  instance: 'A',
  removedAt: 2000,
  sigtermAt: 1000,
  inFlightAtSigterm: 3,
  sigkillAt: null,
  inFlightAtSigkill: null,
  exit: { code: 0, signal: null, at: 1200 },
  survivors: [],
  gracePeriodMs: 30_000,
}
const instances = [
  { name: 'A', role: 'stopped', port: 1, readyAt: 10, exit: termination.exit },
  { name: 'B', role: 'replacement', port: 2, readyAt: 10, exit: null },
] as const
const lost = (failure: Attempt['failure'], detail: string): { attempts: Attempt[]; final: Attempt } => {
  const attempt: Attempt = { instance: 'A', failure, detail, startedAt: 1050 }
  return { attempts: [attempt], final: attempt }
}
const report = (tally: LoadTally, timeline: ProbeChange[] = [], overrides: Partial<Termination> = {}) =>
  buildReport({ options: kubernetes, tally, instances, termination: { ...termination, ...overrides }, timeline, elapsedMs: 3000 })

describe('the verdict says what to change where the cause is known', () => {
  it('refusals in the Kubernetes order, with no not-ready answer before them, name SHUTDOWN_DELAY_MS and shutdownDelayMs', () => {
    const tally = new LoadTally()
    tally.add('request', lost('refused', 'ECONNREFUSED'), 1100)
    const r = report(tally, [{ at: 1150, instance: 'A', probe: 'ready', state: 'unreachable', detail: 'ECONNREFUSED' }])
    expect(r.verdict.pass).toBe(false)
    expect(r.verdict.advice).toEqual([expect.stringMatching(/^A closed its listener while the router still sent it connections \(kubernetes order: the endpoint removal lags SIGTERM by 1000 ms\): .*SHUTDOWN_DELAY_MS, the shutdownDelayMs option/)])
    expect(r.failures[0]!.firstDetail).toBe('A: ECONNREFUSED, sent at SIGTERM+50 ms')
  })

  it('the same refusals after /ready already answered 503 are not blamed on a missing delay', () => {
    const tally = new LoadTally()
    tally.add('request', lost('refused', 'ECONNREFUSED'), 1100)
    const r = report(tally, [{ at: 1020, instance: 'A', probe: 'ready', state: 'not-ready', detail: '503' }])
    expect(r.verdict.advice).toEqual([])
  })

  it('a stream cut at the stop points at the reconnect event and DRAIN_NOTICE_MS; a WebSocket dropped, at the 1012 goodbye', () => {
    const tally = new LoadTally()
    tally.add('sse', { ...lost('stream-cut-between-events', 'ECONNRESET between events after 3 events'), resumes: 0, resumedInOrder: 0, events: 3 } as never, 1100)
    tally.add('ws', { ...lost('ws-dropped', 'dropped without a close frame after 2 echoes'), reconnects: 0, reconnectedOk: 0, echoes: 2, resent: 0 } as never, 1100)
    const r = report(tally)
    expect(r.verdict.reasons).toEqual(['2 requests lost: stream cut between events x1, WebSocket dropped without a close frame x1 (by client: streams 1, WebSocket sessions 1)'])
    expect(r.verdict.advice).toEqual([expect.stringMatching(/^streams on A ended at the stop without an end event: .*DRAIN_NOTICE_MS/), expect.stringMatching(/^WebSocket sessions on A were dropped without a close frame: close them with 1012 or 1001/)])
  })

  it('a liveness check unreachable during the drain is a note, not a failure', () => {
    const late = { exit: { code: 0, signal: null, at: 2500 } }
    const r = report(new LoadTally(), [{ at: 1100, instance: 'A', probe: 'health', state: 'unreachable', detail: 'ECONNREFUSED' }], late)
    expect(r.verdict.pass).toBe(true)
    expect(r.verdict.notes).toContain('the liveness check /health became unreachable (ECONNREFUSED) 100 ms after SIGTERM, before A exited (see the timeline): a platform that still acts on liveness during a stop may restart the instance mid-drain')
  })

  it('not one unreachable within the last probe period before the exit: the listener of an exiting process closes some moment before it is gone', () => {
    // The probe period is 1000 ms here; A exits at 1200, 200 ms after SIGTERM.
    const r = report(new LoadTally(), [{ at: 1100, instance: 'A', probe: 'health', state: 'unreachable', detail: 'ECONNREFUSED' }])
    expect(r.verdict.notes.filter((note) => note.includes('liveness'))).toEqual([])
  })
})

describe('what the stopped instance left behind', () => {
  it('processes of its group still running after it exited (cluster workers outliving their primary) fail the rehearsal, by pid', () => {
    const r = report(new LoadTally(), [], { survivors: [4242, 4243] })
    expect(r.verdict.pass).toBe(false)
    expect(r.verdict.reasons).toEqual([
      "A exited, but 2 processes it started were still running 1 s later (pid 4242, 4243): on a platform the container's end kills them with whatever they were doing; the main process must exit last (lameduck/cluster's primary waits for every worker)",
    ])
  })
})

describe('a replacement that dies under the load', () => {
  it('fails the rehearsal and leaves its last output in the notes', () => {
    const died = [instances[0], { ...instances[1], exit: { code: 1, signal: null, at: 1500 }, lastOutput: 'listening\nFATAL: something broke' }] as const
    const r = buildReport({ options: kubernetes, tally: new LoadTally(), instances: died, termination, timeline: [], elapsedMs: 3000 })
    expect(r.verdict.reasons).toEqual(['B, the replacement, exited during the rehearsal (exit code 1)'])
    expect(r.verdict.notes).toContain("B's last output: listening | FATAL: something broke")
  })
})

describe('labels say exactly what was seen', () => {
  it('an instance that died of the SIGTERM itself is not "killed by SIGTERM"; SIGKILL is a kill', () => {
    expect(describeExit({ code: null, signal: 'SIGTERM', at: 0 })).toBe('died of the SIGTERM itself (no handler)')
    expect(describeExit({ code: null, signal: 'SIGKILL', at: 0 })).toBe('killed by SIGKILL')
    expect(describeExit({ code: 0, signal: null, at: 0 })).toBe('exit code 0')
  })
})
