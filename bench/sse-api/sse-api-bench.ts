import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'
import { spawn } from 'node:child_process'
import { freePort, launch, stop, waitFor200 } from '../server-process.ts'
import { fixed, median, rotate } from '../stats.ts'

/**
 * Issue 21's figures. (1) The event-stream API's overhead: SSE events per second on the reference service's
 * `GET /stream` (lameduck's `sendEvents`) against the same stream written by hand (`GET /hand/stream`,
 * bench/sse-api/hand-written-route.ts), both in one server process, fresh each round, in alternating order.
 * (2) The hand-over of many streams at once under `STREAM_HANDOVER=at-drain`: SIGTERM to each stream's
 * `event: reconnect` and to the exit, and the reconnect rate its clients then produce with the default window.
 */
export interface SseApiSettings {
  readonly rounds: number
  /** Measured windows per route and round, each `windowMs` long, the routes taking turns. */
  readonly windows: number
  readonly windowMs: number
  readonly warmupSeconds: number
  readonly connections: number
  readonly sseQuery: string
  /** Streams open at SIGTERM in the hand-over measurement. */
  readonly handoverStreams: number
}

export interface SseApiRound {
  readonly api: { perSecond: number; cpuUs: number }
  /** By hand, a Readable piped into the response (the service's route before the API). */
  readonly hand: { perSecond: number; cpuUs: number }
  /** By hand, written to `reply.raw` as the API writes. */
  readonly handRaw: { perSecond: number; cpuUs: number }
}

export interface HandoverFigures {
  readonly streams: number
  /** SIGTERM to each stream's reconnect event, ms. */
  readonly reconnectAfterMs: { min: number; median: number; max: number }
  readonly exitAfterMs: number
  readonly exitCode: number | null
  /** Streams that ended without a reconnect event (cut). */
  readonly cut: number
  /** When the clients reconnect (reconnect event's arrival + its retry:), from the first to the last, ms. */
  readonly reconnectWindowMs: number
  /** Reconnects per second over that window, on average, and in its busiest 100 ms. */
  readonly reconnectsPerSecond: number
  readonly busiest100Ms: number
}

export interface SseApiResults {
  readonly settings: SseApiSettings
  readonly rounds: SseApiRound[]
  readonly parity: string
  readonly handover: HandoverFigures | null
  readonly problems: string[]
  readonly command: string
  readonly startedAt: string
  readonly loadavg: string
  readonly loadavgEnd: string
}

const serverPath = fileURLToPath(new URL('./sse-api-server.ts', import.meta.url))
const spec = (port: number, env: Record<string, string> = {}) => ({ command: process.execPath, args: [serverPath], env: { PORT: String(port), ...env } })

export async function sseApiBench(settings: SseApiSettings, log: (line: string) => void): Promise<Omit<SseApiResults, 'command' | 'startedAt' | 'loadavg' | 'loadavgEnd'>> {
  const problems: string[] = []
  const rounds: SseApiRound[] = []
  let parity = ''
  for (let round = 0; round < settings.rounds; round++) {
    const port = await freePort()
    const server = launch(spec(port), port)
    try {
      await waitFor200(server, `${server.origin}/ready`, 20_000)
      if (round === 0) parity = await checkParity(server.origin)
      // Warm-up, then the measured windows: the routes take turns (bench/sse-api/alternating-client.ts), the first
      // one rotating from round to round.
      const order = rotate(routes, round % routes.length)
      await alternate(server.origin, server.pid, settings, 1, settings.warmupSeconds * 500, order)
      const windows = await alternate(server.origin, server.pid, settings, settings.windows, settings.windowMs, order)
      const sum = (path: string) => {
        const mine = windows.windows.filter((w) => w.path === path)
        const events = mine.reduce((n, w) => n + w.events, 0)
        const ms = mine.reduce((n, w) => n + w.ms, 0)
        const cpu = mine.reduce((n, w) => n + w.cpuNs, 0)
        return { perSecond: (events * 1000) / ms, cpuUs: events > 0 ? cpu / 1000 / events : Number.NaN }
      }
      if (windows.errors) problems.push(`round ${round + 1}: ${windows.errors} client errors`)
      const r: SseApiRound = { api: sum('/stream'), hand: sum('/hand/stream'), handRaw: sum('/hand-raw/stream') }
      rounds.push(r)
      log(
        `sse api round ${round + 1}/${settings.rounds}  API ${fixed(r.api.perSecond, 0).padStart(7)} events/s (${fixed(r.api.cpuUs, 3)} µs CPU each)  by hand ${fixed(r.hand.perSecond, 0).padStart(7)} (${fixed(r.hand.cpuUs, 3)} µs)  by hand to reply.raw ${fixed(r.handRaw.perSecond, 0).padStart(7)} (${fixed(r.handRaw.cpuUs, 3)} µs)  ratios ${fixed(r.api.perSecond / r.hand.perSecond, 3)}, ${fixed(r.api.perSecond / r.handRaw.perSecond, 3)}`,
      )
    } catch (error) {
      problems.push(`round ${round + 1}: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`)
    } finally {
      await stop(server)
    }
  }
  let handover: HandoverFigures | null = null
  if (settings.handoverStreams > 0) {
    try {
      handover = await measureHandover(settings.handoverStreams)
      log(
        `sse hand-over of ${handover.streams} streams (at-drain): reconnect event ${fixed(handover.reconnectAfterMs.min, 0)}-${fixed(handover.reconnectAfterMs.max, 0)} ms after SIGTERM, exit ${handover.exitCode} at ${fixed(handover.exitAfterMs, 0)} ms; reconnects ${fixed(handover.reconnectsPerSecond, 0)}/s over ${fixed(handover.reconnectWindowMs, 0)} ms, busiest 100 ms ${handover.busiest100Ms}`,
      )
    } catch (error) {
      problems.push(`hand-over: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`)
    }
  }
  return { settings, rounds, parity, handover, problems }
}

/** The API, the stream by hand through a Readable, and by hand to `reply.raw` (bench/sse-api/sse-api-server.ts). */
const routes = ['/stream', '/hand/stream', '/hand-raw/stream'] as const

interface Windows {
  windows: { path: string; events: number; ms: number; cpuNs: number }[]
  errors: number
}

const clientPath = fileURLToPath(new URL('./alternating-client.ts', import.meta.url))

function alternate(origin: string, pid: number, settings: SseApiSettings, windows: number, windowMs: number, order: readonly string[]): Promise<Windows> {
  return new Promise((resolve, reject) => {
    const args = [clientPath, origin, String(pid), String(settings.connections), String(windows), String(windowMs), settings.sseQuery, ...order]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`alternating client exited ${code}: ${err.slice(-300)}`))
      else resolve(JSON.parse(line) as Windows)
    })
  })
}

/** The routes must send the same bytes, and the same headers apart from the date. */
async function checkParity(origin: string): Promise<string> {
  const query = 'stream?tokens=200&interval_ms=0'
  const headers = { 'last-event-id': '3' }
  const answers = await Promise.all(
    routes.map(async (route) => {
      const response = await request(`${origin}${route.replace('stream', query)}`, { headers })
      const { date: _date, ...rest } = response.headers
      return { route, body: await response.body.text(), headers: JSON.stringify(Object.entries(rest).sort()) }
    }),
  )
  const [api] = answers
  for (const other of answers.slice(1)) {
    if (other.body !== api!.body) throw new Error(`sse api parity: the API sends ${JSON.stringify(api!.body.slice(0, 200))}, ${other.route} ${JSON.stringify(other.body.slice(0, 200))}`)
    if (other.headers !== api!.headers) throw new Error(`sse api parity: the API's headers ${api!.headers}, ${other.route}'s ${other.headers}`)
  }
  return `- Parity checked first: the three routes answered \`GET /${query}\` with \`Last-Event-ID: 3\` byte for byte the same (${api!.body.length} bytes), with the same headers but the date.`
}

/**
 * N paced streams open on a fresh reference service with STREAM_HANDOVER=at-drain and the default drain
 * (30 s, notice at 25 s); SIGTERM once each has had a token. The clients here do not reconnect: when
 * each would (its reconnect event's arrival plus its `retry:`) is what is reported.
 */
async function measureHandover(streams: number): Promise<HandoverFigures> {
  const port = await freePort()
  const server = launch(spec(port, { STREAM_HANDOVER: 'at-drain' }), port)
  const agent = new Agent({ connections: streams + 8 })
  try {
    await waitFor200(server, `${server.origin}/ready`, 20_000)
    let started = 0
    let sigtermAt = Number.POSITIVE_INFINITY
    const reconnects: { at: number; retry: number }[] = []
    let cut = 0
    const reading = Array.from({ length: streams }, async () => {
      const response = await request(`${server.origin}/stream?tokens=100000&interval_ms=100`, { dispatcher: agent })
      let text = ''
      let counted = false
      let handedOver = false
      try {
        for await (const chunk of response.body) {
          text += String(chunk)
          if (!counted && text.includes('event: token')) {
            counted = true
            started++
          }
          const match = /event: reconnect\nretry: (\d+)/.exec(text)
          if (match && !handedOver) {
            handedOver = true
            reconnects.push({ at: performance.now() - sigtermAt, retry: Number(match[1]) })
          }
          if (text.length > 4096) text = text.slice(-256)
        }
      } catch {
        // A reset: counted as cut below.
      }
      if (!handedOver) cut++
    })
    const deadline = performance.now() + 30_000
    while (started < streams && performance.now() < deadline) await sleep(20)
    sigtermAt = performance.now()
    server.child.kill('SIGTERM')
    await Promise.all(reading)
    const exit = await server.exited
    const after = reconnects.map((r) => r.at).sort((x, y) => x - y)
    const comeBack = reconnects.map((r) => r.at + r.retry).sort((x, y) => x - y)
    const first = comeBack[0] ?? 0
    const last = comeBack.at(-1) ?? 0
    let busiest = 0
    for (let i = 0, j = 0; i < comeBack.length; i++) {
      while (comeBack[i]! - comeBack[j]! >= 100) j++
      busiest = Math.max(busiest, i - j + 1)
    }
    return {
      streams,
      reconnectAfterMs: { min: after[0] ?? Number.NaN, median: median(after), max: after.at(-1) ?? Number.NaN },
      exitAfterMs: exit.at - sigtermAt,
      exitCode: exit.code,
      cut,
      reconnectWindowMs: last - first,
      reconnectsPerSecond: comeBack.length > 1 ? (comeBack.length * 1000) / (last - first) : Number.NaN,
      busiest100Ms: busiest,
    }
  } finally {
    await agent.close().catch(() => {})
    if (server.child.exitCode === null) await stop(server)
  }
}

/** What the profiles said (2026-12-06, `node --cpu-prof` and timings in one process; not shipped). */
const whereItGoes: string[] = [
  'What changed, and where the difference goes (`node --cpu-prof` on this server, strace, and the API\'s pipeline timed in',
  'one process against a sink that copies each chunk as `writev` does; CPU time per event, not shipped):',
  '',
  '- `sendEvents` no longer hands Fastify a Readable to pipe: it writes each chunk to `reply.raw` and waits for `\'drain\'`',
  '  only when `write()` returns false. The Readable cost a push, its buffer and a pipe step per chunk, and a `nextTick`',
  '  of its own: against the Readable route the API went from 0.891 (19:33, before) to the figure above. Both routes',
  '  now make the same system calls: one `writev` per chunk of 64 events (strace: one per 53-54 events, the ends',
  '  included, for either).',
  '- The hand-written baseline of the earlier runs was never "written to `reply.raw`": it is `Readable.from` piped by',
  '  Fastify, as the service had it. Written to `reply.raw` by hand, the same stream costs 15-20% less CPU per event',
  '  than through the Readable, and the API does not reach it: 0.85-0.93 in the rounds above.',
  '- What the API still does per event that the hand-written stream does not, about 35-45 ns of the 80-130 ns a',
  '  stream\'s JavaScript costs per event in one process: its producer builds the data and an array of 64 (about 20 ns',
  '  with the template; the array made at its size, not pushed, saves about 10), the API looks up the id\'s prefix and',
  '  joins it and the data (two string pieces, 10-15 ns), and checks the data for line breaks: one search for CR in',
  '  the chunk and one `indexOf` for the first LF after each event\'s data, about 10 ns an event on the flat chunk',
  '  (the chunk is flattened there rather than in `writev`, no extra copy). The hand-written route makes one',
  '  template per event and checks nothing: its text is its own.',
  '- Tried and dropped: pieces in an array joined once per chunk (10 ns slower: `join` flattens each piece); the',
  '  data kept as a second rope and searched once (20 ns slower: a second flatten); a check per string (40 ns: a',
  '  flatten each). Dropping the check would save about 15 ns an event, and let a line break in the data start a',
  '  field of its own: not done.',
]

export const sseApiSectionTitle = '## SSE: the API against a hand-written stream'

/** The section of docs/benchmarks.md: medians over rounds, the ratio a median of per-round ratios. */
export function sseApiSection(results: SseApiResults): string[] {
  const { rounds, settings: s, handover: h } = results
  const ratio = median(rounds.map((r) => r.api.perSecond / r.hand.perSecond))
  const cpuRatio = median(rounds.map((r) => r.hand.cpuUs / r.api.cpuUs))
  const rawRatio = median(rounds.map((r) => r.api.perSecond / r.handRaw.perSecond))
  const rawCpuRatio = median(rounds.map((r) => r.handRaw.cpuUs / r.api.cpuUs))
  const verdict = (x: number) => (Number.isFinite(x) ? (x >= 0.97 ? 'pass' : '**FAIL**') : 'not measured')
  const row = (name: string, pick: (r: SseApiRound) => { perSecond: number; cpuUs: number }) => {
    const perSecond = median(rounds.map((r) => pick(r).perSecond))
    const cpuUs = median(rounds.map((r) => pick(r).cpuUs))
    return `| ${name} | ${fixed(perSecond, 0)} | ${fixed(median(rounds.map((r) => pick(r).perSecond / r.hand.perSecond)), 3)} | ${fixed(median(rounds.map((r) => pick(r).perSecond / r.handRaw.perSecond)), 3)} | ${fixed(cpuUs, 3)} |`
  }
  return [
    sseApiSectionTitle,
    '',
    `Issue 21. Run with \`${results.command}\`, started ${results.startedAt}; load average ${results.loadavg} at the start and`,
    `${results.loadavgEnd} at the end, on a machine of 2 cores shared with other agents' builds and tests: the absolute`,
    'rates move with whatever else ran, only the ratios within a round mean anything.',
    '',
    `Three routes in one server process (bench/sse-api/sse-api-server.ts: the reference service, with lameduck), fresh each`,
    `round; ${s.rounds} rounds. In each, after ${s.warmupSeconds} s of warm-up, the routes take turns: ${s.windows} windows of ${s.windowMs} ms each per route,`,
    `in turn, the first route rotating between rounds, loaded by one client process (bench/sse-api/alternating-client.ts)`,
    `with ${s.connections} connections, each reading \`GET /stream?${s.sseQuery}\` of the window's route again and again and counting`,
    "events (the first 150 ms of a window, while the other routes' streams finish, are not counted). Taking turns every",
    "second rather than measuring one route for seconds and then the next: on this machine a route's rate moves 2x either",
    'way from one stretch of seconds to the next with what else runs. The routes, all sending the same bytes and headers',
    'with the same hand-over signal:',
    '',
    "- **API**: the service's `GET /stream` on `sendEvents`: 64 token strings yielded at once as an array, named by the",
    "  stream's `event: 'token'`; the API numbers and frames them, checks them for line breaks, and writes them to",
    '  `reply.raw` as one chunk;',
    '- **by hand (Readable)**: the same stream as the service wrote it before the API (bench/sse-api/hand-written-route.ts):',
    "  64 events concatenated into one string a turn, `reply.send(Readable.from(...))`, which Fastify pipes to the response.",
    "  the baseline of this benchmark's earlier runs;",
    "- **by hand (reply.raw)**: the same generator, its chunks written to `reply.raw` by hand, waiting for `'drain'` when",
    '  `write()` returns false: what the API now does, without the API. Measured so that the API\'s gain from writing',
    '  directly is not passed off as the API costing nothing.',
    '',
    "CPU: the server's CPU time over the windows divided by the events received.",
    '',
    '| Route | SSE events/s | x by hand (Readable) | x by hand (reply.raw) | µs CPU per event |',
    '|---|---:|---:|---:|---:|',
    row('by hand (Readable)', (r) => r.hand),
    row('by hand (reply.raw)', (r) => r.handRaw),
    row('API (`sendEvents`)', (r) => r.api),
    '',
    'Ratios are medians of the per-round ratios; CPU ratios are the by-hand route\'s CPU per event over the API\'s, so',
    'that above 1 favours the API as the rate\'s do.',
    '',
    '| Goal | Measured | Result |',
    '|---|---|---|',
    `| SSE events/s with the API >= 0.97 x by hand (Readable: the earlier runs' baseline) | ${fixed(ratio, 3)} (CPU per event: ${fixed(cpuRatio, 3)}) | ${verdict(ratio)} |`,
    `| SSE events/s with the API >= 0.97 x by hand written to reply.raw (the stricter baseline) | ${fixed(rawRatio, 3)} (CPU per event: ${fixed(rawCpuRatio, 3)}) | ${verdict(rawRatio)} |`,
    '',
    '| Round | API events/s (µs CPU) | by hand (Readable) | by hand (reply.raw) | API ÷ Readable | API ÷ reply.raw |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${fixed(r.api.perSecond, 0)} (${fixed(r.api.cpuUs, 3)}) | ${fixed(r.hand.perSecond, 0)} (${fixed(r.hand.cpuUs, 3)}) | ${fixed(r.handRaw.perSecond, 0)} (${fixed(r.handRaw.cpuUs, 3)}) | ${fixed(r.api.perSecond / r.hand.perSecond, 3)} | ${fixed(r.api.perSecond / r.handRaw.perSecond, 3)} |`,
    ),
    '',
    results.parity,
    '',
    ...whereItGoes,
    '',
    ...(h
      ? [
          `### Hand-over of ${h.streams} streams at once (\`STREAM_HANDOVER=at-drain\`)`,
          '',
          `A fresh reference service with the default drain (30 s, notice at 25 s) and \`STREAM_HANDOVER=at-drain\`, ${h.streams}`,
          'paced streams (`interval_ms=100`) open, SIGTERM once each has had a token. The clients do not reconnect here; when',
          'each would (its reconnect event\'s arrival plus its `retry:`, spread over the default window of 1000 ms) is reported.',
          '',
          '| Streams | SIGTERM to reconnect event (min / median / max) | SIGTERM to exit | exit code | cut | reconnects/s (over the window) | busiest 100 ms |',
          '|---:|---|---:|---:|---:|---:|---:|',
          `| ${h.streams} | ${fixed(h.reconnectAfterMs.min, 0)} / ${fixed(h.reconnectAfterMs.median, 0)} / ${fixed(h.reconnectAfterMs.max, 0)} ms | ${fixed(h.exitAfterMs, 0)} ms | ${h.exitCode} | ${h.cut} | ${fixed(h.reconnectsPerSecond, 0)} over ${fixed(h.reconnectWindowMs, 0)} ms | ${h.busiest100Ms} |`,
          '',
          `The arithmetic of docs/long-lived.md ("The reconnect storm") predicts N / spreadMs = ${h.streams} a second on average and`,
          `about ${fixed(h.streams / 10, 0)} ± ${fixed(Math.sqrt(h.streams * 0.1 * 0.9), 0)} in a 100 ms slice. Under \`at-notice\` the same streams would run 25 s into the drain first.`,
          '',
        ]
      : []),
    ...results.problems.map((p) => `- Problem: ${p}`),
    '',
  ]
}
