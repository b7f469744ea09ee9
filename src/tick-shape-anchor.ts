import { createHook } from 'node:async_hooks'

/**
 * Keeps one `process.nextTick` tick object alive for the life of the process. Imported first by the service's
 * entries (main.ts, telemetry/register.ts), before anything else allocates much.
 *
 * Why (bench/findings.md, "As shipped", "Fix 2"): Node 24 builds each tick object as a literal with computed
 * keys, and V8 caches the hidden classes that literal goes through. A full GC that runs while no tick object is
 * alive (an idle process, and now and then one under load) collects those classes; the next ticks make new ones,
 * the caches that saw both go megamorphic, and every tick takes V8's runtime path for the rest of the process's
 * life: 20-30% of a light route's throughput. One live tick object holds the chain of classes, so they are never
 * collected. Measured on the image's command: a full GC while idle left the caches megamorphic in 2 runs of 2
 * without this and monomorphic in 2 of 2 with it; under load, 1 of 2 processes without it went megamorphic at
 * their first full GC, and with it all 7 full GCs of a 10-minute run left the caches monomorphic.
 *
 * It costs one small object and an async hook enabled for one tick at start. If a Node version builds tick objects
 * differently, holding one does nothing, and test/deploy-dockerfile.test.ts says so.
 */
let anchor: object | undefined
const hook = createHook({
  init(_asyncId, type, _triggerAsyncId, resource) {
    if (type === 'TickObject' && anchor === undefined) anchor = resource
  },
})
hook.enable()
process.nextTick(() => {})
hook.disable()

/** The tick object held (exported so that nothing can see it as unused). */
export const tickShapeAnchor = (): object | undefined => anchor
