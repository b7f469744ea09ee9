/**
 * Observation only (preload with `--allow-natives-syntax --import`): on SIGUSR2, V8 prints `process.nextTick`'s
 * feedback vector (`%DebugPrint`), then the line `TICK-PROBE-END` (`%GlobalPrint`, which flushes C's stdout). The
 * `DefineKeyedOwnPropertyInLiteral` slots are the tick object literal's computed keys: MONOMORPHIC is the fast
 * state, MEGAMORPHIC the slow one that a full GC at the wrong moment leaves for the rest of the process's life
 * (bench/findings.md). Unlike req/s, this does not move when other work shares the machine. The flag only lets
 * the `%` calls below parse; it changes no GC or inline-cache behaviour. V8 prints through C's stdio, which drops
 * output on a non-blocking pipe: give the server's stdout a file (bench/long-run.ts does).
 */
const debugPrint = new Function('f', '%DebugPrint(f)') as (f: unknown) => void
const globalPrint = new Function('s', '%GlobalPrint(s)') as (s: string) => void
process.on('SIGUSR2', () => {
  debugPrint(process.nextTick)
  globalPrint('TICK-PROBE-END\n')
})
export {}
