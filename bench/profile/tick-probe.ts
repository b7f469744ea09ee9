/**
 * Observation only (preload with `--import`): on SIGUSR2, times `process.nextTick` itself and prints
 * `TICK-PROBE <ns per call>` on stdout. A full GC at the wrong moment leaves the inline caches of the tick
 * object literal in `nextTick` megamorphic for the rest of the process's life, and every call then takes V8's
 * runtime path (bench/findings.md): several times slower, which a best-of-batches timing shows even when other
 * work shares the machine (req/s does not). The calls queue ticks of the same shape as the server's own
 * (a callback, no arguments), so they leave the caches as they found them.
 */
const batch = 2000
const noop = () => {}
process.on('SIGUSR2', () => {
  let best = Number.POSITIVE_INFINITY
  for (let round = 0; round < 7; round++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) process.nextTick(noop)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / batch)
  }
  process.stdout.write(`TICK-PROBE ${best.toFixed(0)}\n`)
})
export {}
