import type { BatchObservableResult, Meter } from '@opentelemetry/api'
import { lifecycleStates, rejectReasons } from '../machine/lifecycle-names.ts'
import { type LifecycleSnapshot, stateOf } from '../machine/snapshot-views.ts'
import { lameduckAttributes as attr } from './attribute-names.ts'

/** Metric names and units, as documented in docs/observability.md. */
export const lameduckMetrics = {
  inFlight: { name: 'lameduck.requests.in_flight', unit: '{request}' },
  rejected: { name: 'lameduck.requests.rejected', unit: '{request}' },
  abandoned: { name: 'lameduck.requests.abandoned', unit: '{request}' },
  state: { name: 'lameduck.lifecycle.state', unit: '{state}' },
  drainDuration: { name: 'lameduck.drain.duration', unit: 's' },
} as const

// Drains last seconds to minutes; the SDK's default buckets are for milliseconds.
const drainBuckets = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export interface LifecycleMetrics {
  /** Records one drain (signal to stopped) in the duration histogram. */
  recordDrain(snapshot: LifecycleSnapshot): void
  /** Stops observing this lifecycle (its callbacks leave the meter). */
  stop(): void
}

/**
 * Every request count is read from the ledger when the SDK collects, through
 * observable instruments: no second counter exists, nothing runs per request.
 * Counts of things present now (in-flight requests, replicas in a state) are
 * additive across replicas, so they are up-down counters (semconv does the same
 * for `http.server.active_requests`), not gauges.
 */
export function observeLifecycle(meter: Meter, getSnapshot: () => LifecycleSnapshot): LifecycleMetrics {
  const inFlight = meter.createObservableUpDownCounter(lameduckMetrics.inFlight.name, {
    unit: lameduckMetrics.inFlight.unit,
    description: 'Requests being served now (probes are never counted).',
  })
  const rejected = meter.createObservableCounter(lameduckMetrics.rejected.name, {
    unit: lameduckMetrics.rejected.unit,
    description: 'Requests answered 503 instead of being served, by reason.',
  })
  const abandoned = meter.createObservableCounter(lameduckMetrics.abandoned.name, {
    unit: lameduckMetrics.abandoned.unit,
    description: 'Requests still in flight when the drain deadline (or a second signal) stopped the service.',
  })
  const state = meter.createObservableUpDownCounter(lameduckMetrics.state.name, {
    unit: lameduckMetrics.state.unit,
    description: '1 for the lifecycle state the service is in, 0 for the others.',
  })
  const drainDuration = meter.createHistogram(lameduckMetrics.drainDuration.name, {
    unit: lameduckMetrics.drainDuration.unit,
    description: 'Time from the shutdown signal to stopped.',
    advice: { explicitBucketBoundaries: drainBuckets },
  })

  const observables = [inFlight, rejected, abandoned, state]
  const observe = (result: BatchObservableResult) => {
    const snapshot = getSnapshot()
    const requests = snapshot.context.requests
    result.observe(inFlight, requests.inFlight)
    for (const reason of rejectReasons) result.observe(rejected, requests.rejected[reason], { [attr.rejectReason]: reason })
    result.observe(abandoned, requests.abandoned)
    const current = stateOf(snapshot)
    for (const name of lifecycleStates) result.observe(state, name === current ? 1 : 0, { [attr.lifecycleState]: name })
  }
  meter.addBatchObservableCallback(observe, observables)

  return {
    recordDrain(snapshot) {
      const { signalAt, stoppedAt } = snapshot.context.timeline
      if (signalAt === null || stoppedAt === null) return
      drainDuration.record((stoppedAt - signalAt) / 1000, { [attr.drainOutcome]: snapshot.context.outcome ?? 'unknown' })
    },
    stop() {
      meter.removeBatchObservableCallback(observe, observables)
    },
  }
}
