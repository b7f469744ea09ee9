import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { freePort, launch, type ServerProcess, stop, waitFor200 } from '../server-process.ts'
import { fixed, median, rotate } from '../stats.ts'
import type { ClientFigures } from './load-client.ts'

/**
 * Issue 20's throughput figure: one CPU-bound route (bench/cluster/cpu-app.ts, `GET /work`, a fixed hash loop per
 * request) served by one process (`WORKERS=1`, no primary) and by one replica of two workers (`WORKERS=2`, lameduck's
 * primary), on this 2-core machine. Each round starts a fresh server of each kind, and one light client
 * (bench/cluster/load-client.ts, its own process) loads them in turns of `windowMs`, the other idling meanwhile; the
 * ratio is the median of the per-round ratios. Beside the load, `GET /ready` on a fresh connection every
 * `probeEveryMs` to the server being loaded, as a platform's readiness check: its latency is the probe's under load.
 */
export interface ClusterSettings {
  readonly rounds: number
  readonly warmupSeconds: number
  /** Measured windows per server and round; the two servers take turns, one window each. */
  readonly windows: number
  readonly windowMs: number
  /** Keep-alive connections of the load client. */
  readonly connections: number
  readonly probeEveryMs: number
  /** Hash passes per request (cpu-app.ts's WORK_ROUNDS). */
  readonly workRounds: number
}

export interface ClusterRun {
  readonly workers: 1 | 2
  readonly perSecond: number
  readonly errors: number
  /** Server CPU (primary and workers) per request, µs. */
  readonly serverCpuUs: number
  /** The client's share of one core over the window, and the server's processes' (primary, each worker). */
  readonly clientCores: number
  readonly primaryCores: number
  readonly workerCores: readonly number[]
  /** What the machine's two cores did for other work over the window, in cores. */
  readonly otherCores: number
  readonly probeMs: readonly number[]
  readonly probeNot200: readonly string[]
}

export interface ClusterRound {
  readonly one: ClusterRun
  readonly two: ClusterRun
}

export interface ClusterResults {
  readonly settings: ClusterSettings
  readonly rounds: ClusterRound[]
  readonly problems: string[]
  readonly command: string
  readonly startedAt: string
  readonly loadavg: string
  readonly loadavgEnd: string
  readonly uptime: string
}

const appPath = fileURLToPath(new URL('./cpu-app.ts', import.meta.url))
const clientPath = fileURLToPath(new URL('./load-client.ts', import.meta.url))
/** Other work under this many cores, in both kinds' windows of a round: the round had the machine to itself, nearly. */
export const quietCores = 0.25
/** The goal: two workers give at least this much of one's throughput. */
export const clusterGoal = 1.6

export async function clusterBench(settings: ClusterSettings, log: (line: string) => void): Promise<Pick<ClusterResults, 'settings' | 'rounds' | 'problems'>> {
  const rounds: ClusterRound[] = []
  const problems: string[] = []
  for (let round = 0; round < settings.rounds; round++) {
    try {
      const r = await measureRound(settings, round % 2 === 0 ? [1, 2] : [2, 1])
      rounds.push(r)
      for (const run of [r.one, r.two]) {
        log(
          `cluster round ${round + 1}/${settings.rounds} WORKERS=${run.workers}  ${fixed(run.perSecond, 0).padStart(5)} req/s  ${fixed(run.serverCpuUs, 0)} µs server CPU/req  /ready p50 ${fixed(percentile(run.probeMs, 0.5), 1)} ms p99 ${fixed(percentile(run.probeMs, 0.99), 1)} ms (${run.probeMs.length})  cores: client ${fixed(run.clientCores, 2)} primary ${fixed(run.primaryCores, 2)} workers ${run.workerCores.map((c) => fixed(c, 2)).join('+') || '-'} other ${fixed(run.otherCores, 2)}${run.errors ? `  ERRORS ${run.errors}` : ''}${run.probeNot200.length ? `  probes not 200: ${run.probeNot200.slice(0, 5).join(', ')}` : ''}`,
        )
        if (run.errors) problems.push(`round ${round + 1}, WORKERS=${run.workers}: ${run.errors} requests not answered 200`)
        if (run.probeNot200.length) problems.push(`round ${round + 1}, WORKERS=${run.workers}: ${run.probeNot200.length} probes not answered 200 (${[...new Set(run.probeNot200)].join(', ')})`)
      }
      log(`cluster round ${round + 1}/${settings.rounds} ratio ${fixed(r.two.perSecond / r.one.perSecond, 3)}`)
    } catch (error) {
      problems.push(`round ${round + 1}: ${String(error instanceof Error ? error.message : error).slice(0, 300)}`)
    }
  }
  return { settings, rounds, problems }
}

/** Both servers fresh, both ready, then the client's alternating windows (`order[0]` loaded first), then SIGTERM to both. */
async function measureRound(s: ClusterSettings, order: readonly [1 | 2, 1 | 2]): Promise<ClusterRound> {
  const servers = []
  try {
    for (const workers of order) {
      const port = await freePort()
      const server = launch({ command: process.execPath, args: [appPath], env: { PORT: String(port), WORKERS: String(workers), WORK_ROUNDS: String(s.workRounds) } }, port)
      servers.push(server)
      // With two workers the replica is ready once both serve (WORKERS_READY's default, all).
      await waitFor200(server, `${server.origin}/ready`, 20_000, 20)
    }
    const [first, second] = servers as [ServerProcess, ServerProcess]
    const { a, b } = await runClient(s, first, second)
    const runs = [runOf(order[0], a), runOf(order[1], b)]
    return { one: runs.find((r) => r.workers === 1)!, two: runs.find((r) => r.workers === 2)! }
  } finally {
    await Promise.all(servers.map((server) => stop(server)))
  }
}

function runOf(workers: 1 | 2, f: ClientFigures): ClusterRun {
  const workerCpu = f.cpuMs.workers.reduce((a, b) => a + b, 0)
  const ours = f.cpuMs.primary + workerCpu + f.cpuMs.client
  return {
    workers,
    perSecond: (f.requests * 1000) / f.ms,
    errors: f.errors,
    serverCpuUs: ((f.cpuMs.primary + workerCpu) * 1000) / Math.max(1, f.requests),
    clientCores: f.cpuMs.client / f.ms,
    primaryCores: f.cpuMs.primary / f.ms,
    workerCores: f.cpuMs.workers.map((w) => w / f.ms),
    otherCores: Math.max(0, f.machineBusyMs - ours) / f.ms,
    probeMs: f.probeMs,
    probeNot200: f.probeNot200,
  }
}

function runClient(s: ClusterSettings, a: ServerProcess, b: ServerProcess): Promise<{ a: ClientFigures; b: ClientFigures }> {
  return new Promise((resolve, reject) => {
    const args = [clientPath, String(s.connections), String(s.warmupSeconds * 1000), String(s.windows), String(s.windowMs), String(s.probeEveryMs), a.origin, String(a.pid), b.origin, String(b.pid)]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => (err += c.toString()))
    child.once('exit', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) reject(new Error(`cluster load client exited ${code}: ${err.slice(-300)}`))
      else resolve(JSON.parse(line) as { a: ClientFigures; b: ClientFigures })
    })
  })
}

/** The value at quantile `q` of sorted values (nearest rank); NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export const clusterSectionTitle = '## Cluster: one replica on two workers'

/** The section of docs/benchmarks.md. */
export function clusterSection(results: ClusterResults): string[] {
  const { rounds, settings: s } = results
  const ratio = median(rounds.map((r) => r.two.perSecond / r.one.perSecond))
  const pooled = (pick: (r: ClusterRound) => ClusterRun) => rounds.flatMap((r) => pick(r).probeMs).sort((a, b) => a - b)
  const probesOne = pooled((r) => r.one)
  const probesTwo = pooled((r) => r.two)
  const med = (pick: (r: ClusterRound) => number) => median(rounds.map(pick))
  // Rounds in which other work left both cores to this run (under quietCores taken in either kind's windows).
  const quiet = rounds.filter((r) => r.one.otherCores < quietCores && r.two.otherCores < quietCores)
  const quietRatio = median(quiet.map((r) => r.two.perSecond / r.one.perSecond))
  const verdict = Number.isFinite(ratio) ? (ratio >= clusterGoal ? 'pass' : `**FAIL** (short by ${fixed(clusterGoal - ratio, 3)}, ${fixed(((clusterGoal - ratio) / clusterGoal) * 100, 1)}% of the goal)`) : 'not measured'
  const row = (label: string, pick: (r: ClusterRound) => ClusterRun, probes: readonly number[], x: string) =>
    `| ${label} | ${fixed(med((r) => pick(r).perSecond), 0)} | ${x} | ${fixed(med((r) => pick(r).serverCpuUs), 0)} | ${fixed(percentile(probes, 0.5), 1)} / ${fixed(percentile(probes, 0.99), 1)} / ${fixed(probes.at(-1) ?? Number.NaN, 1)} ms (${probes.length}) | ${fixed(med((r) => pick(r).clientCores), 2)} | ${fixed(med((r) => pick(r).primaryCores), 2)} | ${fixed(med((r) => pick(r).workerCores.reduce((a, b) => a + b, 0)), 2)} | ${fixed(med((r) => pick(r).otherCores), 2)} |`
  return [
    clusterSectionTitle,
    '',
    `Issue 20. Run with \`${results.command}\`, started ${results.startedAt}; \`uptime\` at the start: \`${results.uptime}\`;`,
    `load average ${results.loadavg} at the start and ${results.loadavgEnd} at the end, on a machine of 2 cores shared with other`,
    'engineers\' builds and tests: the "other" column says how much of the two cores they took during the windows.',
    '',
    'The service is bench/cluster/cpu-app.ts: lameduck\'s plugin and `GET /work`, which runs a fixed hash loop (FNV-1a,',
    `${s.workRounds} passes over 4 KiB, about 1.5 ms of one core; integer arithmetic only, nothing allocated) and answers its`,
    'result. `WORKERS=1` is one process with no primary (what the reference service runs by default); `WORKERS=2` is one',
    'replica of two workers under lameduck\'s primary (`startReplica` from lameduck/cluster, round-robin scheduling).',
    `${s.rounds} rounds; in each, a fresh server of each kind, both started and ready (both workers serving) before the`,
    `load, then ${s.warmupSeconds} s of warm-up (half each), then ${s.windows} windows of ${s.windowMs} ms per server, the two taking turns (the first`,
    'alternating between rounds) while the other idles; the first 100 ms of a window, while requests to the other finish,',
    'are not counted. Taking turns every second rather than measuring one server for seconds and then the other: the',
    'machine is shared, and a first version that did the latter gave per-round ratios from 0.76 to 2.20 in one run as',
    'other work came and went (the idle server costs next to nothing: its workers\' reports, once a second).',
    '',
    `Kept fair for the load client, which shares the two cores: one client process (bench/cluster/load-client.ts) with`,
    `${s.connections} keep-alive connections per server (undici Pool, no pipelining), each sending its next request when the previous`,
    'answer is in (a closed loop: the client never works harder than the server lets it), the same for both kinds. Its',
    'CPU is measured (the "client" column, in cores) as are the server\'s processes\' and what the whole machine did',
    `("other": busy CPU time in /proc/stat less ours). The probe: \`GET /ready\` to the server being loaded every ${s.probeEveryMs} ms`,
    'on a fresh connection (as a platform\'s check connects), from the same client; latency from the request to the end of',
    'the answer.',
    '',
    '| Workers | req/s (median) | x one | server µs CPU per request | `/ready` p50 / p99 / max (probes) | client cores | primary cores | worker cores | other work, cores |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    row('1 (no primary)', (r) => r.one, probesOne, '1.000'),
    row('2 (one replica)', (r) => r.two, probesTwo, fixed(ratio, 3)),
    '',
    '| Goal | Measured | Result |',
    '|---|---|---|',
    `| 2 workers >= ${clusterGoal} x the throughput of 1 | ${fixed(ratio, 3)} (median of per-round ratios) | ${verdict} |`,
    `| the same, over the ${quiet.length} of ${rounds.length} rounds where other work took under ${quietCores} cores (reported, not the goal's figure) | ${fixed(quietRatio, 3)} | - |`,
    `| \`/ready\` p99 under that load, 2 workers (reported, no goal) | ${fixed(percentile(probesTwo, 0.99), 1)} ms (1 worker: ${fixed(percentile(probesOne, 0.99), 1)} ms) | - |`,
    '',
    `Where the two cores went in the 2-worker windows (medians): workers ${fixed(med((r) => r.two.workerCores.reduce((a, b) => a + b, 0)), 2)}, primary ${fixed(med((r) => r.two.primaryCores), 2)}, load client ${fixed(med((r) => r.two.clientCores), 2)}, other work ${fixed(med((r) => r.two.otherCores), 2)}; docs/cluster.md ("Measured") has the arithmetic of what two workers can reach here.`,
    '',
    '| Round | 1 worker req/s | 2 workers req/s | ratio | /ready p99, 1 / 2 | other work, cores (1 / 2) |',
    '|---:|---:|---:|---:|---|---|',
    ...rounds.map(
      (r, i) =>
        `| ${i + 1} | ${fixed(r.one.perSecond, 0)} | ${fixed(r.two.perSecond, 0)} | ${fixed(r.two.perSecond / r.one.perSecond, 3)} | ${fixed(percentile(r.one.probeMs, 0.99), 1)} / ${fixed(percentile(r.two.probeMs, 0.99), 1)} ms | ${fixed(r.one.otherCores, 2)} / ${fixed(r.two.otherCores, 2)} |`,
    ),
    '',
    ...results.problems.map((p) => `- Problem: ${p}`),
    '',
  ]
}
