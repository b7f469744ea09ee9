import { readdirSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'

/**
 * The cluster benchmark's load, in a process of its own: `connections` keep-alive connections (undici Pool, no
 * pipelining) each sending `GET /work` as soon as the previous answer is in, and beside them a readiness probe
 * as a platform sends it: `GET /ready` every `probeEveryMs` on a fresh connection. Closed loop on purpose: the
 * client does no more work than the server lets it, so on two shared cores it takes as little as it can.
 * Usage: node bench/cluster/load-client.ts <origin> <server pid> <connections> <warmupMs> <durationMs> <probeEveryMs>
 * Prints one JSON line (ClientFigures). CPU times are from /proc: the server pid and every process under it
 * (a replica's workers), and this process's own.
 */
export interface ClientFigures {
  readonly requests: number
  readonly errors: number
  readonly ms: number
  /** CPU time (ms) over the measured window: the server's processes by role, and this client. */
  readonly cpuMs: { readonly primary: number; readonly workers: readonly number[]; readonly client: number }
  /** CPU time (ms) the whole machine spent busy over the window (/proc/stat): what neither the server nor the client used is other work's. */
  readonly machineBusyMs: number
  /** Readiness probe latencies over the measured window, ms, sorted; and the answers that were not 200. */
  readonly probeMs: readonly number[]
  readonly probeNot200: readonly string[]
}

const [origin = '', pidRaw = '0', connectionsRaw = '8', warmupRaw = '2000', durationRaw = '8000', probeEveryRaw = '20'] = process.argv.slice(2)
const serverPid = Number(pidRaw)
const connections = Number(connectionsRaw)

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

const workerPids = childrenOf(serverPid)
const cpu = () => ({ primary: cpuMsOf(serverPid), workers: workerPids.map(cpuMsOf), client: cpuMsOf(process.pid) })

const pool = new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 })
let counting = false
let stopping = false
let requests = 0
let errors = 0

async function loop(): Promise<void> {
  while (!stopping) {
    try {
      const response = await pool.request({ path: '/work', method: 'GET' })
      await response.body.dump()
      if (!counting) continue
      if (response.statusCode === 200) requests += 1
      else errors += 1
    } catch {
      if (counting) errors += 1
    }
  }
}

const probeMs: number[] = []
const probeNot200: string[] = []
const probesOpen = new Set<Promise<void>>()
/** One probe; counted when it was sent inside the measured window, however late its answer comes. */
function probeOnce(): Promise<void> {
  const started = performance.now()
  const counted = counting
  return new Promise((resolve) => {
    const request = get(`${origin}/ready`, { agent: false }, (response) => {
      response.resume()
      response.on('end', () => {
        if (counted) {
          probeMs.push(performance.now() - started)
          if (response.statusCode !== 200) probeNot200.push(String(response.statusCode))
        }
        resolve()
      })
    })
    request.on('error', (error) => {
      if (counted) probeNot200.push((error as NodeJS.ErrnoException).code ?? error.message)
      resolve()
    })
  })
}
async function probes(everyMs: number): Promise<void> {
  while (!stopping) {
    const next = performance.now() + everyMs
    const probe = probeOnce()
    probesOpen.add(probe)
    void probe.then(() => probesOpen.delete(probe))
    await sleep(Math.max(0, next - performance.now()))
  }
}

const running = [...Array.from({ length: connections }, loop), probes(Number(probeEveryRaw))]
await sleep(Number(warmupRaw))
const before = cpu()
const busyBefore = machineBusyMs()
const t0 = performance.now()
counting = true
await sleep(Number(durationRaw))
counting = false
const ms = performance.now() - t0
const after = cpu()
const busy = machineBusyMs() - busyBefore
stopping = true
await Promise.all([...running, ...probesOpen])
await pool.close()
const figures: ClientFigures = {
  requests,
  errors,
  ms,
  cpuMs: { primary: after.primary - before.primary, workers: after.workers.map((w, i) => w - (before.workers[i] ?? 0)), client: after.client - before.client },
  machineBusyMs: busy,
  probeMs: probeMs.sort((a, b) => a - b),
  probeNot200,
}
process.stdout.write(`${JSON.stringify(figures)}\n`)
