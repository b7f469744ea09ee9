import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { freePort, launch, type LaunchSpec, stop, waitFor200 } from '../server-process.ts'
import { fixed, median, rotate } from '../stats.ts'
import type { Variant } from '../variants.ts'

/**
 * The long-lived figures: Server-Sent Events per second on `GET /stream` and WebSocket messages per
 * second on `GET /ws`, lameduck's service against the same app without lameduck (the baseline), in
 * alternating rounds with a fresh server per variant per round, as the HTTP figures are measured.
 */
export interface LongLivedSettings {
  readonly rounds: number
  readonly seconds: number
  readonly warmupSeconds: number
  readonly connections: number
  /** The stream each SSE connection reads, again and again. */
  readonly sseQuery: string
}

export interface LongLivedRound {
  readonly ssePerSecond: number
  readonly wsPerSecond: number
  /** The server's CPU time per event (all its threads), in microseconds: what other load on the machine moves least. */
  readonly sseCpuUs: number
  readonly wsCpuUs: number
  readonly errors: number
}

export interface LongLivedResults {
  readonly settings: LongLivedSettings
  readonly rounds: Readonly<Record<'baseline' | 'lameduck', LongLivedRound[]>>
  readonly parity: string
  readonly problems: string[]
}

type Prepare = (variant: Variant, port: number) => { spec: LaunchSpec; settles: boolean }

const clientPath = fileURLToPath(new URL('./long-lived-client.ts', import.meta.url))

export async function longLivedBench(
  variants: { baseline: Variant; lameduck: Variant },
  prepare: Prepare,
  settings: LongLivedSettings,
  log: (line: string) => void,
): Promise<LongLivedResults> {
  const problems: string[] = []
  const parity = await checkParity(variants, prepare)
  const rounds: LongLivedResults['rounds'] = { baseline: [], lameduck: [] }
  for (let round = 0; round < settings.rounds; round++) {
    for (const id of rotate(['baseline', 'lameduck'] as const, round)) {
      const port = await freePort()
      const { spec, settles } = prepare(variants[id], port)
      const server = launch(spec, port)
      try {
        await waitFor200(server, `${server.origin}${variants[id].readyPath}`, 20_000)
        if (settles) {
          server.child.kill('SIGUSR2')
          await sleep(300)
        }
        await runLongLivedClient('sse', server.origin, settings, settings.warmupSeconds)
        const sse = await measured('sse', server.pid, server.origin, settings)
        await runLongLivedClient('ws', server.origin, settings, settings.warmupSeconds)
        const ws = await measured('ws', server.pid, server.origin, settings)
        const errors = sse.errors + ws.errors
        rounds[id].push({ ssePerSecond: sse.perSecond, wsPerSecond: ws.perSecond, sseCpuUs: sse.cpuUs, wsCpuUs: ws.cpuUs, errors })
        if (errors) problems.push(`${id} round ${round + 1}: ${sse.errors} SSE and ${ws.errors} WebSocket client errors`)
        log(
          `long-lived round ${round + 1}/${settings.rounds} ${id.padEnd(12)} SSE ${sse.perSecond.toFixed(0).padStart(7)} events/s (${sse.cpuUs.toFixed(3)} µs CPU each)  WS ${ws.perSecond.toFixed(0).padStart(6)} messages/s (${ws.cpuUs.toFixed(2)} µs CPU each)${errors ? `  ERRORS ${errors}` : ''}`,
        )
      } catch (error) {
        problems.push(`${id} round ${round + 1}: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`)
      } finally {
        await stop(server)
      }
    }
  }
  return { settings, rounds, parity, problems }
}

interface ClientResult {
  readonly perSecond: number
  readonly allEvents: number
  readonly errors: number
}

/** One measured client run, with the server's CPU time over it divided by every event the client got. */
async function measured(kind: 'sse' | 'ws', pid: number, origin: string, settings: LongLivedSettings): Promise<ClientResult & { cpuUs: number }> {
  const before = cpuNs(pid)
  const result = await runLongLivedClient(kind, origin, settings, settings.seconds)
  const cpu = cpuNs(pid) - before
  return { ...result, cpuUs: result.allEvents > 0 ? cpu / 1000 / result.allEvents : Number.NaN }
}

/** CPU time a process's threads have run, in nanoseconds (/proc/<pid>/task/<tid>/schedstat, first field). */
function cpuNs(pid: number): number {
  let total = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  return total
}

export function runLongLivedClient(
  kind: 'sse' | 'ws',
  origin: string,
  settings: Pick<LongLivedSettings, 'connections' | 'sseQuery'>,
  seconds: number,
): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [clientPath, kind, origin, String(settings.connections), String(seconds), settings.sseQuery], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`${kind} client exited ${code}: ${err.slice(-300)}`))
      else resolve(JSON.parse(line) as ClientResult)
    })
  })
}

/** Both apps must answer the same: the same stream, byte for byte, and the same echo. */
async function checkParity(variants: { baseline: Variant; lameduck: Variant }, prepare: Prepare): Promise<string> {
  const answers: string[] = []
  for (const variant of [variants.baseline, variants.lameduck]) {
    const port = await freePort()
    const server = launch(prepare(variant, port).spec, port)
    try {
      await waitFor200(server, `${server.origin}${variant.readyPath}`, 20_000)
      const stream = await (await fetch(`${server.origin}/stream?tokens=3&interval_ms=0`, { headers: { 'last-event-id': '1' } })).text()
      const echo = await new Promise<string>((resolve, reject) => {
        const socket = new WebSocket(`${server.origin.replace('http:', 'ws:')}/ws`)
        socket.once('open', () => socket.send('parity'))
        socket.once('message', (data) => {
          socket.close(1000)
          resolve(String(data))
        })
        socket.once('error', reject)
      })
      answers.push(`${stream}|${echo}`)
    } finally {
      await stop(server)
    }
  }
  if (answers[0] !== answers[1]) throw new Error(`long-lived parity: the baseline answers ${JSON.stringify(answers[0])}, lameduck ${JSON.stringify(answers[1])}`)
  return '- Parity checked first: both answered `GET /stream?tokens=3&interval_ms=0` with `Last-Event-ID: 1` byte for byte the same, and the same `/ws` echo.'
}

/** Medians over rounds; the ratios are medians of per-round ratios, as for the HTTP figures. */
export function longLivedSection(results: LongLivedResults): string[] {
  const { baseline, lameduck } = results.rounds
  const n = Math.min(baseline.length, lameduck.length)
  const ratio = (pick: (r: LongLivedRound) => number, inverse = false) =>
    median(Array.from({ length: n }, (_, i) => (inverse ? pick(baseline[i]!) / pick(lameduck[i]!) : pick(lameduck[i]!) / pick(baseline[i]!))))
  const sseRatio = ratio((r) => r.ssePerSecond)
  const wsRatio = ratio((r) => r.wsPerSecond)
  // Baseline CPU per event over lameduck's: >= 0.97 means lameduck costs at most about 3% more per event.
  const sseCpuRatio = ratio((r) => r.sseCpuUs, true)
  const wsCpuRatio = ratio((r) => r.wsCpuUs, true)
  const s = results.settings
  const verdict = (x: number) => (Number.isFinite(x) ? (x >= 0.97 ? 'pass' : '**FAIL**') : 'not measured')
  const row = (label: string, rs: LongLivedRound[], ratios: [string, string, string, string]) =>
    `| ${label} | ${fixed(median(rs.map((r) => r.ssePerSecond)), 0)} | ${ratios[0]} | ${fixed(median(rs.map((r) => r.sseCpuUs)), 3)} | ${ratios[1]} | ${fixed(median(rs.map((r) => r.wsPerSecond)), 0)} | ${ratios[2]} | ${fixed(median(rs.map((r) => r.wsCpuUs)), 2)} | ${ratios[3]} |`
  return [
    '## Long-lived: Server-Sent Events and WebSocket messages',
    '',
    `Measured in the same run, on the same two apps as rows 1 and 2 (bench/long-lived/): ${s.rounds} alternating rounds, a fresh`,
    `server per variant per round (settled like the HTTP rounds), ${s.warmupSeconds} s of warm-up, then ${s.seconds} s of load from a`,
    `client in its own process with ${s.connections} connections. SSE: each connection reads \`GET /stream?${s.sseQuery}\` again`,
    'and again (unpaced, the route sends 64 events to a chunk), counting events. WebSocket: each connection is one `/ws`',
    'session sending a 32-byte message and waiting for its echo before the next (closed loop, like wrk), counting echoes.',
    'lameduck\'s stream takes `request.lameduck.noticeSignal` (made on first use: a controller aborted at the notice or when',
    'the response closes); the baseline\'s takes Fastify\'s `request.signal`. Besides the rate, the server\'s CPU time (all its',
    'threads, from /proc) divided by the events the client received: on a machine shared with other work, the rate moves',
    'with whatever else runs, the CPU time per event much less. Its ratio is the baseline\'s over lameduck\'s, so that, like',
    'the rate\'s, above 1 favours lameduck.',
    '',
    '| Variant | SSE events/s | x baseline | µs CPU per event | baseline ÷ this | WS messages/s | x baseline | µs CPU per message | baseline ÷ this |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    row('1 Fastify, no lameduck (baseline)', baseline, ['1.000', '1.000', '1.000', '1.000']),
    row('2 lameduck, tracing off', lameduck, [fixed(sseRatio, 3), fixed(sseCpuRatio, 3), fixed(wsRatio, 3), fixed(wsCpuRatio, 3)]),
    '',
    '| Goal | Measured | Result |',
    '|---|---|---|',
    `| SSE events/s with lameduck >= 0.97 x without | ${fixed(sseRatio, 3)} (CPU per event: ${fixed(sseCpuRatio, 3)}) | ${verdict(sseRatio)} |`,
    `| WebSocket messages/s with lameduck >= 0.97 x without | ${fixed(wsRatio, 3)} (CPU per message: ${fixed(wsCpuRatio, 3)}) | ${verdict(wsRatio)} |`,
    '',
    '| Variant | ' + Array.from({ length: n }, (_, i) => `round ${i + 1}: SSE/s (µs), WS/s (µs)`).join(' | ') + ' |',
    `|---|${Array.from({ length: n }, () => '---:').join('|')}|`,
    ...(['baseline', 'lameduck'] as const).map(
      (id) =>
        `| ${id} | ${results.rounds[id]
          .map((r) => `${fixed(r.ssePerSecond, 0)} (${fixed(r.sseCpuUs, 3)}), ${fixed(r.wsPerSecond, 0)} (${fixed(r.wsCpuUs, 2)})`)
          .join(' | ')} |`,
    ),
    '',
    results.parity,
    ...results.problems.map((p) => `- Problem: ${p}`),
    '',
  ]
}
