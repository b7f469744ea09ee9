import { type Attributes, type BatchObservableResult, isSpanContextValid, ROOT_CONTEXT, type Span, SpanStatusCode } from '@opentelemetry/api'
import type { Actor } from 'xstate'
import { type ReplicaContext, type ReplicaMachine, replicaMachine, servingWorkers } from '../cluster/replica-machine.ts'
import type { ReplicaSnapshot } from '../cluster/replica-view.ts'
import { type ActiveProviders, flushTelemetry } from './active-providers.ts'
import { lameduckAttributes as attr } from './attribute-names.ts'
import { formatTraceparent } from './traceparent.ts'

/** What a cluster's primary asks of telemetry (through replica-observer.ts, which loads this module only with an SDK). */
export interface ReplicaTelemetry {
  /** The replica's drain span as a W3C `traceparent` for the workers' signal; undefined without tracing. */
  drainTraceparent(): string | undefined
  /** The reload in progress as a W3C `traceparent` for a retiring worker's signal; undefined without one or without tracing. */
  reloadTraceparent(): string | undefined
  /** Ends the drain span and exports it with a last collection of the replica's metrics, within 1 s (not waited for after a second signal). */
  close(): Promise<void>
}

/** The primary's metrics, beside the workers' (docs/observability.md, "A replica on several workers"). */
export const replicaMetrics = {
  workersRunning: { name: 'lameduck.replica.workers.running', unit: '{worker}' },
  workersExpected: { name: 'lameduck.replica.workers.expected', unit: '{worker}' },
  inFlight: { name: 'lameduck.replica.requests.in_flight', unit: '{request}' },
  lost: { name: 'lameduck.replica.requests.lost', unit: '{request}' },
  state: { name: 'lameduck.replica.state', unit: '{state}' },
} as const

/** The replica machine's top-level states, read from the machine so the metric cannot drift from it. */
const replicaStates = Object.keys(replicaMachine.config.states ?? {})

const topState = (snapshot: ReplicaSnapshot): string => (typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]!)

/** As a worker's final flush waits (instrument-lifecycle.ts): a dead collector delays the exit by at most this. */
const flushTimeoutMs = 1_000

const liveWorkers = (context: ReplicaContext) => Object.values(context.workers).filter((w) => w.state !== 'exited')

/**
 * The replica's telemetry, in the cluster's primary. One span, `lameduck.replica.drain`, from the replica's
 * signal (or its decision to stop a crash loop) until its last worker has exited; its context goes to the
 * workers with the signal, so each worker's `lameduck.drain` is its child. And the replica's own counts as
 * the primary's machine has them (the workers' reports): workers running and expected, the requests in
 * flight across the workers, those lost with a worker that died, the state. Named apart from the workers'
 * metrics, so a sum over a worker metric never counts a request twice.
 */
export function observeReplica(actor: Actor<ReplicaMachine>, { tracer, meter }: ActiveProviders): ReplicaTelemetry {
  let drain: Span | null = null
  let ended = false

  const startDrain = (snapshot: ReplicaSnapshot): void => {
    if (tracer === null || drain !== null || ended || !snapshot.matches('draining')) return
    const { context } = snapshot
    drain = tracer.startSpan(
      'lameduck.replica.drain',
      {
        root: true,
        startTime: context.signalAt ?? undefined,
        // The workers the drain reaches: each makes one child span.
        attributes: { [attr.replicaDrainWorkers]: liveWorkers(context).length, [attr.replicaWorkersExpected]: context.settings.workers },
      },
      ROOT_CONTEXT,
    )
  }
  const endDrain = (snapshot: ReplicaSnapshot): void => {
    startDrain(snapshot)
    if (drain === null || ended) return
    ended = true
    const { outcome, exitCode, lost, signals, error } = snapshot.context
    const attributes: Attributes = {
      [attr.replicaDrainOutcome]: outcome ?? 'unknown',
      [attr.replicaDrainExitCode]: exitCode,
      [attr.replicaDrainRequestsLost]: lost,
      [attr.replicaDrainSignals]: [...signals],
    }
    drain.setAttributes(attributes)
    if (exitCode !== 0) drain.setStatus({ code: SpanStatusCode.ERROR, message: error ?? outcome ?? undefined })
    drain.end()
  }

  const reload = traceReloads(tracer)
  const subscription = actor.subscribe({
    next: (snapshot) => {
      reload.follow(snapshot)
      startDrain(snapshot)
    },
    complete: () => {
      reload.follow(actor.getSnapshot())
      endDrain(actor.getSnapshot())
    },
  })
  startDrain(actor.getSnapshot())

  const stopMetrics = meter === null ? () => {} : observeReplicaMetrics(meter, () => actor.getSnapshot())

  return {
    drainTraceparent() {
      startDrain(actor.getSnapshot())
      const context = drain?.spanContext()
      return context && isSpanContextValid(context) ? formatTraceparent(context) : undefined
    },
    reloadTraceparent: () => reload.traceparent(),
    async close() {
      const snapshot = actor.getSnapshot()
      reload.follow(snapshot)
      endDrain(snapshot)
      subscription.unsubscribe()
      // One last collection: the replica's final counts reach the backend, as a worker's do at its close.
      // After a second signal the operator asked for "now" (the replica exits within 100 ms, docs/cluster.md):
      // the export is started, not waited for, as a forced worker does not wait for its own.
      const flushed = flushTelemetry(flushTimeoutMs).finally(stopMetrics)
      if (snapshot.context.outcome !== 'forced') await flushed
    },
  }
}

/**
 * `lameduck.replica.reload`: a root span from the reload's start (its queue set) until its last retiring worker
 * has exited (the queue cleared), or until the replica drains or stops in the middle of it. Each retiring
 * worker's `lameduck.drain` is its child (its context goes with the retire signal). A reload cut short by a
 * signal is no error: its outcome says `interrupted`, and the drain's span tells the rest.
 */
function traceReloads(tracer: ActiveProviders['tracer']) {
  let current: { span: Span; replacing: readonly string[] } | null = null
  return {
    follow(snapshot: ReplicaSnapshot): void {
      if (tracer === null) return
      const { reloadQueue, workers } = snapshot.context
      const inReload = reloadQueue !== null && snapshot.matches('running')
      if (current === null && inReload) {
        // The first step is taken with the request: its worker is out of the queue, being replaced.
        const stepping = Object.values(workers).flatMap((w) => (w.replaces !== null && workers[w.replaces]?.state !== 'exited' ? [w.replaces] : []))
        const replacing = [...stepping, ...reloadQueue]
        current = {
          span: tracer.startSpan('lameduck.replica.reload', { root: true, attributes: { [attr.replicaReloadWorkers]: replacing.length } }, ROOT_CONTEXT),
          replacing,
        }
      } else if (current !== null && !inReload && !snapshot.matches('restarting') && !snapshot.matches('starting')) {
        // A crash in the middle of a reload passes through `restarting` and `starting` back to it: the reload goes on.
        const completed = reloadQueue === null && snapshot.matches('running')
        const replaced = current.replacing.filter((id) => workers[id]?.state === 'exited').length
        current.span.setAttributes({ [attr.replicaReloadReplaced]: replaced, [attr.replicaReloadOutcome]: completed ? 'completed' : 'interrupted' })
        current.span.end()
        current = null
      }
    },
    traceparent(): string | undefined {
      const context = current?.span.spanContext()
      return context && isSpanContextValid(context) ? formatTraceparent(context) : undefined
    },
  }
}

function observeReplicaMetrics(meter: NonNullable<ActiveProviders['meter']>, getSnapshot: () => ReplicaSnapshot): () => void {
  const m = replicaMetrics
  // Counts of things present now add up across replicas: up-down counters, as the workers' are.
  const running = meter.createObservableUpDownCounter(m.workersRunning.name, {
    unit: m.workersRunning.unit,
    description: 'Workers serving now (running, not retiring), as the primary last heard.',
  })
  const expected = meter.createObservableUpDownCounter(m.workersExpected.name, {
    unit: m.workersExpected.unit,
    description: 'Workers the replica is meant to have (WORKERS).',
  })
  const inFlight = meter.createObservableUpDownCounter(m.inFlight.name, {
    unit: m.inFlight.unit,
    description: "Requests in flight across the replica's workers, from their last reports (at most 5 ms old).",
  })
  const lost = meter.createObservableCounter(m.lost.name, {
    unit: m.lost.unit,
    description: 'Requests in flight in workers that died without finishing them.',
  })
  const state = meter.createObservableUpDownCounter(m.state.name, {
    unit: m.state.unit,
    description: "1 for the state the replica's machine is in, 0 for the others.",
  })
  const observables = [running, expected, inFlight, lost, state]
  const observe = (result: BatchObservableResult) => {
    const snapshot = getSnapshot()
    const { context } = snapshot
    result.observe(running, servingWorkers(context))
    result.observe(expected, context.settings.workers)
    result.observe(inFlight, liveWorkers(context).reduce((sum, w) => sum + w.inFlight, 0))
    result.observe(lost, context.lost)
    const current = topState(snapshot)
    for (const name of replicaStates) result.observe(state, name === current ? 1 : 0, { [attr.replicaState]: name })
  }
  meter.addBatchObservableCallback(observe, observables)
  return () => meter.removeBatchObservableCallback(observe, observables)
}
