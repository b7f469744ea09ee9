import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { lifecycleTrials } from './lifecycle-trials.ts'
import { type LongLivedResults, longLivedBench, longLivedSection } from './long-lived/long-lived-bench.ts'
import { type SseApiResults, sseApiBench, sseApiSection, sseApiSectionTitle } from './sse-api/sse-api-bench.ts'
import { type ClusterResults, clusterBench, clusterSection, clusterSectionTitle } from './cluster/cluster-bench.ts'
import { type LoadSettings, runWrk, wrkCommand, wrkMissing } from './load/run-wrk.ts'
import { defaultPromptnessSettings, type PromptnessResults, promptnessBench, promptnessLaunchers, promptnessSection } from './promptness/promptness-bench.ts'
import { startOtlpSink } from './otlp-sink.ts'
import { designSection, environmentLines, figuresOf, goalsOf, goalTable, lifecycleTable, loadTable, roundsTable, shippedTable } from './report.ts'
import type { BenchResults, LoadRound, MicroResult, VariantResults } from './results.ts'
import { cpuMsOf, freePort, launch, type LaunchSpec, memoryOf, type ServerProcess, stop, waitFor200 } from './server-process.ts'
import { prepareImage } from './shipped-image.ts'
import { fixed, rotate } from './stats.ts'
import { buildDir, pythonVersions, type Variant, variants } from './variants.ts'

/**
 * `npm run bench`: every variant served side by side, loaded in alternating rounds by wrk
 * in its own process, then lifecycle trials on fresh processes, then the lifecycle-design
 * micro benchmark. Prints the tables and writes docs/benchmarks.md.
 * Environment (for short trial runs): BENCH_ROUNDS, BENCH_DURATION (s), BENCH_CONNECTIONS,
 * BENCH_WARMUP (s), BENCH_VARIANTS (comma-separated ids; the doc is then not written),
 * BENCH_NODE_FLAGS (extra flags for every Node variant but the "as shipped" ones, which run the Dockerfile's CMD
 * exactly), BENCH_SETTLE=on|off (off: no full GC before the warm-up: each round's server enters its round in
 * whatever state its start left it in; "bare" and "as shipped" never settle), BENCH_STARTS (starts per variant
 * in the start-time comparison, at least 9), BENCH_LONG_LIVED=off (skip the SSE and WebSocket figures),
 * BENCH_LONG_LIVED_DURATION (s), BENCH_LONG_LIVED_ROUNDS (default BENCH_ROUNDS), BENCH_SSE_API=on|off|only (the
 * event-stream API against a hand-written stream, and a hand-over of many streams; `only` runs just that, without wrk,
 * and refreshes its section of docs/benchmarks.md), BENCH_SSE_API_ROUNDS (default 9), BENCH_SSE_API_WINDOWS (measured windows per route, default 10),
 * BENCH_SSE_API_WINDOW_MS (default 1000), BENCH_SSE_API_QUERY (the stream read, default tokens=1000&interval_ms=0),
 * BENCH_SSE_HANDOVER_STREAMS (default 200; 0 skips the hand-over).
 * BENCH_PROMPTNESS=on|off|only (only:
 * nothing but the drain-promptness figures, which then replace that section of docs/benchmarks.md; wrk not needed),
 * BENCH_PROMPTNESS_ROUNDS (default BENCH_ROUNDS), BENCH_PROMPTNESS_SOCKETS, BENCH_PROMPTNESS_STREAMS, BENCH_PROMPTNESS_SESSIONS
 * (10000, 2000, 2000).
 * BENCH_CLUSTER=on|off|only (issue 20: a CPU-bound route on one process and on one replica of two workers, alternating
 * windows on fresh processes, and the readiness probe's latency under that load; `only` runs just that, without wrk,
 * and refreshes its section of docs/benchmarks.md), BENCH_CLUSTER_ROUNDS (default 5), BENCH_CLUSTER_WINDOWS (measured
 * windows per server and round, default 8), BENCH_CLUSTER_WINDOW_MS (default 1000), BENCH_CLUSTER_CONNECTIONS (default
 * 8), BENCH_CLUSTER_PROBE_MS (default 20), BENCH_CLUSTER_WORK_ROUNDS (hash passes per request, default 300).
 */
const env = process.env
const int = (name: string, fallback: number) => {
  const raw = env[name]
  if (raw === undefined) return fallback
  if (!/^[0-9]+$/.test(raw)) throw new Error(`${name} must be a whole number; received ${JSON.stringify(raw)}`)
  return Number(raw)
}
const rounds = int('BENCH_ROUNDS', 5)
const warmupSeconds = int('BENCH_WARMUP', 2)
const load: LoadSettings = { connections: int('BENCH_CONNECTIONS', 32), threads: 1, durationSeconds: int('BENCH_DURATION', 6), timeoutSeconds: 5 }
const settle = (() => {
  const raw = env.BENCH_SETTLE ?? 'on'
  if (raw !== 'on' && raw !== 'off') throw new Error(`BENCH_SETTLE must be on or off; received ${JSON.stringify(raw)}`)
  return raw === 'on'
})()
const coldStartCount = Math.max(9, int('BENCH_STARTS', 11))
const only = env.BENCH_VARIANTS?.split(',').map((s) => s.trim()).filter(Boolean)
const docPath = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url))
const findingsPath = fileURLToPath(new URL('./findings.md', import.meta.url))

const log = (line: string) => process.stdout.write(`${line}\n`)
const began = performance.now()
const loadAtStart = loadavg()

// 0. Issue 21: the event-stream API's overhead and a hand-over of many streams (bench/sse-api/). Needs no wrk.
const sseApiMode = env.BENCH_SSE_API ?? 'on'
if (!['on', 'off', 'only'].includes(sseApiMode)) throw new Error(`BENCH_SSE_API must be on, off or only; received ${JSON.stringify(sseApiMode)}`)
async function runSseApi(): Promise<SseApiResults> {
  const startedAt = new Date().toISOString()
  const loadAtSseStart = loadavg()
  const measured = await sseApiBench(
    {
      rounds: int('BENCH_SSE_API_ROUNDS', 9),
      windows: int('BENCH_SSE_API_WINDOWS', 10),
      windowMs: int('BENCH_SSE_API_WINDOW_MS', 1000),
      warmupSeconds,
      connections: int('BENCH_CONNECTIONS', 32),
      sseQuery: env.BENCH_SSE_API_QUERY ?? 'tokens=1000&interval_ms=0',
      handoverStreams: int('BENCH_SSE_HANDOVER_STREAMS', 200),
    },
    log,
  )
  const knobs = Object.entries(env).filter(([name]) => name.startsWith('BENCH_')).map(([name, value]) => `${name}=${value}`)
  return {
    ...measured,
    command: [...knobs.sort(), 'npm run bench'].join(' '),
    startedAt,
    loadavg: loadAtSseStart.map((x) => x.toFixed(2)).join(' '),
    loadavgEnd: loadavg().map((x) => x.toFixed(2)).join(' '),
  }
}
if (sseApiMode === 'only') {
  const results = await runSseApi()
  const section = sseApiSection(results)
  log('')
  for (const line of section) log(line)
  if (existsSync(docPath)) {
    const current = readFileSync(docPath, 'utf8')
    const at = current.indexOf(`\n${sseApiSectionTitle}\n`)
    const end = at >= 0 ? current.indexOf('\n## ', at + 1) : -1
    const before = at >= 0 ? current.slice(0, at) : current.slice(0, current.indexOf('\n## The lifecycle design'))
    const after = at >= 0 ? (end >= 0 ? current.slice(end) : '') : current.slice(current.indexOf('\n## The lifecycle design'))
    writeFileSync(docPath, [before, '', ...section].join('\n').replace(/\n+$/, '\n') + after)
    log(`\nupdated the "${sseApiSectionTitle.slice(3)}" section of ${docPath}`)
  }
  process.exit(results.problems.length ? 1 : 0)
}
// Issue 20: one replica on two workers against one process, a CPU-bound route (bench/cluster/). Needs no wrk.
const clusterMode = env.BENCH_CLUSTER ?? 'on'
if (!['on', 'off', 'only'].includes(clusterMode)) throw new Error(`BENCH_CLUSTER must be on, off or only; received ${JSON.stringify(clusterMode)}`)
async function runCluster(): Promise<ClusterResults> {
  const startedAt = new Date().toISOString()
  const loadAtClusterStart = loadavg()
  const uptime = spawnSync('uptime', { encoding: 'utf8' }).stdout?.trim() ?? ''
  const measured = await clusterBench(
    {
      rounds: int('BENCH_CLUSTER_ROUNDS', 5),
      warmupSeconds,
      windows: int('BENCH_CLUSTER_WINDOWS', 8),
      windowMs: int('BENCH_CLUSTER_WINDOW_MS', 1000),
      connections: int('BENCH_CLUSTER_CONNECTIONS', 8),
      probeEveryMs: int('BENCH_CLUSTER_PROBE_MS', 20),
      workRounds: int('BENCH_CLUSTER_WORK_ROUNDS', 300),
    },
    log,
  )
  const knobs = Object.entries(env).filter(([name]) => name.startsWith('BENCH_')).map(([name, value]) => `${name}=${value}`)
  return {
    ...measured,
    command: [...knobs.sort(), 'npm run bench'].join(' '),
    startedAt,
    uptime,
    loadavg: loadAtClusterStart.map((x) => x.toFixed(2)).join(' '),
    loadavgEnd: loadavg().map((x) => x.toFixed(2)).join(' '),
  }
}
if (clusterMode === 'only') {
  const results = await runCluster()
  const section = clusterSection(results)
  log('')
  for (const line of section) log(line)
  if (existsSync(docPath)) {
    writeFileSync(docPath, withSection(readFileSync(docPath, 'utf8'), clusterSectionTitle, section))
    log(`\nupdated the "${clusterSectionTitle.slice(3)}" section of ${docPath}`)
  }
  process.exit(results.problems.length ? 1 : 0)
}
// Drain promptness (bench/promptness/): lameduck's reference service against bare Fastify's close().
const promptness = (() => {
  const raw = env.BENCH_PROMPTNESS ?? 'on'
  if (raw !== 'on' && raw !== 'off' && raw !== 'only') throw new Error(`BENCH_PROMPTNESS must be on, off or only; received ${JSON.stringify(raw)}`)
  return raw
})()
const promptnessSettings = {
  ...defaultPromptnessSettings,
  rounds: int('BENCH_PROMPTNESS_ROUNDS', rounds),
  idleSockets: int('BENCH_PROMPTNESS_SOCKETS', defaultPromptnessSettings.idleSockets),
  streams: int('BENCH_PROMPTNESS_STREAMS', defaultPromptnessSettings.streams),
  sessions: int('BENCH_PROMPTNESS_SESSIONS', defaultPromptnessSettings.sessions),
}
const promptnessTitle = '## Drain promptness: lameduck against bare Fastify\'s close()'
async function runPromptness(): Promise<PromptnessResults> {
  // The reference service as built by `npm run build`; a dist/ older than the sources would measure old code.
  const entry = fileURLToPath(new URL('../dist/main.js', import.meta.url))
  const stale = distStale(entry)
  if (stale) throw new Error(`bench: ${stale}; run npm run build first`)
  const root = fileURLToPath(new URL('..', import.meta.url))
  const launchers = promptnessLaunchers(
    { lameduck: 'dist/main.js', bare: `${buildDir}/bench/promptness/bare-close-main.js`, probe: `${buildDir}/bench/promptness/socket-probe.js` },
    root,
  )
  return promptnessBench(launchers, promptnessSettings, log)
}
if (promptness === 'only') {
  const results = await runPromptness()
  const info = {
    date: new Date().toISOString(),
    loadavg: loadAtStart.map((x) => x.toFixed(2)).join(' '),
    loadavgEnd: loadavg().map((x) => x.toFixed(2)).join(' '),
    elapsedSeconds: (performance.now() - began) / 1000,
  }
  const knobs = Object.entries(env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
  const section = [
    promptnessTitle,
    '',
    `Measured in a run of its own (\`${knobs} npm run bench\`), not in the run above:`,
    '',
    `- Date: ${info.date}; whole run ${fixed(info.elapsedSeconds, 0)} s`,
    `- Node: ${process.version}; CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; load average (1, 5, 15 min) at start ${info.loadavg}, at end ${info.loadavgEnd}`,
    '- Other work may share the machine: the load averages above count it as well as this run\'s own driver and server, and on a',
    '  busy machine every figure here includes time spent waiting for a core.',
    '',
    ...promptnessSection(results),
  ]
  for (const line of section) log(line)
  if (existsSync(docPath)) {
    // The section, and the findings copied in at the end (as a full run writes them), so the two agree.
    let doc = withSection(readFileSync(docPath, 'utf8'), promptnessTitle, section)
    const findingsAt = doc.indexOf('\n## How the run is built')
    if (findingsAt >= 0 && existsSync(findingsPath)) doc = `${doc.slice(0, findingsAt + 1)}${readFileSync(findingsPath, 'utf8').trim()}\n`
    writeFileSync(docPath, doc)
    log(`\nupdated the "Drain promptness" section of ${docPath} and the findings copied into it`)
  }
  process.exit(0)
}

const missingWrk = wrkMissing()
if (missingWrk) {
  process.stderr.write(`bench: ${missingWrk}\n`)
  process.exit(1)
}
if (only) {
  const unknown = only.filter((id) => !variants.some((v) => v.id === id))
  if (unknown.length) throw new Error(`BENCH_VARIANTS: unknown ${unknown.join(', ')}; known: ${variants.map((v) => v.id).join(', ')}`)
}

const sink = await startOtlpSink()
const chosen = variants.filter((v) => !only || only.includes(v.id))
// The image's dist/, built as the Dockerfile builds it, before anything asks whether it is there.
if (chosen.some((v) => v.id.startsWith('shipped'))) await prepareImage()
const results: VariantResults[] = chosen.map((variant) => ({
  variant,
  skipped: variant.unavailable(),
  rounds: [],
  peakRssMb: Number.NaN,
  served: 0,
  spansTotal: 0,
  starts: [],
  inFlight: [],
  ready: [],
  coldStarts: [],
  problems: [],
}))
for (const r of results) if (r.skipped) log(`skip ${r.variant.id}: ${r.skipped}`)
const active = results.filter((r) => r.skipped === null)

const specFor = (variant: Variant, port: number, shutdownDelayMs: number) =>
  variant.launch({ port, sinkUrl: sink.endpointFor(variant.id), shutdownDelayMs: variant.hasShutdownDelay ? shutdownDelayMs : 0 })

// The load-round servers of the settled variants get the settle preload (bench/apps/settle-heap.ts); the
// lifecycle trials' fresh processes do not, so start-to-ready and idle RSS are measured without it.
const settlePreload = fileURLToPath(new URL(`../${buildDir}/bench/apps/settle-heap.js`, import.meta.url))
const loadSpecFor = (variant: Variant, port: number): { spec: LaunchSpec; settles: boolean } => {
  const spec = specFor(variant, port, 0)
  const settles = settle && variant.settles
  return { spec: settles ? { ...spec, args: ['--expose-gc', '--import', settlePreload, ...spec.args] } : spec, settles }
}

// 1. Every variant up, side by side: same route, same validation, so the answers to the same bodies must be the same.
const parity: string[] = []
let micro: MicroResult | null = null
{
  const servers = new Map<string, ServerProcess>()
  try {
    for (const r of active) {
      const port = await freePort()
      const server = launch(specFor(r.variant, port, 0), port)
      servers.set(r.variant.id, server)
      await waitFor200(server, `${server.origin}${r.variant.readyPath}`, 20_000)
    }
    await checkParity(active, servers, parity)
  } finally {
    await Promise.all([...servers.values()].map((s) => stop(s)))
  }
}

// 2. Alternating rounds, a fresh server per variant per round: a process's V8 state moves its
// throughput by a few percent for its whole life (bench/findings.md), so one process per variant
// would make every round of a variant share its luck. Each: ready, one idle full GC (settle-heap.ts),
// warm-up, then the measured load.
for (let round = 0; round < rounds; round++) {
  for (const r of rotate(active, round)) {
    const port = await freePort()
    const { spec, settles } = loadSpecFor(r.variant, port)
    const server = launch(spec, port)
    try {
      await waitFor200(server, `${server.origin}${r.variant.readyPath}`, 20_000)
      if (settles) {
        server.child.kill('SIGUSR2')
        await sleep(300)
      }
      const warm = await runWrk(`${server.origin}/hello`, { ...load, durationSeconds: warmupSeconds })
      r.served += warm.requests
      if (r.variant.tracing !== 'off') await exportsSettled(r.variant.id)
      const last = await loadRound(r.variant, server)
      r.rounds.push(last)
      r.served += last.load.requests
      r.peakRssMb = Math.max(Number.isNaN(r.peakRssMb) ? 0 : r.peakRssMb, memoryOf(server.pid).peakMb)
      log(
        `load round ${round + 1}/${rounds} ${r.variant.id.padEnd(14)} ${last.load.requestsPerSecond.toFixed(0).padStart(6)} req/s  p50 ${last.load.p50Ms.toFixed(2)} ms  p99 ${last.load.p99Ms.toFixed(2)} ms  cpu ${last.cpuUsPerRequest.toFixed(1)} µs/req  rss ${last.loadRssMb.toFixed(1)} MB${last.load.errors ? `  ERRORS ${last.load.errors}` : ''}${last.sink.spans ? `  spans ${last.sink.spans}` : ''}`,
      )
    } finally {
      // Traced variants flush their queues on the way out; the sink counts that too.
      await stop(server)
    }
  }
}
for (const r of active) r.spansTotal = sink.counts(r.variant.id).spans

// 3. Lifecycle trials, each on a fresh process, alternating too.
const trials = lifecycleTrials(specFor)
for (let round = 0; round < rounds; round++) {
  for (const r of rotate(active, round)) {
    if (r.variant.role !== 'main') continue
    try {
      const s = await trials.startTrial(r.variant)
      const f = await trials.inFlightTrial(r.variant)
      const y = await trials.readyTrial(r.variant)
      r.starts.push(s)
      r.inFlight.push(f)
      r.ready.push(y)
      log(
        `lifecycle ${round + 1}/${rounds} ${r.variant.id.padEnd(12)} ready ${s.startToReadyMs.toFixed(0)} ms  idle rss ${s.idleRssMb.toFixed(1)} MB  idle exit ${s.idleExitMs?.toFixed(1) ?? 'killed'} ms (code ${s.idleExitCode})  in-flight ${f.status} ${f.connectionHeader} -> exit ${f.responseToExitMs?.toFixed(1) ?? 'killed'} ms (code ${f.exitCode})  /ready ${y.before} -> ${y.firstAfterSignal} (200s after signal ${y.okAfterSignal}${y.flapped ? ", CAME BACK" : ""}), not ready ${y.notReadyMs?.toFixed(1) ?? '-'} ms as ${y.notReadyAs}`,
      )
      if (f.status !== 200) r.problems.push(`in-flight request at SIGTERM answered ${f.status ?? 'nothing (connection lost)'}`)
    } catch (error) {
      r.problems.push(String(error instanceof Error ? error.message : error).slice(0, 300))
      log(`lifecycle ${r.variant.id}: ${String(error)}`)
    }
  }
}

// 3b. SSE events/s and WebSocket messages/s, lameduck against the baseline (bench/long-lived/). BENCH_LONG_LIVED=off skips it.
let longLived: LongLivedResults | null = null
{
  const pair = { baseline: active.find((r) => r.variant.id === 'baseline')?.variant, lameduck: active.find((r) => r.variant.id === 'lameduck')?.variant }
  if (pair.baseline && pair.lameduck && env.BENCH_LONG_LIVED !== 'off') {
    // More, shorter rounds than the HTTP figures by choice: a round's rate moves by 10-30% with the state its two
    // processes happen to be in (bench/findings.md), so the median of per-round ratios needs many rounds to settle.
    const settings = {
      rounds: int('BENCH_LONG_LIVED_ROUNDS', rounds),
      seconds: int('BENCH_LONG_LIVED_DURATION', 5),
      warmupSeconds,
      connections: load.connections,
      sseQuery: 'tokens=1000&interval_ms=0',
    }
    longLived = await longLivedBench({ baseline: pair.baseline, lameduck: pair.lameduck }, loadSpecFor, settings, log)
  }
}

// 3b'. The event-stream API against a hand-written stream (issue 21); BENCH_SSE_API=off skips it.
const sseApi: SseApiResults | null = sseApiMode === 'on' ? await runSseApi() : null

// 3c'. Drain promptness against bare Fastify's close(). BENCH_PROMPTNESS=off skips it.
let promptnessResults: PromptnessResults | null = null
if (promptness === 'on') {
  try {
    promptnessResults = await runPromptness()
  } catch (error) {
    log(`promptness: ${String(error instanceof Error ? error.message : error)}`)
  }
}

// 3c''. One replica on two workers against one process (issue 20); BENCH_CLUSTER=off skips it.
let clusterResults: ClusterResults | null = null
if (clusterMode === 'on') {
  try {
    clusterResults = await runCluster()
  } catch (error) {
    log(`cluster: ${String(error instanceof Error ? error.message : error)}`)
  }
}

// 3c. Start time as a user meets it: the "shipped" variants (bare Fastify and the image's CMD), each a fresh process
// started as is, alternating, at least 9 each: spawn to the first 200 from /ready, and RSS 300 ms later.
const coldStarters = active.filter((r) => r.variant.role === 'shipped')
for (let i = 0; i < (coldStarters.length ? coldStartCount : 0); i++) {
  for (const r of rotate(coldStarters, i)) {
    const port = await freePort()
    const server = launch(specFor(r.variant, port, 0), port)
    try {
      const readyAt = await waitFor200(server, `${server.origin}${r.variant.readyPath}`, 20_000)
      await sleep(300)
      r.coldStarts.push({ startToReadyMs: readyAt - server.spawnedAt, idleRssMb: memoryOf(server.pid).rssMb })
      log(`start ${i + 1}/${coldStartCount} ${r.variant.id.padEnd(14)} ready ${(readyAt - server.spawnedAt).toFixed(0)} ms  idle rss ${memoryOf(server.pid).rssMb.toFixed(1)} MB`)
    } catch (error) {
      r.problems.push(String(error instanceof Error ? error.message : error).slice(0, 300))
    } finally {
      await stop(server)
    }
  }
}

// 4. The lifecycle design itself, without HTTP.
if (!only || only.includes('naive')) {
  const run = spawnSync(process.execPath, [fileURLToPath(new URL(`../${buildDir}/bench/lifecycle/lifecycle-micro.js`, import.meta.url))], {
    encoding: 'utf8',
    env: { ...process.env, MICRO_REQUESTS: '100000', MICRO_ROUNDS: '5' },
  })
  if (run.status === 0) micro = JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as MicroResult
  else log(`micro benchmark failed: ${run.stderr.slice(-500)}`)
}
await sink.close()

const bench: BenchResults = {
  info: {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    loadavg: loadAtStart.map((x) => x.toFixed(2)).join(' '),
    loadavgEnd: loadavg().map((x) => x.toFixed(2)).join(' '),
    shared: (loadAtStart[0] ?? 0) > 1 || (loadavg()[0] ?? 0) > 1,
    python: chosen.some((v) => v.id === 'seed-python') ? pythonVersions() : null,
    load,
    rounds,
    warmupSeconds,
    nodeFlags: process.env.BENCH_NODE_FLAGS ?? '',
    settle,
    loadCommand: wrkCommand('http://127.0.0.1:PORT/hello', load).join(' ').replace(/\S*post-hello\.lua/, 'bench/load/post-hello.lua'),
    elapsedSeconds: (performance.now() - began) / 1000,
  },
  variants: results,
  micro,
  parity,
}
const figures = figuresOf(bench)
const mainFigures = figures.filter((f) => results.find((r) => r.variant.id === f.id)?.variant.role === 'main')
const shippedFigures = figures.filter((f) => results.find((r) => r.variant.id === f.id)?.variant.role === 'shipped')
const shipped = shippedFigures.length ? shippedTable(shippedFigures, coldStartCount) : []
const shippedSectionTitle = '## As shipped: the image\'s command against bare Fastify'
const shippedNotes = [
  'Nothing equalised here: "bare" is the baseline app started with `node`, "as shipped" the Dockerfile\'s CMD exactly (flags and',
  'entry as written, the bundle built by `scripts/build-image.ts` as the Dockerfile builds it), neither given the settle GC.',
  'Ratios are against bare Fastify (throughput, p99 and CPU: medians of per-round ratios; start: ratio of the medians). CPU',
  'per request is the server\'s own CPU time over the measured load, divided by the requests served: on a shared machine',
  'it moves less than req/s, though heavy sharing inflates it too.',
]
const main = [...loadTable(mainFigures), '', ...lifecycleTable(mainFigures)]
const goals = goalTable(goalsOf(figures))
const design = designSection(bench, figures)
const problems = results.flatMap((r) => r.problems.map((p) => `- ${r.variant.id}: ${p}`))
log('')
const longLivedLines = [...(longLived ? longLivedSection(longLived) : []), ...(sseApi ? sseApiSection(sseApi) : [])]
const promptnessLines = [...(promptnessResults ? [promptnessTitle, '', ...promptnessSection(promptnessResults)] : []), ...(clusterResults ? clusterSection(clusterResults) : [])]
for (const line of [...environmentLines(bench), '', ...main, '', ...shipped, '', ...goals, '', ...longLivedLines, ...promptnessLines, ...design, ...problems]) log(line)

// A run of the "as shipped" variants alone (BENCH_VARIANTS=bare,shipped,shipped-traced) refreshes that section of
// the committed doc, its own run line and goals included, and the findings copied in; the rest stays as it was.
const shippedOnly = only !== undefined && chosen.length > 0 && chosen.every((v) => v.role === 'shipped') && chosen.some((v) => v.id === 'bare')
if (shippedOnly && existsSync(docPath)) {
  const current = readFileSync(docPath, 'utf8')
  const findingsAt = current.indexOf('\n## How the run is built')
  const before = current.slice(0, current.indexOf('\n## As shipped') >= 0 ? current.indexOf('\n## As shipped') : current.indexOf('\n## Goals'))
  const after = current.slice(current.indexOf('\n## Goals'), findingsAt >= 0 ? findingsAt : undefined)
  const section = [
    '',
    shippedSectionTitle,
    '',
    `Measured in a run of its own (\`BENCH_VARIANTS=${chosen.map((v) => v.id).join(',')}\`), not in the run above:`,
    '',
    ...environmentLines(bench),
    '',
    ...shipped,
    '',
    ...shippedNotes,
    '',
    ...goalTable(goalsOf(figures).filter((g) => g.note !== 'skipped')),
    '',
    'Every round of this run:',
    '',
    ...roundsTable(bench),
  ]
  const findingsText = existsSync(findingsPath) ? ['', readFileSync(findingsPath, 'utf8').trim(), ''] : []
  writeFileSync(docPath, [before, ...section, after.replace(/\n+$/, ''), ...findingsText].join('\n'))
  log(`\nupdated the "As shipped" section of ${docPath}`)
}

if (!only) {
  const doc = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (bench/run-bench.ts); do not edit by hand: edit bench/findings.md, which is copied in below.',
    'The machine is noisy, so only ratios between variants measured in the same run mean anything; absolute numbers from',
    'different runs must not be compared.',
    '',
    '## Run',
    '',
    ...environmentLines(bench),
    '',
    '## Figures per variant',
    '',
    ...loadTable(mainFigures),
    '',
    'Throughput and its ratio to the baseline (median of per-round ratios); wrk\'s p50/p99 latency and its ratio; RSS of a',
    'fresh process 300 ms after ready, and the highest peak (VmHWM) of the round\'s servers over warm-up and load; spans',
    'the OTLP sink received per POST /hello served (over the servers\' lives, their final flushes included).',
    '',
    ...lifecycleTable(mainFigures),
    '',
    'Each on a fresh process: start to the first 200 from the readiness probe (polled every 2 ms on new connections);',
    'SIGTERM to exit with an idle keep-alive connection open; from the last in-flight response (SIGTERM 100 ms into a',
    '300 ms request) to exit; SIGTERM to the first /ready answer that is not 200 and what it was (503, refused, reset);',
    'how many first /ready requests, written on an open keep-alive connection right after SIGTERM, were answered 503,',
    'and the most 200s seen after SIGTERM in one trial (see "The /ready trial" below).',
    '',
    shippedSectionTitle,
    '',
    ...shipped,
    '',
    ...shippedNotes,
    '',
    '## Goals',
    '',
    ...goals,
    '',
    ...longLivedLines,
    ...promptnessLines,
    ...design,
    ...(problems.length ? ['## Problems seen during the run', '', ...problems, ''] : []),
    ...(parity.length ? ['## Same work', '', ...parity, ''] : []),
    '## Every round',
    '',
    ...roundsTable(bench),
    '',
    ...(existsSync(findingsPath) ? [readFileSync(findingsPath, 'utf8').trim(), ''] : []),
  ].join('\n')
  mkdirSync(fileURLToPath(new URL('../docs', import.meta.url)), { recursive: true })
  writeFileSync(docPath, doc)
  log(`\nwrote ${docPath}`)
}

async function loadRound(variant: Variant, server: ServerProcess): Promise<LoadRound> {
  const before = sink.counts(variant.id)
  let loadRssMb = 0
  const cpuBefore = cpuMsOf(server.pid)
  const sampler = setInterval(() => {
    loadRssMb = Math.max(loadRssMb, memoryOf(server.pid).rssMb)
  }, 100)
  try {
    const result = await runWrk(`${server.origin}/hello`, load)
    if (variant.tracing !== 'off') await exportsSettled(variant.id)
    const after = sink.counts(variant.id)
    return {
      load: result,
      cpuUsPerRequest: ((cpuMsOf(server.pid) - cpuBefore) * 1000) / Math.max(1, result.requests),
      loadRssMb,
      sink: { exports: after.exports - before.exports, bytes: after.bytes - before.bytes, spans: after.spans - before.spans },
    }
  } finally {
    clearInterval(sampler)
  }
}

/**
 * A traced variant keeps exporting its queue after the load stops (batches every few seconds).
 * Wait until it has been quiet for 1.5 s (at most 7 s), so its spans are counted in its own round
 * and its exporting does not take CPU from the next variant's round.
 */
async function exportsSettled(id: string): Promise<void> {
  const start = performance.now()
  while (performance.now() - start < 7000) {
    if (performance.now() - Math.max(sink.lastExportAt(id), start - 1000) > 1500) return
    await sleep(100)
  }
}

async function checkParity(list: VariantResults[], running: Map<string, ServerProcess>, notes: string[]): Promise<void> {
  const bodies: [string, string | undefined][] = [
    ['valid', '{"name":"bench"}'],
    ['empty object', '{}'],
    ['wrong type', '{"name":42}'],
    ['unknown field', '{"nam":"x"}'],
    ['out of range', '{"work_ms":-1}'],
    ['over 1 MiB', JSON.stringify({ name: 'x'.repeat(1_100_000) })],
  ]
  const answers = new Map<string, string[]>()
  for (const r of list) {
    const server = running.get(r.variant.id) as ServerProcess
    const got: string[] = []
    for (const [, body] of bodies) {
      const res = await fetch(`${server.origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      got.push(`${res.status} ${await res.text()}`)
    }
    answers.set(r.variant.id, got)
  }
  const reference = answers.get('baseline') ?? answers.get('lameduck')
  if (!reference) return
  for (const r of list) {
    const got = answers.get(r.variant.id) as string[]
    if (r.variant.id === 'seed-python') {
      notes.push(
        `- The seed (FastAPI) answers the same bodies with ${got.map((g, i) => `${bodies[i]?.[0]} ${g.slice(0, 3)}`).join(', ')} (FastAPI's 422 for invalid bodies; the Fastify variants answer 400 with the field and the value).`,
      )
      continue
    }
    got.forEach((answer, i) => {
      if (answer !== reference[i]) throw new Error(`parity: ${r.variant.id} answers "${bodies[i]?.[0]}" with ${answer.slice(0, 200)}, the baseline with ${reference[i]?.slice(0, 200)}`)
    })
  }
  notes.unshift(`- Parity checked at the start of the run: every Fastify variant answered ${bodies.map((b) => b[0]).join(', ')} bodies exactly as the baseline did (status and body).`)
}

/** Why `entry` (dist/main.js) would not run the sources as they are: missing, or older than a file under src/. */
function distStale(entry: string): string | null {
  if (!existsSync(entry)) return `${entry} is missing`
  const built = statSync(entry).mtimeMs
  const src = fileURLToPath(new URL('../src', import.meta.url))
  const newer = (readdirSync(src, { recursive: true }) as string[]).find((f) => f.endsWith('.ts') && statSync(`${src}/${f}`).mtimeMs > built)
  return newer ? `dist/ is older than src/${newer}` : null
}

/**
 * `doc` with the section under `title` (up to the next "## " heading) replaced by `section`, or, if it has
 * none, with `section` put before the lifecycle-design section (else before the copied findings, else at the end).
 */
function withSection(doc: string, title: string, section: string[]): string {
  const text = `${section.join('\n').replace(/\n+$/, '')}\n\n`
  const at = doc.indexOf(`\n${title}\n`)
  if (at >= 0) {
    const next = doc.indexOf('\n## ', at + 1)
    return `${doc.slice(0, at + 1)}${text}${next >= 0 ? doc.slice(next + 1) : ''}`
  }
  for (const anchor of ['\n## The lifecycle design', '\n## How the run is built']) {
    const i = doc.indexOf(anchor)
    if (i >= 0) return `${doc.slice(0, i + 1)}${text}${doc.slice(i + 1)}`
  }
  return `${doc.replace(/\n+$/, '')}\n\n${text}`
}
