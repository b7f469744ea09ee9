import { setTimeout as sleep } from 'node:timers/promises'
import { runWrk } from '../load/run-wrk.ts'
import { startOtlpSink } from '../otlp-sink.ts'
import { freePort, launch, stop, waitFor200 } from '../server-process.ts'
import { buildDir, variants } from '../variants.ts'

/**
 * `node bench/profile/tick-state.ts [variant-ids] [trials]` (after `tsc -p bench/tsconfig.json`):
 * the throughput of fresh servers in three V8 states, alternating, `trials` fresh processes each:
 *   fresh    as started;
 *   settled  after one full GC while idle (what `npm run bench` does to every Node variant);
 *   pinned   settled too, but with one tick object kept alive from the start (pin-tick-maps.ts).
 * A fresh process is fast or slow depending on whether it ran a full GC while starting; settled is
 * always slow and pinned always fast, for the baseline and lameduck alike (bench/findings.md).
 */
const ids = (process.argv[2] ?? 'baseline,lameduck').split(',')
const trials = Number(process.argv[3] ?? 3)
const states = {
  fresh: { flags: [] as string[], settle: false },
  settled: { flags: ['--expose-gc', '--import', `./${buildDir}/bench/apps/settle-heap.js`], settle: true },
  pinned: {
    flags: ['--import', `./${buildDir}/bench/profile/pin-tick-maps.js`, '--expose-gc', '--import', `./${buildDir}/bench/apps/settle-heap.js`],
    settle: true,
  },
} as const
const sink = await startOtlpSink()
const results = new Map<string, number[]>()
for (let trial = 0; trial < trials; trial++) {
  for (const id of ids) {
    const variant = variants.find((v) => v.id === id)
    if (!variant) throw new Error(`unknown variant ${id}`)
    for (const [state, how] of Object.entries(states)) {
      const port = await freePort()
      const spec = variant.launch({ port, sinkUrl: sink.endpointFor(id), shutdownDelayMs: 0 })
      const server = launch({ ...spec, args: [...how.flags, ...spec.args] }, port)
      await waitFor200(server, `${server.origin}${variant.readyPath}`, 20_000)
      if (how.settle) {
        server.child.kill('SIGUSR2')
        await sleep(300)
      }
      const settings = { connections: 32, threads: 1, timeoutSeconds: 5 }
      await runWrk(`${server.origin}/hello`, { ...settings, durationSeconds: 1 })
      const { requestsPerSecond } = await runWrk(`${server.origin}/hello`, { ...settings, durationSeconds: 3 })
      await stop(server)
      const key = `${id} ${state}`
      results.set(key, [...(results.get(key) ?? []), requestsPerSecond])
      process.stdout.write(`${key.padEnd(22)} ${requestsPerSecond.toFixed(0)} req/s\n`)
    }
  }
}
await sink.close()
process.stdout.write('\nreq/s per fresh process, in trial order:\n')
for (const [key, values] of results) process.stdout.write(`${key.padEnd(22)} ${values.map((v) => v.toFixed(0)).join(', ')}\n`)
