import cluster, { type Worker } from 'node:cluster'
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate'
import type { ReplicaView } from '../machine/lifecycle-machine.ts'
import { invalidOption } from '../errors.ts'
import { listenForFaults } from '../process/fault-listeners.ts'
import { listenForSignals } from '../process/signal-listeners.ts'
import { replicaTelemetry } from '../telemetry/replica-observer.ts'
import { type PrimaryLog, jsonLinesLog } from './primary-log.ts'
import { isLameduckMessage, retireSignal, type WorkerMessage, workerIdEnv } from './replica-messages.ts'
import { replicaMachine, type ReplicaOutcome, type ReplicaReadyRule, replicaReadyRules } from './replica-machine.ts'
import { type ReplicaSnapshot, replicaStateOf, replicaViewFor, sameView } from './replica-view.ts'

export interface ReplicaOptions {
  /** Worker processes; each runs the entry script (`process.argv[1]`, or `exec`) with `WORKERS` unset by you. */
  readonly workers: number
  /** When the replica is ready: when its first worker is, or when all are. Default `all`. */
  readonly readyWhen?: ReplicaReadyRule
  /** Unexpected worker exits within `restartWindowMs` before the replica gives up (exit 1). Default 5. */
  readonly maxRestarts?: number
  /** Default 60000. */
  readonly restartWindowMs?: number
  /** The first restart's delay, doubled for each further crash in the window (up to 30 s). Default 500. */
  readonly restartBackoffMs?: number
  /** Signals that drain the replica; a second one forces it. Default SIGTERM, SIGINT, SIGHUP. */
  readonly signals?: readonly NodeJS.Signals[]
  /** The signal that replaces every worker one at a time, without a stop. Default SIGUSR2; `false`: none. */
  readonly reloadSignal?: NodeJS.Signals | false
  /** Longest a change in the replica waits before the workers hear of it. Default 5. */
  readonly viewMs?: number
  /** Environment added to every worker's. */
  readonly env?: Readonly<Record<string, string>>
  readonly log?: PrimaryLog
  /** Inspection of the replica's actor (XState's `inspect`), e.g. `createLifecycleInspector(...).inspect` of lameduck/inspect. */
  readonly inspect?: Observer<InspectionEvent>
  /** Called with the replica's exit code once every worker has exited. Default: exit the process with it. */
  readonly exit?: (code: number) => void
}

export interface Replica {
  /** The replica's lifecycle (src/cluster/replica-machine.ts). */
  readonly actor: Actor<typeof replicaMachine>
  /** Replaces every worker, one at a time, each drained (as the reload signal does). */
  reload(): void
  /** Drains the replica as a signal would; a second call forces it. */
  shutdown(reason?: string): void
  /** Resolves with the exit code once every worker has exited. */
  readonly finished: Promise<number>
}

/**
 * The cluster's primary: forks the workers, runs the replica's machine from their reports, passes its
 * decisions on (the view of the replica, the signals, the reload's retirements), and exits last, with
 * the worst exit code. It serves nothing itself: the workers own every connection (Node's round-robin).
 */
export function startReplica(options: ReplicaOptions): Replica {
  if (!cluster.isPrimary) throw new Error('lameduck: startReplica() runs in the cluster primary only')
  checkReplicaOptions(options)
  const log = options.log ?? jsonLinesLog()
  const viewMs = options.viewMs ?? 5
  // null between the decision to fork and the fork itself.
  const processes = new Map<string, Worker | null>()
  const retired = new Set<string>()
  const signalled = new Map<string, number>()
  const sentViews = new Map<string, ReplicaView>()

  const send = (worker: Worker, message: object): void => {
    if (worker.isConnected()) worker.send(message, undefined, () => {})
  }
  const sendView = (snapshot: ReplicaSnapshot, id: string, worker: Worker): void => {
    const view = replicaViewFor(snapshot, id)
    if (sameView(sentViews.get(id), view)) return
    sentViews.set(id, view)
    send(worker, { lameduck: 'view', view })
  }

  const machine = replicaMachine.provide({
    actions: {
      spawnNew: ({ context }) => {
        for (const record of Object.values(context.workers)) {
          if (record.state !== 'forked' || processes.has(record.id)) continue
          queueMicrotask(() => spawn(record.id, record.replaces))
          processes.set(record.id, null)
        }
      },
      signalWorkers: ({ context }) => {
        // After the transition: the snapshot then says `draining` in the view that goes ahead of the signal.
        queueMicrotask(() => {
          const snapshot = actor.getSnapshot()
          // A drain the replica started itself (workers crash-looping) has no signal of its own: a SIGTERM's.
          const count = Math.max(1, context.signals.length)
          // With tracing on, each worker's drain span becomes a child of the replica's.
          const traceparent = telemetry.drainTraceparent()
          for (const [id, worker] of processes) {
            if (worker === null || (signalled.get(id) ?? 0) >= count) continue
            signalled.set(id, count)
            sendView(snapshot, id, worker)
            send(worker, { lameduck: 'signal', signal: context.signals[count - 1] ?? 'SIGTERM', sentAt: context.signalAt ?? Date.now(), n: count, ...(traceparent ? { traceparent } : {}) })
          }
        })
      },
      retireWorkers: ({ context }) => {
        queueMicrotask(() => {
          // With tracing on, a retiring worker's drain span is a child of the reload's.
          const traceparent = telemetry.reloadTraceparent()
          for (const record of Object.values(context.workers)) {
            const worker = processes.get(record.id)
            if (!record.retiring || retired.has(record.id) || !worker) continue
            retired.add(record.id)
            log.info({ worker_id: record.id }, 'replica: reload: retiring worker, its replacement is serving')
            send(worker, { lameduck: 'signal', signal: retireSignal, sentAt: Date.now(), ...(traceparent ? { traceparent } : {}) })
          }
        })
      },
      killWorkers: () => {
        for (const [id, worker] of processes) {
          if (worker === null || worker.isDead()) continue
          log.error({ worker_id: id, worker_pid: worker.process.pid }, 'replica: worker still running past its deadline, killed')
          worker.process.kill('SIGKILL')
        }
      },
    },
  })
  const actor = createActor(machine, {
    input: {
      settings: {
        workers: options.workers,
        readyWhen: options.readyWhen ?? 'all',
        maxRestarts: options.maxRestarts ?? 5,
        restartWindowMs: options.restartWindowMs ?? 60_000,
        restartBackoffMs: options.restartBackoffMs ?? 500,
      },
    },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  })
  // Nothing unless an OpenTelemetry SDK is registered in the primary (src/telemetry/replica-observer.ts).
  const telemetry = replicaTelemetry(actor, log)

  function spawn(id: string, replaces: string | null): void {
    const worker = cluster.fork({ ...options.env, [workerIdEnv]: id, OTEL_RESOURCE_ATTRIBUTES: withWorkerId(id) })
    processes.set(id, worker)
    log.info({ worker_id: id, worker_pid: worker.process.pid, ...(replaces ? { replaces } : {}) }, 'replica: worker forked')
    worker.on('message', (message: unknown) => {
      if (!isLameduckMessage(message)) return
      const m = message as WorkerMessage
      // Answered after every message the worker sent before it, its connection acknowledgements
      // included (src/cluster/worker-link.ts, the gate).
      if (m.lameduck === 'sync') send(worker, { lameduck: 'synced', n: m.n })
      else if (m.lameduck === 'report') actor.send({ type: 'worker.reported', id, report: m })
    })
    // `close`, not `exit`: it comes after the last IPC message, the worker's final report among them.
    worker.process.once('close', (code, signal) => {
      const record = actor.getSnapshot().context.workers[id]
      const fields = { worker_id: id, worker_pid: worker.process.pid, exit_code: code, signal, outcome: record?.outcome ?? null }
      if (record && record.outcome === null && !record.retiring && record.inFlight > 0) {
        log.error({ ...fields, requests_lost: record.inFlight }, 'replica: worker died with requests in flight; they are lost')
      } else if (code !== 0) log.warn(fields, 'replica: worker exited')
      else log.info(fields, 'replica: worker exited')
      actor.send({ type: 'worker.exited', id, code, signal })
    })
  }

  // Views go out at once, then at most every `viewMs` while things change (one message per worker each time).
  let viewTimer: NodeJS.Timeout | null = null
  let viewsDirty = false
  const flushViews = () => {
    const snapshot = actor.getSnapshot()
    for (const [id, worker] of processes) if (worker !== null && !worker.isDead()) sendView(snapshot, id, worker)
  }
  let lastState = ''
  let lastRunning = -1
  let errorLogged = false
  actor.subscribe((snapshot) => {
    if (snapshot.context.error !== null && !errorLogged) {
      errorLogged = true
      log.error({ error: snapshot.context.error }, 'replica: failed, draining every worker')
    }
    const state = replicaStateOf(snapshot)
    const running = Object.values(snapshot.context.workers).filter((w) => w.state === 'running' && !w.retiring).length
    if (state !== lastState || running !== lastRunning) {
      log.info({ replica_state: state, phase: typeof snapshot.value === 'string' ? snapshot.value : `draining.${snapshot.value.draining}`, workers_running: running, workers_expected: options.workers }, 'replica: lifecycle')
      lastState = state
      lastRunning = running
    }
    if (viewTimer !== null) {
      viewsDirty = true
      return
    }
    flushViews()
    viewTimer = setTimeout(function again() {
      if (viewsDirty) {
        viewsDirty = false
        flushViews()
        viewTimer = setTimeout(again, viewMs)
      } else viewTimer = null
    }, viewMs)
  })

  const onSignal = (signal: string) => {
    if (actor.getSnapshot().status !== 'active') return
    log.info({ signal }, actor.getSnapshot().context.signals.length === 0 ? 'replica: signal, draining every worker' : 'replica: second signal, forcing every worker')
    actor.send({ type: 'signal.received', signal })
  }
  const removeSignals = listenForSignals(options.signals ?? ['SIGTERM', 'SIGINT', 'SIGHUP'], onSignal)
  // Unhandled, an error in the primary would end it on the spot, and every worker with it (mid-request):
  // the replica drains instead, and exits 1.
  const removeFaults = listenForFaults((error, origin) => {
    const message = error instanceof Error ? error.message : String(error)
    log.error({ origin, error: message }, 'replica: fault in the primary')
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'fault.raised', error: `${origin}: ${message}` })
  })
  const reloadSignal = options.reloadSignal ?? 'SIGUSR2'
  const reload = () => {
    const snapshot = actor.getSnapshot()
    // Only a running replica reloads: starting, restarting a crashed worker or draining, it is ignored.
    if (snapshot.value !== 'running' || snapshot.context.reloadQueue !== null) {
      log.warn({ replica_state: replicaStateOf(snapshot), reloading: snapshot.context.reloadQueue !== null }, 'replica: reload ignored: the replica is not running steadily')
      return
    }
    log.info({}, 'replica: reload: replacing every worker, one at a time')
    actor.send({ type: 'reload.requested' })
  }
  const removeReload = reloadSignal === false ? () => {} : listenForSignals([reloadSignal], reload)

  const finished = new Promise<number>((resolve) => {
    actor.subscribe({
      complete: () => {
        const { exitCode, outcome, lost, error, signals } = actor.getSnapshot().context
        if (viewTimer !== null) clearTimeout(viewTimer)
        removeSignals()
        removeReload()
        removeFaults()
        const fields = { outcome: outcome as ReplicaOutcome, exit_code: exitCode, requests_lost: lost, signals, ...(error ? { error } : {}) }
        if (exitCode === 0) log.info(fields, 'replica: stopped')
        else log.error(fields, 'replica: stopped')
        resolve(exitCode)
      },
    })
  })
  actor.start()
  void finished.then(async (code) => {
    // The replica's drain span and last metrics are exported first (at most 1 s).
    await telemetry.close()
    ;(options.exit ?? exitPrimary)(code)
  })
  return { actor, reload, shutdown: (reason = 'shutdown') => onSignal(reason), finished }
}

/** The worker's id on everything its OpenTelemetry SDK exports: one resource attribute, summed over by any backend. */
function withWorkerId(id: string): string {
  const existing = process.env.OTEL_RESOURCE_ATTRIBUTES
  const own = `lameduck.worker.id=${id}`
  return existing ? `${existing},${own}` : own
}

/** A replica that can never be whole (`workers: 0`, NaN) would stay `starting` forever: refuse it, naming the option. */
function checkReplicaOptions(options: ReplicaOptions): void {
  const whole = (name: keyof ReplicaOptions, min: number, max: number) => {
    const value = options[name]
    if (value === undefined && name !== 'workers') return
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalidOption(name, value, `an integer from ${min} to ${max}`)
    }
  }
  whole('workers', 1, 256)
  whole('maxRestarts', 0, 1_000)
  whole('restartWindowMs', 1, maxTimerMs)
  whole('restartBackoffMs', 0, maxTimerMs)
  whole('viewMs', 1, 60_000)
  if (options.readyWhen !== undefined && !replicaReadyRules.includes(options.readyWhen)) {
    throw invalidOption('readyWhen', options.readyWhen, `one of ${replicaReadyRules.join(', ')}`)
  }
}

// 2^31 - 1: the longest delay a Node timer honours.
const maxTimerMs = 2_147_483_647

function exitPrimary(code: number): void {
  // Now: the primary serves nothing and its log lines are written synchronously (a pipe, a file, a TTY).
  // Waiting for its loop to empty waited for the kernel to reap SIGKILLed workers too: 100-200 ms more
  // after a second signal, past the 100 ms goal.
  process.exit(code)
}
