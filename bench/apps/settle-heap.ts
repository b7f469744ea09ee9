/**
 * Preload for the settled variants' load-round servers (`--expose-gc --import`, first): holds one tick object for
 * the process's life, as the reference service's entries do (src/tick-shape-anchor.ts), and on SIGUSR2 runs one
 * full GC. The harness sends it once the server is ready and idle, before its warm-up.
 *
 * Why (bench/findings.md, "Throughput: one full GC before the load"): a full GC that runs while no tick object is
 * alive leaves the inline caches of the tick object literal in `process.nextTick` megamorphic for the rest of the
 * process's life, and every tick then takes V8's slow runtime path (30% of this route's throughput here). Whether
 * and when a process has such a GC depends on how much it allocates, not on its per-request work. With the anchor
 * in every settled variant, the full GC leaves all of them in the fast state: the comparison is about the
 * per-request work. (Until issue 13 the settle GC put every variant in the slow state instead; same purpose.)
 */
import '../../src/tick-shape-anchor.ts'

process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('settle-heap.ts needs node --expose-gc')
  gc()
})
