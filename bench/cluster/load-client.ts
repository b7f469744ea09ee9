import { readdirSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'

/**
 * The cluster benchmark's load, in a process of its own, against two servers at once that take turns: in each
 * window of `windowMs` one of them is loaded and the other idles, the load switching every window, so that both
 * meet the same neighbours on this shared machine within a second of each other (measuring one for seconds, then
 * the other, gave per-round ratios from 0.76 to 2.2 here, with other work coming and going).
 * The load: `connections` keep-alive connections (undici Pool, no pipelining), each sending `GET /work` to the
 * window's server as soon as its previous answer is in. Closed loop on purpose: the client does no more work than
 * the server lets it, so on two shared cores it takes as little as it can. Beside it, a readiness probe as a
 * platform sends it: `GET /ready` to the window's server every `probeEveryMs`, on a fresh connection.
 * Usage: node bench/cluster/load-client.ts <connections> <warmupMs> <windows per server> <windowMs> <probeEveryMs> <originA> <pidA> <originB> <pidB>
 * Prints one JSON line: { a: ClientFigures, b: ClientFigures }. CPU times are from /proc: the server pid and every
 * process under it (a replica's workers), this client's own, and the whole machine's.
 */
export interface ClientFigures {
  readonly requests: number
  readonly errors: number
  /** Measured time: the windows' sum, each from `settleMs` after its switch to its end. */
  readonly ms: number
  /** CPU time (ms) over the measured windows: the server's processes by role, and this client. */
  readonly cpuMs: { readonly primary: number; readonly workers: readonly number[]; readonly client: number }
  /** CPU time (ms) the whole machine spent busy over the windows (/proc/stat): what neither the server nor the client used is other work's. */
  readonly machineBusyMs: number
  /** Readiness probe latencies over the measured windows, ms, sorted; and the answers that were not 200. */
  readonly probeMs: readonly number[]
  readonly probeNot200: readonly string[]
}

const [connectionsRaw = '8', warmupRaw = '2000', windowsRaw = '8', windowMsRaw = '1000', probeEveryRaw = '20', ...targetsRaw] = process.argv.slice(2)
const connections = Number(connectionsRaw)
const windowMs = Number(windowMsRaw)
// After a switch, requests to the other server still in flight finish (about 1.5 ms each) before the window counts.
const settleMs = 100

/** user + system CPU of one process, ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.split(' ')[1])
      if (ppid === pid) found.push(Number(entry))
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found
}

/** Busy CPU time of the whole machine so far, ms: every state of /proc/stat's cpu line but idle and iowait. */
function machineBusyMs(): number {
  const [, ...ticks] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number)
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks
  return (user + nice + system + irq + softirq + steal) * 10
}

interface Target {
  readonly origin: string
  readonly pid: number
  readonly workerPids: number[]
  readonly pool: Pool
  requests: number
  errors: number
  ms: number
  cpu: { primary: number; workers: number[]; client: number }
  busy: number
  readonly probeMs: number[]
  readonly probeNot200: string[]
}

const targets: Target[] = [0, 1].map((i) => {
  const origin = targetsRaw[i * 2] ?? ''
  const pid = Number(targetsRaw[i * 2 + 1])
  return {
    origin,
    pid,
    workerPids: childrenOf(pid),
    pool: new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 }),
    requests: 0,
    errors: 0,
    ms: 0,
    cpu: { primary: 0, workers: childrenOf(pid).map(() => 0), client: 0 },
    busy: 0,
    probeMs: [],
    probeNot200: [],
  }
})
let current: Target = targets[0]!
let counting = false
let stopping = false

async function loop(): Promise<void> {
  while (!stopping) {
    const target = current
    try {
      const response = await target.pool.request({ path: '/work', method: 'GET' })
      await response.body.dump()
      if (!counting || target !== current) continue
      if (response.statusCode === 200) target.requests += 1
      else target.errors += 1
    } catch {
      if (counting && target === current) target.errors += 1
    }
  }
}

const probesOpen = new Set<Promise<void>>()
/** One probe of the window's server; counted when it was sent while the window counted, however late its answer comes. */
function probeOnce(target: Target, counted: boolean): Promise<void> {
  const started = performance.now()
  return new Promise((resolve) => {
    const request = get(`${target.origin}/ready`, { agent: false }, (response) => {
      response.resume()
      response.on('end', () => {
        if (counted) {
          target.probeMs.push(performance.now() - started)
          if (response.statusCode !== 200) target.probeNot200.push(String(response.statusCode))
        }
        resolve()
      })
    })
    request.on('error', (error) => {
      if (counted) target.probeNot200.push((error as NodeJS.ErrnoException).code ?? error.message)
      resolve()
    })
  })
}
async function probes(everyMs: number): Promise<void> {
  while (!stopping) {
    const next = performance.now() + everyMs
    const probe = probeOnce(current, counting)
    probesOpen.add(probe)
    void probe.then(() => probesOpen.delete(probe))
    await sleep(Math.max(0, next - performance.now()))
  }
}

const running = [...Array.from({ length: connections }, loop), probes(Number(probeEveryRaw))]
// Warm-up: each server gets half of it, loaded alone.
for (const target of targets) {
  current = target
  await sleep(Number(warmupRaw) / 2)
}
for (let w = 0; w < Number(windowsRaw) * 2; w++) {
  const target = targets[w % 2]!
  current = target
  counting = false
  await sleep(settleMs)
  const cpuOf = () => ({ primary: cpuMsOf(target.pid), workers: target.workerPids.map(cpuMsOf), client: cpuMsOf(process.pid) })
  const before = cpuOf()
  const busyBefore = machineBusyMs()
  const t0 = performance.now()
  counting = true
  await sleep(windowMs - settleMs)
  counting = false
  target.ms += performance.now() - t0
  const after = cpuOf()
  target.busy += machineBusyMs() - busyBefore
  target.cpu.primary += after.primary - before.primary
  target.cpu.client += after.client - before.client
  after.workers.forEach((cpu, i) => (target.cpu.workers[i] = (target.cpu.workers[i] ?? 0) + cpu - (before.workers[i] ?? 0)))
}
stopping = true
await Promise.all([...running, ...probesOpen])
await Promise.all(targets.map((t) => t.pool.close()))
const figures = (t: Target): ClientFigures => ({
  requests: t.requests,
  errors: t.errors,
  ms: t.ms,
  cpuMs: t.cpu,
  machineBusyMs: t.busy,
  probeMs: t.probeMs.sort((x, y) => x - y),
  probeNot200: t.probeNot200,
})
process.stdout.write(`${JSON.stringify({ a: figures(targets[0]!), b: figures(targets[1]!) })}\n`)
