import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import type { Goal } from '../report.ts'
import { freePort, type LaunchSpec } from '../server-process.ts'
import { fixed, median, rotate } from '../stats.ts'
import { commonEnv } from '../variants.ts'
import type { PromptnessJob, Scenario, TrialResult } from './promptness-driver.ts'

/**
 * Drain promptness (issue 18, part 3): how soon after SIGTERM lameduck's reference service lets go of each
 * kind of client and exits, beside bare Fastify's `close()` with `forceCloseConnections: true`
 * (bench/promptness/bare-close-main.ts). Every trial is a fresh server started by a driver process of its own
 * (promptness-driver.ts), which opens the clients, sends the signal and times what they see and the exit on
 * one clock. Both sides in every round, each trial's order rotated round by round.
 */
export type Side = 'lameduck' | 'bare'
export const sides: readonly Side[] = ['lameduck', 'bare']

export interface PromptnessSettings {
  readonly rounds: number
  /** Idle keep-alive sockets open at SIGTERM in the many-sockets trial. */
  readonly idleSockets: number
  readonly streams: number
  readonly sessions: number
  /** Requests in flight at SIGTERM in the in-flight trial. */
  readonly inFlight: number
  /** What each SSE client reads: paced, and long enough to outlast the trial. */
  readonly sseQuery: string
  /** Longest wait for an exit before SIGKILL. */
  readonly capMs: number
}

export const defaultPromptnessSettings: PromptnessSettings = Object.freeze({
  rounds: 5,
  idleSockets: 10_000,
  streams: 2_000,
  sessions: 2_000,
  inFlight: 8,
  sseQuery: 'tokens=100000&interval_ms=1000',
  capMs: 10_000,
})

/**
 * Both sides get the benchmark's common settings. DRAIN_NOTICE_MS equal to DRAIN_TIMEOUT_MS puts lameduck's notice at
 * the start of the drain, so streams hand over at once (with the default 5000 they would run 25 s into the drain
 * first: that is a policy, not promptness). Bare Fastify reads none of the drain settings.
 */
export const promptnessEnv = Object.freeze({ ...commonEnv, DRAIN_NOTICE_MS: commonEnv.DRAIN_TIMEOUT_MS, SHUTDOWN_DELAY_MS: '0' })

/**
 * How each side is started: `entries` are the scripts `node` runs, `probe` the socket probe both preload
 * (socket-probe.ts, compiled or not); paths relative to `cwd`.
 */
export function promptnessLaunchers(entries: Record<Side, string> & { probe: string }, cwd: string): Record<Side, (port: number) => LaunchSpec> {
  const spec = (entry: string) => (port: number) => ({
    command: process.execPath,
    args: ['--import', `./${entries.probe}`, entry],
    env: { ...promptnessEnv, PORT: String(port) },
    cwd,
  })
  return { lameduck: spec(entries.lameduck), bare: spec(entries.bare) }
}

/** The five trials, in the order a round runs them. */
export const trials = ['idle', 'in-flight', 'idle-sockets', 'sse', 'ws'] as const
export type Trial = (typeof trials)[number]

const scenarioOf: Record<Trial, Scenario> = { idle: 'idle-sockets', 'in-flight': 'in-flight', 'idle-sockets': 'idle-sockets', sse: 'sse', ws: 'ws' }

export interface PromptnessResults {
  readonly settings: PromptnessSettings
  readonly rounds: Record<Side, Record<Trial, TrialResult[]>>
  /** What limited the run (file descriptors) and what went wrong, said once each. */
  readonly notes: string[]
  readonly problems: string[]
}

const driverPath = fileURLToPath(new URL('./promptness-driver.ts', import.meta.url))

export async function promptnessBench(
  launchFor: Record<Side, (port: number) => LaunchSpec>,
  asked: PromptnessSettings,
  log: (line: string) => void,
): Promise<PromptnessResults> {
  const notes: string[] = []
  const problems: string[] = []
  const { settings, fdLimit } = withinFdLimit(asked, notes)
  const countOf: Record<Trial, number> = { idle: 1, 'in-flight': settings.inFlight, 'idle-sockets': settings.idleSockets, sse: settings.streams, ws: settings.sessions }
  const rounds = Object.fromEntries(sides.map((s) => [s, Object.fromEntries(trials.map((t) => [t, []]))])) as unknown as PromptnessResults['rounds']
  for (let round = 0; round < settings.rounds; round++) {
    for (const trial of trials) {
      for (const side of rotate(sides, round)) {
        const port = await freePort()
        const job: PromptnessJob = { scenario: scenarioOf[trial], count: countOf[trial], spec: launchFor[side](port), port, sseQuery: settings.sseQuery, capMs: settings.capMs }
        const started = performance.now()
        try {
          const result = await runDriver(job, fdLimit)
          rounds[side][trial].push(result)
          const took = `(trial ${((performance.now() - started) / 1000).toFixed(1)} s, setup ${(result.setupMs / 1000).toFixed(1)} s)`
          log(`promptness ${round + 1}/${settings.rounds} ${side.padEnd(8)} ${trial.padEnd(12)} ${trialLine(trial, result)}  ${took}`)
          if (result.opened < result.asked) problems.push(`${side} ${trial} round ${round + 1}: ${result.opened} of ${result.asked} clients opened`)
          if (result.exitMs === null) problems.push(`${side} ${trial} round ${round + 1}: no exit within ${settings.capMs} ms (killed)`)
        } catch (error) {
          problems.push(`${side} ${trial} round ${round + 1}: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`)
          log(`promptness ${round + 1}/${settings.rounds} ${side} ${trial}: ${String(error)}`)
        }
      }
    }
  }
  return { settings, rounds, notes, problems }
}

/** The soft and hard limits on open files (`ulimit -n`), from /proc. */
function fdLimits(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
  const n = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v))
  return { soft: n(line?.[1]), hard: n(line?.[2]) }
}

// The driver holds every client socket and the server every server socket, each in its own process; both need
// room for the largest count plus what Node itself opens.
const fdHeadroom = 512

/** Raises nothing itself: says what soft limit the driver is started with, and shrinks counts the hard limit cannot hold. */
function withinFdLimit(asked: PromptnessSettings, notes: string[]): { settings: PromptnessSettings; fdLimit: number | null } {
  const { soft, hard } = fdLimits()
  const largest = Math.max(asked.idleSockets, asked.streams, asked.sessions)
  const need = largest + fdHeadroom
  const possible = Math.max(1, (Number.isFinite(hard) ? hard : need) - fdHeadroom)
  const cap = (n: number) => Math.min(n, possible)
  const settings = { ...asked, idleSockets: cap(asked.idleSockets), streams: cap(asked.streams), sessions: cap(asked.sessions) }
  const shown = (v: number) => (Number.isFinite(v) ? String(v) : 'unlimited')
  if (need > hard) notes.push(`open files: hard limit ${shown(hard)} < ${need} needed; counts cut to ${possible}`)
  if (soft >= need) {
    notes.push(`open files (ulimit -n): ${shown(soft)} soft, ${shown(hard)} hard; enough for ${largest} sockets in each process, not raised`)
    return { settings, fdLimit: null }
  }
  const raised = Math.min(hard, need)
  notes.push(`open files (ulimit -n): ${shown(soft)} soft, ${shown(hard)} hard; raised to ${shown(raised)} for the driver and its server`)
  return { settings, fdLimit: raised }
}

function runDriver(job: PromptnessJob, fdLimit: number | null): Promise<TrialResult> {
  // `ulimit -n` in a shell that then execs the driver: Node cannot raise its own limit, a child inherits it.
  const [command, args] =
    fdLimit === null
      ? [process.execPath, [driverPath, JSON.stringify(job)]]
      : ['/bin/sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, driverPath, JSON.stringify(job)]]
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-3000)))
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`driver (${job.scenario}, ${job.count}) exited ${code}: ${err.trim().slice(-600)}`))
      else resolve(JSON.parse(line) as TrialResult)
    })
  })
}

/** Last client event to exit: how long the process stayed after it had let go of everyone. */
export const lastToExit = (r: TrialResult): number | null => (r.exitMs === null || r.lastMs === null ? null : r.exitMs - r.lastMs)

/** The server's own clock: its last connection closed to its exit; null without the probe or a close. */
export const serverCloseToExit = (r: TrialResult): number | null =>
  r.server === null || r.server.lastCloseMs === null ? null : r.server.exitMs - r.server.lastCloseMs

const serverLastClose = (r: TrialResult): number | null => r.server?.lastCloseMs ?? null

export interface Spread {
  readonly first: number
  readonly median: number
  readonly last: number
  /** Most reconnects within any 100 ms. */
  readonly busiest100ms: number
}

/** When the clients reconnect (ms from SIGTERM): the first, the median and the last, and the busiest 100 ms. */
export function spreadOf(r: TrialResult): Spread | null {
  const xs = r.reconnectAt.filter((v): v is number => v !== null).sort((a, b) => a - b)
  if (xs.length === 0) return null
  let busiest = 0
  for (let lo = 0, hi = 0; hi < xs.length; hi++) {
    while ((xs[hi] as number) - (xs[lo] as number) >= 100) lo++
    busiest = Math.max(busiest, hi - lo + 1)
  }
  return { first: xs[0] as number, median: median(xs), last: xs.at(-1) as number, busiest100ms: busiest }
}

function trialLine(trial: Trial, r: TrialResult): string {
  const outcomes = Object.entries(r.outcomes)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ')
  const exit = `exit ${r.exitMs === null ? 'killed' : `${r.exitMs.toFixed(1)} ms`} (code ${r.exitCode})`
  if (trial === 'idle') return `${exit}  driver lag max ${r.driverLagMaxMs.toFixed(0)} ms`
  const closed = trial === 'sse' ? ` (closed ${r.lastClosedMs?.toFixed(1) ?? '-'} ms)` : ''
  const last = `last ${r.lastMs?.toFixed(1) ?? '-'} ms${closed}, then exit ${fixed(lastToExit(r) ?? Number.NaN, 1)} ms later`
  const s = trial === 'sse' || trial === 'ws' ? spreadOf(r) : null
  const spread = s ? `  reconnects ${s.first.toFixed(0)}/${s.median.toFixed(0)}/${s.last.toFixed(0)} ms, busiest 100 ms ${s.busiest100ms}` : ''
  return `${r.opened} open  ${last}  ${exit}  [${outcomes}]${spread}  driver lag max ${r.driverLagMaxMs.toFixed(0)} ms`
}

// Median and range over rounds, "12.3 (10.1-15.0)"; "killed" rounds count as no figure and are said.
function summary(values: (number | null)[], digits = 1): string {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v))
  if (xs.length === 0) return '–'
  const killed = values.length - xs.length
  const range = xs.length > 1 ? ` (${fixed(Math.min(...xs), digits)}-${fixed(Math.max(...xs), digits)})` : ''
  return `${fixed(median(xs), digits)}${range}${killed ? `, ${killed} killed` : ''}`
}

function outcomesOf(rs: TrialResult[]): string {
  const total: Record<string, number> = {}
  for (const r of rs) for (const [k, v] of Object.entries(r.outcomes)) total[k] = (total[k] ?? 0) + v
  const all = Object.values(total).reduce((a, b) => a + b, 0)
  return Object.entries(total)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => (v === all ? `all ${k}` : `${v} ${k}`))
    .join(', ')
}

const count = (n: number) => n.toLocaleString('en-US')

const spreadPick = (rs: TrialResult[], pick: (s: Spread) => number) => rs.map((r) => spreadOf(r)).map((s) => (s ? pick(s) : null))

export function promptnessGoals(results: PromptnessResults): Goal[] {
  const ld = results.rounds.lameduck
  const goals: Goal[] = []
  const judge = (goal: string, values: (number | null)[], limit: number) => {
    const xs = values.filter((v): v is number => v !== null)
    const m = median(values)
    if (xs.length === 0) goals.push({ goal, measured: '–', pass: null, note: 'not measured' })
    else goals.push({ goal, measured: `${fixed(m, 1)} ms (max ${fixed(Math.max(...xs), 1)})${xs.length < values.length ? `; ${values.length - xs.length} killed` : ''}`, pass: xs.length === values.length && m <= limit })
  }
  const s = results.settings
  judge('exit within 50 ms of SIGTERM, nothing in flight (median)', ld.idle.map((r) => r.exitMs), 50)
  judge(`exit within 50 ms of the last answer, ${s.inFlight} requests in flight (median)`, ld['in-flight'].map(lastToExit), 50)
  judge(`exit within 50 ms of closing the last of ${count(s.idleSockets)} idle sockets (server's clock, median)`, ld['idle-sockets'].map(serverCloseToExit), 50)
  judge(`exit within 50 ms of closing the last of ${count(s.streams)} SSE streams' connections (server's clock, median)`, ld.sse.map(serverCloseToExit), 50)
  judge(`exit within 50 ms of closing the last of ${count(s.sessions)} WebSocket sessions (server's clock, median)`, ld.ws.map(serverCloseToExit), 50)
  judge(`${count(s.idleSockets)} idle keep-alive sockets closed by the server within 1 s of SIGTERM (median)`, ld['idle-sockets'].map(serverLastClose), 1000)
  judge(`${count(s.streams)} SSE streams handed over (the clients' last \`reconnect\`) within 1 s of SIGTERM (median)`, ld.sse.map((r) => r.lastMs), 1000)
  judge(`${count(s.sessions)} WebSocket sessions handed over (the clients' last 1012) within 1 s of SIGTERM (median)`, ld.ws.map((r) => r.lastMs), 1000)
  return goals
}

/** The report's "Drain promptness" section (without its run lines, which the caller writes). */
export function promptnessSection(results: PromptnessResults): string[] {
  const s = results.settings
  const n = Math.max(...sides.flatMap((side) => trials.map((t) => results.rounds[side][t].length)))
  const row = (label: string, pick: (side: Side) => string) => `| ${label} | ${pick('lameduck')} | ${pick('bare')} |`
  const r = (side: Side) => results.rounds[side]
  const goals = promptnessGoals(results)
  return [
    `Each figure: the median over ${n} rounds, with the lowest and highest in brackets, in ms from SIGTERM unless it says`,
    'otherwise. Every trial is a fresh server in a process of its own, started, loaded, signalled and timed by a driver',
    'process (bench/promptness/promptness-driver.ts), which sees the clients and the exit on one clock; both sides in',
    'every round, in rotated order. lameduck is the reference service (`node dist/main.js`) with DRAIN_NOTICE_MS equal to',
    'DRAIN_TIMEOUT_MS (30000), so the notice comes as the drain begins and a stream hands over at once, not 25 s into',
    'the drain; SHUTDOWN_DELAY_MS=0; LISTENER_AT_DRAIN and the WebSocket goodbye (1012 spread over 1000 ms) are the',
    'service\'s defaults. Bare Fastify is the same routes without lameduck (bench/promptness/bare-close-main.ts),',
    '`forceCloseConnections: true`, and a SIGTERM handler that awaits `app.close()` and exits.',
    '',
    '| Figure | lameduck | bare Fastify `close()` |',
    '|---|---|---|',
    row('SIGTERM to exit, nothing in flight (one idle keep-alive connection)', (x) => summary(r(x).idle.map((t) => t.exitMs))),
    row(`${s.inFlight} requests in flight (work 200-${200 + 20 * (s.inFlight - 1)} ms, SIGTERM 100 ms in): last answer to exit`, (x) => summary(r(x)['in-flight'].map(lastToExit))),
    row('... what the requests got', (x) => outcomesOf(r(x)['in-flight'])),
    row(`${count(s.idleSockets)} idle keep-alive sockets: SIGTERM to the last closed`, (x) => summary(r(x)['idle-sockets'].map((t) => t.lastMs))),
    row('... SIGTERM to exit', (x) => summary(r(x)['idle-sockets'].map((t) => t.exitMs))),
    row('... last closed to exit', (x) => summary(r(x)['idle-sockets'].map(lastToExit))),
    row('... server\'s clock: SIGTERM to its last connection closed', (x) => summary(r(x)['idle-sockets'].map(serverLastClose))),
    row('... server\'s clock: its last connection closed to its exit', (x) => summary(r(x)['idle-sockets'].map(serverCloseToExit))),
    row('... what the sockets got', (x) => outcomesOf(r(x)['idle-sockets'])),
    row(`${count(s.streams)} SSE streams: SIGTERM to the last \`reconnect\` (bare: the last cut)`, (x) => summary(r(x).sse.map((t) => t.lastMs))),
    row('... SIGTERM to the last of their connections closed', (x) => summary(r(x).sse.map((t) => t.lastClosedMs))),
    row('... SIGTERM to exit', (x) => summary(r(x).sse.map((t) => t.exitMs))),
    row('... last `reconnect` (bare: cut) to exit', (x) => summary(r(x).sse.map(lastToExit))),
    row('... server\'s clock: SIGTERM to its last connection closed', (x) => summary(r(x).sse.map(serverLastClose))),
    row('... server\'s clock: its last connection closed to its exit', (x) => summary(r(x).sse.map(serverCloseToExit))),
    row('... what the streams got', (x) => outcomesOf(r(x).sse)),
    row('... reconnects (the event plus its `retry:`; a cut: at once): first', (x) => summary(spreadPick(r(x).sse, (p) => p.first), 0)),
    row('... median', (x) => summary(spreadPick(r(x).sse, (p) => p.median), 0)),
    row('... last', (x) => summary(spreadPick(r(x).sse, (p) => p.last), 0)),
    row('... most reconnects in any 100 ms', (x) => summary(spreadPick(r(x).sse, (p) => p.busiest100ms), 0)),
    row(`${count(s.sessions)} WebSocket sessions: SIGTERM to the last close (lameduck: 1012)`, (x) => summary(r(x).ws.map((t) => t.lastMs))),
    row('... SIGTERM to exit', (x) => summary(r(x).ws.map((t) => t.exitMs))),
    row('... last close to exit', (x) => summary(r(x).ws.map(lastToExit))),
    row('... server\'s clock: SIGTERM to its last connection closed', (x) => summary(r(x).ws.map(serverLastClose))),
    row('... server\'s clock: its last connection closed to its exit', (x) => summary(r(x).ws.map(serverCloseToExit))),
    row('... close codes the clients got', (x) => outcomesOf(r(x).ws)),
    row('... reconnects (at the close): first', (x) => summary(spreadPick(r(x).ws, (p) => p.first), 0)),
    row('... median', (x) => summary(spreadPick(r(x).ws, (p) => p.median), 0)),
    row('... most reconnects in any 100 ms', (x) => summary(spreadPick(r(x).ws, (p) => p.busiest100ms), 0)),
    row(`The driver's own event-loop delay from SIGTERM to exit, largest in a trial (${count(s.idleSockets)} sockets / streams / sessions)`, (x) =>
      [r(x)['idle-sockets'], r(x).sse, r(x).ws].map((ts) => summary(ts.map((t) => t.driverLagMaxMs), 0)).join(' / '),
    ),
    '',
    `SSE clients read \`GET /stream?${s.sseQuery}\` over raw sockets, each past its first token at SIGTERM; a stream`,
    'counts as handed over when it got `event: reconnect` and then the chunked terminator (its clean end); "cut" is a',
    'close without the terminator. WebSocket clients (`ws`) each had one echo, then stayed idle. Idle sockets each had one',
    '`GET /health` answered; "FIN" is a close the client saw as an orderly end (no reset, nothing unasked for). A client',
    'is taken to reconnect when it learns its connection is over: a WebSocket at its close, an SSE client after the',
    '`retry:` of its `reconnect` event (lameduck spreads it over 1-2 s), or at once after a cut (it got no `retry:`).',
    'The driver shares the cores with the server: its own event-loop delay (last row) is how late it may have seen',
    'what it timed. So both servers also preload bench/promptness/socket-probe.ts, which notes when the server itself',
    'closed its last connection and when it exited ("server\'s clock"; a `close` listener per connection, nothing else);',
    'its times from SIGTERM go through each process\'s `performance.timeOrigin`, its close-to-exit gaps are on one clock.',
    'lameduck closes a connection when the client has answered its FIN (a lingering close), bare Fastify when it',
    'destroys it, so the server\'s last close comes after the clients\' for lameduck and before it for bare Fastify',
    '(which exits right after `close()` has destroyed its connections: they count as closed at its exit).',
    '',
    '| Goal (lameduck) | Measured | Result |',
    '|---|---|---|',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.pass === null ? (g.note ?? 'reported') : g.pass ? 'pass' : '**FAIL**'} |`),
    '',
    'Every round (ms from SIGTERM: idle exit; in flight: last answer to exit; idle sockets, streams and sessions: last',
    'closed or handed over / exit):',
    '',
    `| Side | ${Array.from({ length: n }, (_, i) => `round ${i + 1}`).join(' | ')} |`,
    `|---|${Array.from({ length: n }, () => '---').join('|')}|`,
    ...sides.map((side) => {
      const x = r(side)
      const cell = (i: number) =>
        [
          `idle ${fixed(x.idle[i]?.exitMs ?? Number.NaN, 1)}`,
          `in flight ${fixed(x['in-flight'][i] ? (lastToExit(x['in-flight'][i]) ?? Number.NaN) : Number.NaN, 1)}`,
          `sockets ${fixed(x['idle-sockets'][i]?.lastMs ?? Number.NaN, 0)}/${fixed(x['idle-sockets'][i]?.exitMs ?? Number.NaN, 0)}`,
          `SSE ${fixed(x.sse[i]?.lastMs ?? Number.NaN, 0)}/${fixed(x.sse[i]?.exitMs ?? Number.NaN, 0)}`,
          `WS ${fixed(x.ws[i]?.lastMs ?? Number.NaN, 0)}/${fixed(x.ws[i]?.exitMs ?? Number.NaN, 0)}`,
        ].join(', ')
      return `| ${side === 'bare' ? 'bare Fastify' : side} | ${Array.from({ length: n }, (_, i) => cell(i)).join(' | ')} |`
    }),
    '',
    ...results.notes.map((note) => `- ${note}`),
    ...results.problems.map((p) => `- Problem: ${p}`),
    '',
  ]
}
