/**
 * Preload for every Node variant's load-round server (`--expose-gc --import`): SIGUSR2 runs one
 * full GC. The harness sends it once the server is ready and idle, before its warm-up, so that
 * every variant enters its round in the same V8 state.
 *
 * Why (bench/findings.md, "Throughput: one full GC before the load"): a full GC that runs while
 * the server is idle, before `process.nextTick` is hot, leaves the inline caches of the tick
 * object literal in `nextTick` megamorphic for the rest of the process's life, and every tick
 * then takes V8's slow runtime path (30% of this route's throughput here). Whether a fresh
 * process has had such a GC depends only on how much it allocated while starting: lameduck's
 * service always had one (it loads more code), the bare baseline almost never. Any service with
 * a few more dependencies has one too; this makes the comparison about the per-request work.
 */
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('settle-heap.ts needs node --expose-gc')
  gc()
})
