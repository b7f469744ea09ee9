import cluster from 'node:cluster'
import Fastify from 'fastify'
import { startReplica } from '../../src/cluster/index.ts'
import { lameduck } from '../../src/index.ts'

/**
 * The cluster benchmark's service (bench/cluster/cluster-bench.ts): lameduck's plugin and one CPU-bound route,
 * `GET /work`, a fixed amount of hashing per request (no waiting: every microsecond of it is CPU).
 * `WORKERS=1` runs one process with no primary, as the reference service does; `WORKERS=2` makes this process
 * the replica's primary (lameduck/cluster), forking two workers that run this same file.
 * Usage: PORT=... WORKERS=1|2 [WORK_ROUNDS=...] node bench/cluster/cpu-app.ts
 */
const workers = Number(process.env.WORKERS ?? '1')
const port = Number(process.env.PORT ?? '0')
// Passes of FNV-1a over a 4 KiB block per request: 300 are about 1.5 ms of one core on this machine (the bench
// reports the server's CPU time per request). Integer arithmetic only: no allocation, so no GC in the figure.
const workRounds = Number(process.env.WORK_ROUNDS ?? '300')
const block = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff)

function work(rounds: number): number {
  // An int32 from the start: the offset basis as a double would give the loop a second type to speculate on.
  let hash = 0x811c9dc5 | 0
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < block.length; i++) {
      hash ^= block[i]!
      hash = Math.imul(hash, 16777619)
    }
    hash ^= round
  }
  return hash >>> 0
}
// Every operation run before the route is hot: V8 first optimizes the loop on stack (OSR) inside the first call,
// before the lines after it have ever run, and that code deopts on them ("insufficient type feedback"); under
// load it then stayed in slower code, 1.7 ms a call at first and 7.8 ms after 800 requests (measured with
// --trace-deopt; a fresh process calling work() in a loop keeps 1.45 ms).
for (let i = 0; i < 50; i++) work(workRounds)

if (cluster.isPrimary && workers > 1) {
  startReplica({ workers, log: { info: () => {}, warn: () => {}, error: (fields, msg) => process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`) } })
} else {
  const app = Fastify({ logger: false })
  // The replica's concurrency, far above what the load keeps in flight: /ready stays 200 under it.
  await app.register(lameduck, { maxConcurrency: 256, drainTimeoutMs: 5000 })
  app.get('/work', async () => ({ hash: work(workRounds) }))
  await app.listen({ port, host: '127.0.0.1' })
}
