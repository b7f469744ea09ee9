// How stale one worker's view of the others is: a request begins on one worker of a 2-worker replica;
// how long until the other worker's readiness counts it (docs/cluster.md, "The staleness bound": 2 x 5 ms
// plus two IPC hops while every loop turns). The app is test/fixtures/cluster-app.ts (its /readiness says
// which worker answered and what it counts). Each sample: fresh connections poll /readiness back to back
// from the moment the request is sent; the figure is the first answer from the worker that does not hold
// the request counting 1, minus the moment the holding worker began it (its /own turns 1).
import { spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fresh } from '../../test/support/cluster-client.ts'

const app = resolve(import.meta.dirname, '../../test/fixtures/cluster-app.ts')
const samples = Number(process.env.SAMPLES ?? 20)
const port = 18_790

const child = spawn(process.execPath, [app], { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] })
let out = ''
child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
while (!out.includes('"replica_state":"running"')) await sleep(20)
await sleep(300)
console.log(`staleness of the peers' counts, ${samples} samples, started ${new Date().toISOString()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)

const results: number[] = []
for (let i = 0; i < samples; i++) {
  const sent = performance.now()
  const held = fresh(port, '/work?ms=600')
  // One poll at a time: the round-robin gives consecutive new connections to the two workers in turn, so each
  // worker is asked every other poll. Note when each first counts the request.
  const firstSeen = new Map<number, number>()
  while (firstSeen.size < 2 && performance.now() - sent < 2_000) {
    const readiness = await fresh(port, '/readiness')
    const pid = Number(readiness.body.pid)
    if (readiness.body.activeRequests === 1 && !firstSeen.has(pid)) firstSeen.set(pid, performance.now() - sent)
  }
  // Which worker holds it: its own count says so (the request is held long enough to ask).
  let holder: number | undefined
  for (let tries = 0; holder === undefined && tries < 10; tries++) {
    const mine = await fresh(port, '/own')
    if (mine.body.own === 1) holder = Number(mine.body.pid)
  }
  await held
  const other = [...firstSeen.keys()].find((pid) => pid !== holder)
  if (holder === undefined || other === undefined || !firstSeen.has(holder)) {
    console.log(`sample ${i + 1}: not seen by both workers within 2 s`)
    continue
  }
  results.push(firstSeen.get(other)! - firstSeen.get(holder)!)
  await sleep(100)
}
child.kill('SIGTERM')
const sorted = [...results].sort((a, b) => a - b)
console.log(`the other worker counted it ${sorted.map((ms) => ms.toFixed(1)).join(', ')} ms after the holder did`)
console.log(`median ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms (each figure is within one poll, 1-3 ms, of the truth)`)
