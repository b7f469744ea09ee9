import { exitCapMs, readyTrialDelayMs } from './lifecycle-trials.ts'
import type { BenchResults, VariantResults } from './results.ts'
import { fixed, max, median } from './stats.ts'
import { commonEnv } from './variants.ts'

/** One variant's figures: medians over rounds; ratios are medians of per-round ratios. */
export interface Figures {
  readonly id: string
  readonly label: string
  readonly skipped: string | null
  readonly rps: number
  readonly rpsRatio: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p99Ratio: number
  readonly idleRssMb: number
  readonly loadRssMb: number
  readonly peakRssMb: number
  readonly startToReadyMs: number
  readonly idleExitMs: number
  readonly responseToExitMs: number
  readonly notReady: string
  readonly firstReadyAfterSignal: string
  /** Most /ready 200s seen after SIGTERM in one trial, and whether any trial saw readiness come back. */
  readonly okAfterSignalMax: number
  readonly flapped: boolean
  /** Every trial's first not-200 was a 503 (not a refused or reset connection). */
  readonly all503: boolean
  readonly spansPerRequest: number
  readonly errors: number
  /** Server CPU time per request served under load, µs (median over rounds), and its ratio (median of per-round ratios). */
  readonly cpuUsPerRequest: number
  readonly cpuRatio: number
  /** "shipped" variants: the start-time comparison's medians, and the ratio of its median start to the compared variant's. */
  readonly coldStartMs: number
  readonly coldStartRatio: number
  readonly coldIdleRssMb: number
  readonly coldIdleRssDiffMb: number
  readonly coldStarts: number
}

export interface Goal {
  readonly goal: string
  readonly measured: string
  /** null: nothing to judge (skipped, not measured, or a figure that is only reported). */
  readonly pass: boolean | null
  readonly note?: 'skipped' | 'not measured' | 'reported'
}

function perRoundRatio(a: VariantResults, b: VariantResults | undefined, pick: (r: VariantResults['rounds'][number]) => number): number {
  if (!b) return Number.NaN
  const n = Math.min(a.rounds.length, b.rounds.length)
  const ratios: number[] = []
  for (let i = 0; i < n; i++) ratios.push(pick(a.rounds[i] as never) / pick(b.rounds[i] as never))
  return median(ratios)
}

const killed = (values: (number | null)[]) => values.some((v) => v === null)

export function figuresOf(results: BenchResults): Figures[] {
  const byId = (id: string) => results.variants.find((v) => v.variant.id === id)
  return results.variants.map((v) => {
    const baseline = byId(v.variant.comparedWith)
    const coldStartMs = median(v.coldStarts.map((c) => c.startToReadyMs))
    const coldIdleRssMb = median(v.coldStarts.map((c) => c.idleRssMb))
    const notReady = v.ready.map((t) => t.notReadyAs)
    const notReadyKinds = [...new Set(notReady.map((k) => k ?? 'never'))].join('/')
    const firsts = v.ready.map((t) => t.firstAfterSignal)
    const idleExits = v.starts.map((t) => t.idleExitMs)
    const responseExits = v.inFlight.map((t) => t.responseToExitMs)
    return {
      id: v.variant.id,
      label: v.variant.label,
      skipped: v.skipped,
      rps: median(v.rounds.map((r) => r.load.requestsPerSecond)),
      rpsRatio: perRoundRatio(v, baseline, (r) => r.load.requestsPerSecond),
      p50Ms: median(v.rounds.map((r) => r.load.p50Ms)),
      p99Ms: median(v.rounds.map((r) => r.load.p99Ms)),
      p99Ratio: perRoundRatio(v, baseline, (r) => r.load.p99Ms),
      idleRssMb: median(v.starts.map((t) => t.idleRssMb)),
      loadRssMb: max(v.rounds.map((r) => r.loadRssMb)),
      peakRssMb: v.peakRssMb,
      startToReadyMs: median(v.starts.map((t) => t.startToReadyMs)),
      idleExitMs: killed(idleExits) ? Number.POSITIVE_INFINITY : median(idleExits),
      responseToExitMs: killed(responseExits) ? Number.POSITIVE_INFINITY : median(responseExits),
      notReady: v.ready.length === 0 ? '–' : `${fixed(median(v.ready.map((t) => t.notReadyMs)), 1)} (${notReadyKinds})`,
      firstReadyAfterSignal: firsts.length === 0 ? '–' : `${firsts.filter((f) => f === '503').length}/${firsts.length} 503`,
      okAfterSignalMax: v.ready.length === 0 ? Number.NaN : Math.max(...v.ready.map((t) => t.okAfterSignal)),
      flapped: v.ready.some((t) => t.flapped),
      all503: v.ready.length > 0 && v.ready.every((t) => t.notReadyAs === '503'),
      spansPerRequest: v.served > 0 ? v.spansTotal / v.served : Number.NaN,
      errors: v.rounds.reduce((s, r) => s + r.load.errors, 0),
      cpuUsPerRequest: median(v.rounds.map((r) => r.cpuUsPerRequest)),
      cpuRatio: perRoundRatio(v, baseline, (r) => r.cpuUsPerRequest),
      coldStartMs,
      coldStartRatio: coldStartMs / median(baseline?.coldStarts.map((c) => c.startToReadyMs) ?? []),
      coldIdleRssMb,
      coldIdleRssDiffMb: coldIdleRssMb - median(baseline?.coldStarts.map((c) => c.idleRssMb) ?? []),
      coldStarts: v.coldStarts.length,
    }
  })
}

export function goalsOf(figures: Figures[]): Goal[] {
  const f = (id: string) => figures.find((x) => x.id === id && x.skipped === null)
  const goals: Goal[] = []
  const add = (goal: string, value: number | undefined, digits: number, ok: (v: number) => boolean, unit = '', why = '') => {
    if (value === undefined) goals.push({ goal, measured: why || 'variant skipped', pass: null, note: 'skipped' })
    else if (Number.isNaN(value)) goals.push({ goal, measured: '–', pass: null, note: 'not measured' })
    else if (!Number.isFinite(value)) goals.push({ goal, measured: `> ${exitCapMs} ms (killed)`, pass: false })
    else goals.push({ goal, measured: `${value.toFixed(digits)}${unit}`, pass: ok(value) })
  }
  const lameduck = f('lameduck')
  const baseline = f('baseline')
  const traced = f('traced-100')
  const traced10 = f('traced-10')
  const otel = f('fastify-otel')
  add('2 throughput >= 0.97 x baseline', lameduck?.rpsRatio, 3, (v) => v >= 0.97, ' x')
  add('2 p99 latency <= 1.05 x baseline', lameduck?.p99Ratio, 3, (v) => v <= 1.05, ' x')
  add(
    '2 idle RSS within 10 MB of baseline',
    lameduck && baseline ? lameduck.idleRssMb - baseline.idleRssMb : undefined,
    1,
    (v) => Math.abs(v) <= 10,
    ' MB',
  )
  add('3 throughput (100% traced) >= 0.60 x baseline', traced?.rpsRatio, 3, (v) => v >= 0.6, ' x')
  add(
    '3 throughput (100% traced) >= 1.5 x variant 5 (@fastify/otel)',
    traced && otel ? traced.rpsRatio / otel.rpsRatio : undefined,
    2,
    (v) => v >= 1.5,
    ' x',
  )
  add('4 throughput (10% traced) >= 0.90 x baseline', traced10?.rpsRatio, 3, (v) => v >= 0.9, ' x')
  for (const x of [lameduck, traced, traced10]) {
    if (!x) continue
    goals.push({ goal: `${x.label.slice(0, 1)} RSS under traced/untraced load (peak, reported)`, measured: `${fixed(x.peakRssMb, 1)} MB`, pass: null, note: 'reported' })
  }
  for (const x of [lameduck, traced, traced10]) {
    if (!x) continue
    const n = x.label.slice(0, 1)
    add(`${n} SIGTERM to exit, idle, <= 50 ms`, x.idleExitMs, 1, (v) => v <= 50, ' ms')
    add(`${n} last in-flight response to exit <= 20 ms`, x.responseToExitMs, 1, (v) => v <= 20, ' ms')
    goals.push({
      goal: `${n} /ready answers 503 before the next request is answered`,
      measured: `first /ready written right after kill(): ${x.firstReadyAfterSignal}; most 200s after SIGTERM in a trial: ${x.okAfterSignalMax}; readiness came back: ${x.flapped ? 'yes' : 'no'}`,
      // One 200 is a /ready that reached the process before the signal did (see the notes); more, or a 503 turning back, fails.
      pass: x.all503 && !x.flapped && x.okAfterSignalMax <= 1,
    })
  }
  const shipped = f('shipped')
  const shippedTraced = f('shipped-traced')
  add('S (as shipped) throughput >= 0.92 x bare Fastify', shipped?.rpsRatio, 3, (v) => v >= 0.92, ' x')
  add('S (as shipped) p99 latency <= 1.10 x bare Fastify', shipped?.p99Ratio, 3, (v) => v <= 1.1, ' x')
  add(
    `S (as shipped) start to first /ready 200 <= 1.3 x bare Fastify's start to first answer (median of ${shipped?.coldStarts ?? 0})`,
    shipped?.coldStartRatio,
    2,
    (v) => v <= 1.3,
    ' x',
  )
  add('S (as shipped) idle RSS within 10 MB of bare Fastify', shipped?.coldIdleRssDiffMb, 1, (v) => Math.abs(v) <= 10, ' MB')
  add('ST (as shipped, 100% traced) throughput >= 0.60 x bare Fastify', shippedTraced?.rpsRatio, 3, (v) => v >= 0.6, ' x')
  add('2 start to ready < 300 ms (no tracing)', lameduck?.startToReadyMs, 0, (v) => v < 300, ' ms')
  const image = f('image-default')
  add('2b (telemetry entry, no endpoint) start to ready < 300 ms', image?.startToReadyMs, 0, (v) => v < 300, ' ms')
  add(
    '2b (telemetry entry, no endpoint) idle RSS within 10 MB of baseline',
    image && baseline ? image.idleRssMb - baseline.idleRssMb : undefined,
    1,
    (v) => Math.abs(v) <= 10,
    ' MB',
  )
  return goals
}

const ms = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : v > 0 ? `> ${exitCapMs} (killed)` : '–')

export function loadTable(figures: Figures[]): string[] {
  const rows = [
    '| Variant | req/s | x baseline | p50 ms | p99 ms | p99 x baseline | RSS idle MB | RSS under load, peak MB | spans / request |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const x of figures) {
    if (x.skipped) {
      rows.push(`| ${x.label} | skipped: ${x.skipped} ||||||||`)
      continue
    }
    rows.push(
      `| ${x.label}${x.errors ? ` (**${x.errors} errors**)` : ''} | ${fixed(x.rps, 0)} | ${fixed(x.rpsRatio, 3)} | ${fixed(x.p50Ms, 2)} | ${fixed(x.p99Ms, 2)} | ${fixed(x.p99Ratio, 3)} | ${fixed(x.idleRssMb, 1)} | ${fixed(x.peakRssMb, 1)} | ${fixed(x.spansPerRequest, 2)} |`,
    )
  }
  return rows
}

/** The "as shipped" comparison: each variant against bare Fastify, nothing equalised. */
export function shippedTable(figures: Figures[], starts: number): string[] {
  const rows = [
    `| Variant | req/s | x bare | p99 ms | p99 x bare | CPU µs / request | x bare | start to first 200, ms (median of ${starts}) | x bare | RSS idle MB | - bare MB |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const x of figures) {
    if (x.skipped) {
      rows.push(`| ${x.label} | skipped: ${x.skipped} ||||||||||`)
      continue
    }
    rows.push(
      `| ${x.label}${x.errors ? ` (**${x.errors} errors**)` : ''} | ${fixed(x.rps, 0)} | ${fixed(x.rpsRatio, 3)} | ${fixed(x.p99Ms, 2)} | ${fixed(x.p99Ratio, 3)} | ${fixed(x.cpuUsPerRequest, 1)} | ${fixed(x.cpuRatio, 3)} | ${fixed(x.coldStartMs, 0)} | ${fixed(x.coldStartRatio, 2)} | ${fixed(x.coldIdleRssMb, 1)} | ${fixed(x.coldIdleRssDiffMb, 1)} |`,
    )
  }
  return rows
}

export function lifecycleTable(figures: Figures[]): string[] {
  const rows = [
    '| Variant | start to ready ms | SIGTERM to exit, idle ms | last in-flight response to exit ms | SIGTERM to first /ready not 200, ms (as) | first /ready after SIGTERM (most 200s after SIGTERM) |',
    '|---|---:|---:|---:|---|---|',
  ]
  for (const x of figures) {
    if (x.skipped) continue
    rows.push(
      `| ${x.label} | ${fixed(x.startToReadyMs, 0)} | ${ms(x.idleExitMs)} | ${ms(x.responseToExitMs)} | ${x.notReady} | ${x.firstReadyAfterSignal} (${fixed(x.okAfterSignalMax, 0)}${x.flapped ? ', came back' : ''}) |`,
    )
  }
  return rows
}

/** Every round's throughput, for anyone who wants to see the spread behind the medians. */
export function roundsTable(results: BenchResults): string[] {
  const ran = results.variants.filter((v) => v.rounds.length > 0)
  const n = Math.max(0, ...ran.map((v) => v.rounds.length))
  const head = `| Variant | ${Array.from({ length: n }, (_, i) => `round ${i + 1} req/s (p99 ms)`).join(' | ')} |`
  return [
    head,
    `|---|${Array.from({ length: n }, () => '---:').join('|')}|`,
    ...ran.map((v) => `| ${v.variant.label} | ${v.rounds.map((r) => `${fixed(r.load.requestsPerSecond, 0)} (${fixed(r.load.p99Ms, 1)})`).join(' | ')} |`),
  ]
}

export function goalTable(goals: Goal[]): string[] {
  return [
    '| Goal | Measured | Result |',
    '|---|---|---|',
    ...goals.map((g) => `| ${g.goal} | ${g.measured} | ${g.pass === null ? (g.note ?? 'reported') : g.pass ? 'pass' : '**FAIL**'} |`),
  ]
}

export function designSection(results: BenchResults, figures: Figures[]): string[] {
  const naive = figures.find((x) => x.id === 'naive' && !x.skipped)
  const lameduck = figures.find((x) => x.id === 'lameduck' && !x.skipped)
  const m = results.micro
  const lines = ['## The lifecycle design: request ledger vs. two XState events per request', '']
  lines.push(
    'lameduck keeps in-flight requests in a `RequestLedger` inside the machine\'s context: the admission hook reads the snapshot',
    '(`admissionOf`), then `ledger.begin(res)`; the response\'s `close` calls `ledger.end(res)`. The machine hears only edges (idle,',
    'capacity). The naive design sends `request.started` and `request.finished` to the actor for every request and asks',
    '`getSnapshot().matches(\'running\')` to admit (bench/lifecycle/naive-machine.ts: the same states, the count in context).',
    'Neither actor has observers in these measurements; a real naive plugin would also notify its log and stream observers',
    'twice per request, so the naive figures are a floor on its cost.',
    '',
  )
  if (m) {
    lines.push(
      `Micro (no HTTP, \`node bench/lifecycle/lifecycle-micro.ts\`, ${m.requestsPerRound} requests per round, median of ${m.rounds} alternating rounds):`,
      '',
      '| Design | per request |',
      '|---|---:|',
      `| (a) ledger: snapshot + admissionOf + begin + end | ${fixed(m.ledgerNs, 0)} ns |`,
      `| (b) naive: send + matches() + send | ${fixed(m.naiveNs, 0)} ns |`,
      `| (b) / (a) | ${fixed(m.naiveNs / m.ledgerNs, 1)} x |`,
      '',
    )
  }
  if (naive && lameduck) {
    const perRequestUs = (rps: number) => 1e6 / rps
    lines.push(
      'HTTP (same alternating rounds as the main table; the naive hooks sit on the baseline app exactly where lameduck\'s admission hook sits):',
      '',
      '| Design | req/s | x baseline | p99 ms | p99 x baseline |',
      '|---|---:|---:|---:|---:|',
      `| lameduck (ledger), variant 2 | ${fixed(lameduck.rps, 0)} | ${fixed(lameduck.rpsRatio, 3)} | ${fixed(lameduck.p99Ms, 2)} | ${fixed(lameduck.p99Ratio, 3)} |`,
      `| naive (2 events + matches()) | ${fixed(naive.rps, 0)} | ${fixed(naive.rpsRatio, 3)} | ${fixed(naive.p99Ms, 2)} | ${fixed(naive.p99Ratio, 3)} |`,
      '',
      `At the baseline's ${fixed(figures.find((x) => x.id === 'baseline')?.rps ?? Number.NaN, 0)} req/s a request costs about ${fixed(perRequestUs(figures.find((x) => x.id === 'baseline')?.rps ?? Number.NaN), 1)} µs of server time${m ? `; the naive design adds about ${fixed((m.naiveNs - m.ledgerNs) / 1000, 1)} µs of it per request (micro above)` : ''}.`,
      '',
    )
  }
  return lines
}

export function environmentLines(results: BenchResults): string[] {
  const i = results.info
  const l = i.load
  return [
    `- Date: ${i.date}`,
    `- Node: ${i.node}${i.nodeFlags ? ` with ${i.nodeFlags}` : ', default V8 flags'}${i.python ? `; seed variant: ${i.python} (Debian packages)` : ''}`,
    `- CPU: ${i.cpu}, ${i.cores} cores; load average (1, 5, 15 min) at start ${i.loadavg}, at end ${i.loadavgEnd}`,
    ...(i.shared
      ? ['- **Load average above 1**: other work may have shared the machine (the 1-minute average also carries the benchmark\'s own server and wrk, and whatever ran just before). Only ratios within this run mean anything, and differences of a few percent are noise.']
      : []),
    `- Load: wrk, ${l.threads} thread, ${l.connections} connections, ${l.durationSeconds} s per round per variant, POST /hello \`{"name":"bench"}\` (\`${i.loadCommand}\`)`,
    `- Rounds: ${i.rounds}, variants alternating in rotated order each round; a fresh server per variant per round, warmed up for ${i.warmupSeconds} s with the same load first; figures are medians over rounds, ratios medians of per-round ratios`,
    '- "Bare" and "as shipped" (S, ST) are never settled and get no BENCH_NODE_FLAGS: they run as a user runs them',
    i.settle
      ? '- Before its warm-up, every other Node variant\'s server ran one full GC while idle (`bench/apps/settle-heap.ts`), so all enter their rounds in the same V8 state (bench/findings.md, "one full GC before the load"); `BENCH_SETTLE=off` leaves that to chance'
      : '- `BENCH_SETTLE=off`: no full GC before the warm-up; each server entered its round in whatever V8 state its start left it in (bench/findings.md, "one full GC before the load")',
    `- Every variant: ${Object.entries(commonEnv).map(([k, v]) => `${k}=${v}`).join(', ')} (the seed: uvicorn --log-level warning --no-access-log, max_concurrency 1)`,
    `- Lifecycle trials: fresh process per trial, ${i.rounds} of each per variant; /ready trial with SHUTDOWN_DELAY_MS=${readyTrialDelayMs} where the variant has a delay; exit waited for at most ${exitCapMs} ms, then SIGKILL`,
    `- Whole run: ${fixed(i.elapsedSeconds, 0)} s`,
  ]
}
