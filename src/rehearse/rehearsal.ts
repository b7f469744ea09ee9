import { setTimeout as sleep } from 'node:timers/promises'
import { startClock } from './clock.ts'
import { freePort, portInUse } from './free-port.ts'
import { RehearseError } from './rehearse-error.ts'
import { type InstanceProcess, startInstance } from './instance-process.ts'
import { startLoad } from './load-driver.ts'
import { LoadTally } from './load-tally.ts'
import { type ProbeChange, type ProbePoller, pollProbe } from './probe-poller.ts'
import { buildReport, type InstanceLine, type RehearsalReport } from './rehearsal-report.ts'
import type { RehearseOptions } from './rehearse-options.ts'
import { Router } from './router.ts'
import { terminate } from './termination-order.ts'
import { waitReady } from './wait-ready.ts'

export type Phase = 'starting' | 'load' | 'terminating' | 'finishing'

/** What the status line shows, sampled while the rehearsal runs. */
export interface Progress {
  readonly phase: Phase
  readonly at: number
  readonly tally: LoadTally
  readonly stopped: string
}

export interface RehearsalHooks {
  /** Each instance as soon as it is spawned, so the caller can kill it on Ctrl-C. */
  readonly onInstance?: (instance: InstanceProcess) => void
  readonly onProgress?: (progress: Progress) => void
}

// The replacement is stopped after the load, for cleanup only: it gets this long at most after SIGTERM.
const cleanupGraceMs = 5000

/**
 * One rehearsal: instance A (to be stopped) and its replacement B start with their own PORT; once both pass
 * their readiness check the load runs through the router; after `stopAfterMs` A is stopped in the platform's
 * order; the load goes on until `durationMs` and until A is gone; then B is stopped and the report is built.
 */
export async function rehearse(options: RehearseOptions, hooks: RehearsalHooks = {}): Promise<RehearsalReport> {
  if (options.port !== 0 && (await portInUse(options.port))) {
    throw new RehearseError(`port ${options.port} (from --port or the deployment file) is already in use: stop what holds it, or pass --port 0 for a free port`)
  }
  const clock = startClock()
  const timeline: ProbeChange[] = []
  const pollers: ProbePoller[] = []
  const tally = new LoadTally()
  let phase: Phase = 'starting'
  const progress = setInterval(() => hooks.onProgress?.({ phase, at: clock(), tally, stopped: 'A' }), 200)
  progress.unref()

  const portA = options.port || (await freePort())
  let portB = await freePort()
  while (portB === portA) portB = await freePort()
  const instances = [launch('A', portA), launch('B', portB)]
  const [a, b] = instances as [Launched, Launched]
  let router: Router | undefined
  try {
    await Promise.all(instances.map((i) => waitReady(i.process, i.ready, options.readyPath, options.startupTimeoutMs).then(() => (i.readyAt = clock()))))

    router = new Router(
      instances.map((i) => ({ name: i.process.name, port: i.process.port, isReady: () => i.ready.state() === 'ready' })),
      {
        request: options.request,
        timeoutMs: options.timeoutMs,
        connectionsPerInstance: Math.max(1, options.concurrency),
        keepaliveConnections: options.keepalive?.clients ?? 1,
        retryRefused: options.retryRefused,
        retryAfter: options.retryAfter,
        clock,
      },
    )
    const loadStart = clock()
    phase = 'load'
    const load = startLoad(router, options, tally, clock)
    await sleep(options.stopAfterMs)
    phase = 'terminating'
    const termination = await terminate(options.platform, a.process, router, options, clock)
    const rest = loadStart + options.durationMs - clock()
    if (rest > 0) await sleep(rest)
    phase = 'finishing'
    await load.stop()
    const loadEnd = clock()
    // The replacement died under the load: what it wrote last is the only clue to why.
    const replacementDied = b.process.exit()
    const replacementOutput = replacementDied ? await b.process.outputTail() : undefined
    // Likewise A, when it exited before it was stopped.
    const stoppedEarly = termination.exit.at < termination.sigtermAt ? await a.process.outputTail() : undefined
    for (const poller of pollers) poller.stop()
    await router.close()
    await stopReplacement(b.process)

    const lines: InstanceLine[] = instances.map((i) => ({
      name: i.process.name,
      role: i === a ? 'stopped' : 'replacement',
      port: i.process.port,
      readyAt: i.readyAt,
      exit: i.process.exit() ?? null,
      ...(i === b && replacementOutput ? { lastOutput: replacementOutput } : {}),
      ...(i === a && stoppedEarly ? { lastOutput: stoppedEarly } : {}),
    }))
    // B's own cleanup stop is not part of the verdict: only an exit before the load ended is.
    return buildReport({ options, tally, instances: lines, termination, timeline: [...timeline].sort((x, y) => x.at - y.at), elapsedMs: loadEnd })
  } finally {
    clearInterval(progress)
    for (const poller of pollers) poller.stop()
    await router?.close()
    // Whatever the commands started is gone when the rehearsal is: their process groups get SIGKILL.
    for (const i of instances) i.process.kill()
  }

  interface Launched {
    readonly process: InstanceProcess
    readonly ready: ProbePoller
    readyAt: number | null
  }

  function launch(name: string, port: number): Launched {
    const instance = startInstance(name, options.command, port, options.env, clock)
    hooks.onInstance?.(instance)
    const ready = pollProbe(name, 'ready', port, options.readyPath, options.probeIntervalMs, clock, timeline)
    pollers.push(ready)
    if (options.healthPath !== null) pollers.push(pollProbe(name, 'health', port, options.healthPath, options.probeIntervalMs, clock, timeline))
    return { process: instance, ready, readyAt: null }
  }
}

async function stopReplacement(instance: InstanceProcess): Promise<void> {
  if (instance.exit()) return
  instance.terminate()
  const cancel = new AbortController()
  await Promise.race([instance.exited, sleep(cleanupGraceMs, undefined, { signal: cancel.signal }).catch(() => undefined)])
  cancel.abort()
  instance.kill()
  await instance.exited
}
