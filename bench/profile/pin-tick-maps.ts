import { createHook } from 'node:async_hooks'

/**
 * Experiment only, not shipped: keeps one `process.nextTick` tick object alive for the life of
 * the process (preload it with `--import`, first). Its hidden class and the chain of classes
 * before it then survive every full GC, so the inline caches of the tick-object literal in
 * `nextTick` stay monomorphic (see tick-state.ts and bench/findings.md). Relies on how V8 and
 * Node 24 build that literal, which is why lameduck does not do this for you.
 */
let held: object | null = null
const hook = createHook({
  init(_id, type, _trigger, resource) {
    if (type === 'TickObject' && held === null) held = resource
  },
})
hook.enable()
process.nextTick(() => {})
hook.disable()
;(globalThis as { [key: symbol]: unknown })[Symbol.for('lameduck.bench.heldTick')] = held
