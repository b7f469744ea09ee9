import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'

/**
 * The load for the API's overhead figure, in its own process. On a machine shared with other work the rate of
 * one route measured for seconds and then the other's for seconds differ by 2x either way with what else runs
 * (bench/findings.md, "bimodal rounds"); here the two routes take turns in windows of `windowMs`, many times, so
 * that both meet the same conditions within a second of each other.
 * Usage: node bench/sse-api/alternating-client.ts <origin> <server pid> <connections> <windows> <windowMs> <query> <path>... (two or more, in turn)
 * Prints one JSON line: { windows: [{ path, events, ms, cpuNs }], errors }. In each window every connection first
 * finishes the stream it is reading (of the other route) and the window's clock starts `settleMs` later; events
 * and the server's CPU time are counted from then to the window's end, for the window's route only.
 */
const [origin = '', pidRaw, connectionsRaw, windowsRaw, windowMsRaw, query = 'tokens=1000&interval_ms=0', ...given] = process.argv.slice(2)
const paths = given.length > 0 ? given : ['/stream', '/hand/stream']
const pid = Number(pidRaw)
const connections = Number(connectionsRaw)
const windows = Number(windowsRaw)
const windowMs = Number(windowMsRaw)
const settleMs = 150

let current = paths[0]!
let counting = false
let events = 0
let errors = 0
let stopping = false

function cpuNs(): number {
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

async function connection(agent: Agent): Promise<void> {
  while (!stopping) {
    const path = current
    try {
      const response = await request(`${origin}${path}?${query}`, { dispatcher: agent })
      if (response.statusCode !== 200) {
        errors += 1
        await response.body.dump()
        continue
      }
      let newline = false
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        // An event ends with a blank line: count "\n\n", including one split across chunks.
        let n = newline && chunk[0] === 0x0a ? 1 : 0
        for (let from = 0; ; ) {
          const at = chunk.indexOf('\n\n', from)
          if (at < 0) break
          n += 1
          from = at + 2
        }
        newline = chunk[chunk.length - 1] === 0x0a
        if (counting && path === current) events += n
      }
    } catch {
      if (!stopping) errors += 1
    }
  }
}

const agent = new Agent({ connections, pipelining: 1 })
const running = Array.from({ length: connections }, () => connection(agent))
const results: { path: string; events: number; ms: number; cpuNs: number }[] = []
for (let w = 0; w < windows * paths.length; w++) {
  current = paths[w % paths.length]!
  counting = false
  await sleep(settleMs)
  events = 0
  const cpuBefore = cpuNs()
  const t0 = performance.now()
  counting = true
  await sleep(windowMs - settleMs)
  counting = false
  results.push({ path: current, events, ms: performance.now() - t0, cpuNs: cpuNs() - cpuBefore })
}
stopping = true
await Promise.race([Promise.all(running), sleep(2_000)])
await agent.destroy().catch(() => {})
process.stdout.write(`${JSON.stringify({ windows: results, errors })}\n`)
process.exit(0)
