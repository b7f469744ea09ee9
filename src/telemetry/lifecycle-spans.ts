import { type Attributes, type Context, ROOT_CONTEXT, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api'
import type { Observable, Subscription } from 'rxjs'
import { distinctUntilChanged, map } from '../streams/rx.ts'
import { exitCodeOf, type LifecycleSnapshot, phaseName, stateOf } from '../machine/snapshot-views.ts'
import { lameduckAttributes as attr } from './attribute-names.ts'
import { parseTraceparent } from './traceparent.ts'

/**
 * Two spans tell a replica's lifecycle: `lameduck.startup`, from the process's
 * start to ready (or to its failure), and `lameduck.drain`, from the signal to
 * `stopped`, with one span event per lifecycle transition. Both are root spans:
 * no request caused them; except in a cluster worker, whose drain is a child of
 * the replica's (`drainParent`: the `traceparent` its primary sent with the
 * signal, read as the drain begins). Everything is read off the snapshots;
 * nothing here keeps a count of its own.
 */
export function traceLifecycle(
  snapshot$: Observable<LifecycleSnapshot>,
  tracer: Tracer,
  onDrainEnd: (snapshot: LifecycleSnapshot) => void = () => {},
  drainParent: () => string | undefined = () => undefined,
): Subscription {
  let startup: Span | null = null
  let drain: Span | null = null
  let completedAtSignal = 0
  let abortedAtSignal = 0
  let sessionsClosedAtSignal = 0

  return snapshot$
    .pipe(
      map((snapshot) => ({ snapshot, phase: phaseName(snapshot) })),
      distinctUntilChanged((a, b) => a.phase === b.phase),
    )
    .subscribe(({ snapshot, phase }) => {
      const { context } = snapshot
      const requests = context.requests
      const state = stateOf(snapshot)

      if (state === 'starting' && startup === null) {
        // From the process's start: module loading and Fastify's boot are part of what a cold start costs.
        startup = tracer.startSpan('lameduck.startup', { root: true, startTime: performance.timeOrigin }, ROOT_CONTEXT)
      }
      if (startup !== null && state !== 'starting') {
        const ready = state !== 'stopped'
        startup.addEvent(phase, transitionAttributes(snapshot))
        startup.setAttribute(attr.startupOutcome, ready ? 'ready' : (context.outcome ?? 'stopped'))
        if (!ready && exitCodeOf(snapshot) !== 0) startup.setStatus({ code: SpanStatusCode.ERROR, message: context.error ?? undefined })
        startup.end(context.timeline.readyAt ?? context.timeline.stoppedAt ?? undefined)
        startup = null
      }

      // With nothing in flight the signal runs to `stopped` in one macrostep: no `draining` snapshot is seen.
      const drained = state === 'draining' || (state === 'stopped' && context.timeline.signalAt !== null)
      if (drained && drain === null) {
        completedAtSignal = requests.completed
        abortedAtSignal = requests.aborted
        sessionsClosedAtSignal = context.sessions.completed + context.sessions.aborted
        const parent = replicaContext(drainParent())
        drain = tracer.startSpan(
          'lameduck.drain',
          {
            root: parent === ROOT_CONTEXT,
            startTime: context.timeline.signalAt ?? undefined,
            attributes: {
              [attr.drainSignal]: context.signals[0] ?? 'unknown',
              [attr.drainInFlightAtSignal]: context.inFlightAtSignal ?? requests.inFlight,
              [attr.drainTimeoutMs]: context.settings.drainTimeoutMs,
            },
          },
          parent,
        )
        drain.addEvent('signal.received', { [attr.drainSignal]: context.signals[0] ?? 'unknown' }, context.timeline.signalAt ?? undefined)
      }
      if (drain === null) return
      drain.addEvent(phase, transitionAttributes(snapshot), transitionTime(snapshot))
      if (state !== 'stopped') return

      const { signalAt, drainStartedAt, stoppedAt } = context.timeline
      const attributes: Attributes = {
        [attr.drainOutcome]: context.outcome ?? 'unknown',
        [attr.drainSignals]: [...context.signals],
        [attr.drainCompleted]: requests.completed - completedAtSignal,
        [attr.drainAborted]: requests.aborted - abortedAtSignal,
        [attr.drainAbandoned]: requests.abandoned,
        [attr.drainTimedOut]: context.outcome === 'timed_out',
        [attr.drainSessionsClosed]: context.sessions.completed + context.sessions.aborted - sessionsClosedAtSignal,
        [attr.drainSessionsCut]: context.sessions.abandoned,
      }
      if (signalAt !== null) attributes[attr.drainDelayMs] = (drainStartedAt ?? stoppedAt ?? signalAt) - signalAt
      if (drainStartedAt !== null && stoppedAt !== null) attributes[attr.drainDrainMs] = stoppedAt - drainStartedAt
      drain.setAttributes(attributes)
      if (exitCodeOf(snapshot) !== 0) drain.setStatus({ code: SpanStatusCode.ERROR, message: context.outcome ?? undefined })
      drain.end(stoppedAt ?? undefined)
      drain = null
      onDrainEnd(snapshot)
    })
}

/** The replica's drain span as a remote parent, or the root context when there is none (or it is malformed). */
function replicaContext(traceparent: string | undefined): Context {
  const parent = parseTraceparent(traceparent)
  return parent === null ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, { ...parent, isRemote: true })
}

function transitionAttributes(snapshot: LifecycleSnapshot): Attributes {
  const counts = snapshot.context.requests
  return {
    [attr.lifecycleState]: phaseName(snapshot),
    [attr.inFlight]: counts.inFlight,
    'lameduck.requests.completed': counts.completed,
    'lameduck.requests.abandoned': counts.abandoned,
  }
}

/** The machine stamps the moments it records; use them, so span and timeline agree to the millisecond. */
function transitionTime(snapshot: LifecycleSnapshot): number | undefined {
  const { timeline } = snapshot.context
  switch (phaseName(snapshot)) {
    case 'draining.delay':
      return timeline.signalAt ?? undefined
    case 'draining.drain':
      return timeline.drainStartedAt ?? undefined
    case 'stopped':
      return timeline.stoppedAt ?? undefined
    default:
      return undefined
  }
}
