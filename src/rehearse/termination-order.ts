import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from './clock.ts'
import type { InstanceExit, InstanceProcess } from './instance-process.ts'
import type { Platform } from './rehearse-options.ts'
import type { Router } from './router.ts'

export interface Termination {
  readonly platform: Platform
  readonly instance: string
  /** When the router stopped sending new requests to the instance. */
  readonly removedAt: number
  readonly sigtermAt: number
  /** Requests and streams in flight on the instance when SIGTERM was sent. */
  readonly inFlightAtSigterm: number
  readonly sigkillAt: number | null
  /** Requests and streams still in flight on the instance at SIGKILL. */
  readonly inFlightAtSigkill: number | null
  readonly exit: InstanceExit
  /**
   * Processes of the instance's process group still running `survivorGraceMs` after it exited: what it
   * started and left behind (cluster workers outliving their primary). The platform would kill them with
   * the container, whatever they were doing.
   */
  readonly survivors: readonly number[]
  readonly gracePeriodMs: number
}

/** How long what an instance started may take to follow it out (a worker whose primary exited ends at once). */
export const survivorGraceMs = 1000

export interface TerminationTimings {
  readonly gracePeriodMs: number
  readonly endpointLagMs: number
}

/**
 * Stops the instance in the platform's order, then SIGKILL once the grace period after SIGTERM is over:
 * - cerebrium: out of rotation first, then SIGTERM at once;
 * - kubernetes: SIGTERM and the endpoint removal start together; the removal reaches the router `endpointLagMs` later.
 * Either way the router also stops routing to an instance whose readiness check fails, as both platforms do.
 */
export async function terminate(
  platform: Platform,
  instance: InstanceProcess,
  router: Router,
  timings: TerminationTimings,
  clock: Clock,
): Promise<Termination> {
  let removedAt: number
  let sigtermAt: number
  let removal: Promise<void> = Promise.resolve()
  const inFlightAtSigterm = router.inFlight(instance.name)
  if (platform === 'cerebrium') {
    router.remove(instance.name)
    removedAt = clock()
    instance.terminate()
    sigtermAt = clock()
  } else {
    instance.terminate()
    sigtermAt = clock()
    removedAt = sigtermAt + timings.endpointLagMs
    // When it really happened: on a busy machine the timer fires late, and the report must say so.
    removal = sleep(timings.endpointLagMs).then(() => {
      router.remove(instance.name)
      removedAt = clock()
    })
  }

  let sigkillAt: number | null = null
  let inFlightAtSigkill: number | null = null
  const cancel = new AbortController()
  const graceOver = sleep(timings.gracePeriodMs, 'grace over' as const, { signal: cancel.signal }).catch(() => 'exited' as const)
  if ((await Promise.race([instance.exited, graceOver])) === 'grace over') {
    inFlightAtSigkill = router.inFlight(instance.name)
    instance.kill()
    sigkillAt = clock()
  }
  cancel.abort()
  const exit = await instance.exited
  // The command's exit is the stop's end only if nothing it started is left: a primary that exits before its
  // workers have finished their drains leaves them to the container's kill.
  let survivors = instance.survivors()
  for (const until = clock() + survivorGraceMs; survivors.length > 0 && clock() < until; survivors = instance.survivors()) await sleep(50)
  // The platform's removal happens whether or not the process is still there.
  await removal
  return { platform, instance: instance.name, removedAt, sigtermAt, inFlightAtSigterm, sigkillAt, inFlightAtSigkill, exit, survivors, gracePeriodMs: timings.gracePeriodMs }
}
