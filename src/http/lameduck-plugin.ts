import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { createActor } from 'xstate'
import { addUntracedHook } from '../admission/untraced-hook.ts'
import { retireSignal } from '../cluster/replica-messages.ts'
import { joinReplica, replicaWorkerId, type WorkerLink } from '../cluster/worker-link.ts'
import { LameduckError } from '../errors.ts'
import { lifecycleMachine, startupActor } from '../machine/lifecycle-machine.ts'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { exitCodeOf, type LifecycleSnapshot } from '../machine/snapshot-views.ts'
import { type FaultOrigin, listenForFaults } from '../process/fault-listeners.ts'
import { claimProcessExit } from '../process/shared-exit.ts'
import { listenForSignals } from '../process/signal-listeners.ts'
import { type LifecycleActor, type LifecycleStreams, lifecycleStreams, whenStopped } from '../streams/lifecycle-streams.ts'
import { otelSdkRegistered } from '../telemetry/otel-global.ts'
import { warnIfExportMeant } from '../telemetry/sdk-visibility.ts'
import { ConnectionDrains } from '../transport/connection-drains.ts'
import { arrivalGraceMs } from '../transport/http1-drain.ts'
import { lingerMs } from '../transport/lingering-close.ts'
import { type SessionServer, sayGoodbye } from '../transport/upgraded-sessions.ts'
import { admissionHook } from './admission-hook.ts'
import { type DrainNotice, processDrainNotice } from './drain-notice.ts'
import { declareRequestSlots } from './request-slots.ts'
import { lifecycleFields, logTransitions } from './lifecycle-log.ts'
import { type LameduckOptions, type ResolvedOptions, resolveOptions } from './plugin-options.ts'
import { type LameduckReadiness, readinessReport, registerProbeRoutes } from './probe-routes.ts'
import { checkRouteStreamHandover } from '../sse/handover.ts'

/** What `fastify.lameduck` gives an application. */
export interface Lameduck extends LifecycleStreams, DrainNotice {
  /** The lifecycle actor: the single source of truth. */
  readonly actor: LifecycleActor
  readonly options: ResolvedOptions
  /** Readiness as `/ready` would answer it now, its `open_streams` and `open_sessions` included. */
  readiness(): LameduckReadiness
  /** Starts the drain as a signal would (a second call forces the stop). */
  shutdown(reason?: string): void
  /** Resolves with the final snapshot once stopped and the server is closed. */
  finished(): Promise<LifecycleSnapshot>
}

declare module 'fastify' {
  interface FastifyInstance {
    lameduck: Lameduck
  }
  interface FastifyRequest {
    /** This request's drain notice: lameduck's signals, also aborted if the client goes away. */
    readonly lameduck: DrainNotice
  }
}

/** Longest a cluster worker's change of counts waits before its primary hears of it (docs/cluster.md). */
export const replicaReportMs = 5

/** What `@fastify/websocket` decorates the instance with, if registered. */
type WithWebsockets = { websocketServer?: SessionServer }

const lameduckPlugin: FastifyPluginAsync<LameduckOptions> = async (fastify, rawOptions) => {
  const options: ResolvedOptions = resolveOptions(rawOptions)
  if (fastify.hasDecorator('lameduck')) {
    throw new LameduckError('LAMEDUCK_ALREADY_REGISTERED', 'lameduck is already registered on this Fastify instance')
  }

  // Run by lameduck's cluster primary (lameduck/cluster): this process is one worker of the replica.
  const workerId = replicaWorkerId()
  let link: WorkerLink | null = null
  // Every server Fastify opens for this app (the secondary ones for `localhost` too), every kind of connection.
  const drains = new ConnectionDrains(fastify.server, workerId === null ? null : (accepted) => link?.gate(accepted) ?? Promise.resolve())
  // The machine starts now, so a signal that arrives while the app is still loading is a clean
  // `interrupted` stop; the startup work waits for Fastify to be ready.
  const serverReady = Promise.withResolvers<void>()
  const machine = lifecycleMachine.provide({
    actions: {
      noteJoinedDrain: ({ event }) => {
        if (event.type !== 'signal.received') return
        const fields = { signal: event.signal, replica_signal: event.replicaSignal }
        if (event.replicaSignal === 0) fastify.log.info(fields, 'lifecycle: retired while draining already; this worker goes on')
        else fastify.log.info(fields, 'lifecycle: the replica is stopping; this worker is draining already and goes on')
      },
      stopAccepting: ({ context }) => {
        // A cluster worker draining while its replica is not (a reload's retirement, a fault, its own
        // shutdown()) leaves its primary's round-robin at once: the other workers serve what comes.
        const alone = context.replica !== null && context.replica.state !== 'draining'
        const keep = options.listenerAtDrain === 'keep' && !alone
        // Leaving alone, nothing stops the balancer routing to the replica, and its pooled connections to this
        // worker keep carrying requests: one closed on a timer meets the next (the keep-alive race, every
        // reload). Each is let go after its next answer (`Connection: close`) or when its client closes it,
        // as Node's keep-alive timeout would have done anyway, within the drain's deadline (a second before it).
        // Balancers close their idle pooled connections well before a server's keep-alive timeout; the longer
        // this waits, the surer it is that the client, not this worker, closes each one.
        const idleGraceMs = alone
          ? Math.max(arrivalGraceMs, Math.min(fastify.server.keepAliveTimeout, options.drainTimeoutMs - 1_000))
          : undefined
        drains.stopAccepting(context.requests.items(), context.arrivals, keep, idleGraceMs)
        if (options.websocketGoodbye) {
          sayGoodbye(context.sessions, (fastify as WithWebsockets).websocketServer, options.websocketGoodbye)
        }
      },
    },
    actors: {
      startup: startupActor(async (signal) => {
        await untilAborted(serverReady.promise, signal)
        await options.startup?.(signal)
      }),
    },
  })
  const actor: LifecycleActor = createActor(machine, {
    input: {
      maxConcurrency: options.maxConcurrency,
      drainTimeoutMs: options.drainTimeoutMs,
      drainNoticeMs: options.drainNoticeMs,
      shutdownDelayMs: options.shutdownDelayMs,
      overCapacity: options.overCapacity,
      startupTimeoutMs: options.startupTimeoutMs,
    },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  })
  const getSnapshot = () => actor.getSnapshot()
  const { requests, sessions } = getSnapshot().context
  const streams = lifecycleStreams(actor)
  const notice = processDrainNotice(streams.snapshot$)
  const admit = admissionHook(getSnapshot, requests as RequestLedger<ServerResponse>, sessions, options.retryAfterSeconds)
  // Spans and metrics when an OpenTelemetry SDK is registered; nothing at all otherwise. The API and
  // lameduck's telemetry are imported only then: with the semantic conventions they added several MB to
  // the idle RSS of a service without telemetry (bench/findings.md).
  const providers = otelSdkRegistered() ? (await import('../telemetry/active-providers.ts')).activeProviders() : { tracer: null, meter: null }
  let outsideSpans: ((log: () => void) => void) | undefined
  // In a cluster worker: the replica's drain span, sent with the primary's first signal (docs/cluster.md).
  let replicaTraceparent: string | undefined
  if (providers.tracer !== null || providers.meter !== null) {
    const telemetry = await import('../telemetry/instrument-lifecycle.ts')
    telemetry.instrumentLifecycle(fastify, actor, streams, providers, { requestSpans: options.requestSpans, drainParent: () => replicaTraceparent })
    outsideSpans = telemetry.outsideSpans
  } else warnIfExportMeant((fields, message) => fastify.log.warn(fields, message))

  // Every route but the probes counts as work. A global hook, not one added through onRoute:
  // onRoute never sees routes declared at the root before this plugin has loaded
  // (`app.register(lameduck); app.get(...)` without await), and those went uncounted.
  declareRequestSlots(fastify)
  // Not wrapped in a span of @fastify/otel's (src/admission/untraced-hook.ts).
  addUntracedHook(fastify, 'onRequest', admit)
  registerProbeRoutes(fastify, options.probes, getSnapshot)
  // A route's `config.streamHandover`, checked as it is declared (routes declared before this are checked at their first stream).
  fastify.addHook('onRoute', checkRouteStreamHandover)
  // A getter on the prototype: nothing is made for a request that never asks.
  fastify.decorateRequest('lameduck', {
    getter(this: FastifyRequest) {
      return notice.forRequest(this)
    },
  })

  const claim = options.exit === 'process' ? claimProcessExit() : null
  const exit = (code: number, urgent: boolean) => {
    if (claim) claim.exit(code, urgent)
    else if (typeof options.exit === 'function') options.exit(code)
  }

  const onSignal = (signal: string, lateByMs = 0, replicaSignal?: number) => {
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'signal.received', signal, lateByMs, ...(replicaSignal === undefined ? {} : { replicaSignal }) })
    else {
      // Stopped already and closing: the outcome and exit code are decided, and closing is
      // bounded by closeTimeoutMs. A late signal must neither change the code nor kill us.
      fastify.log.warn({ signal }, 'lifecycle: signal after stop, ignored')
    }
  }

  const onFault = (error: unknown, origin: FaultOrigin) => {
    const running = actor.getSnapshot().status === 'active'
    fastify.log.fatal({ err: error, origin }, running ? `lifecycle: ${origin}, draining` : `lifecycle: ${origin} after stop`)
    if (running) actor.send({ type: 'fault.raised', origin, error: error instanceof Error ? error.message : String(error) })
    // Stopped and closing: the lifecycle's outcome stands, but the process failed.
    else exit(1, false)
  }

  const api: Lameduck = {
    actor,
    options,
    ...streams,
    drainSignal: notice.drainSignal,
    noticeSignal: notice.noticeSignal,
    readiness: () => readinessReport(actor.getSnapshot()),
    shutdown: (reason = 'shutdown') => onSignal(reason),
    finished: () => finishedPromise,
  }
  fastify.decorate('lameduck', api)

  logTransitions(streams.snapshot$, fastify.log, outsideSpans)
  actor.start()
  if (workerId !== null) {
    link = joinReplica(workerId, {
      actor,
      // A retiring worker skips the shutdown delay: it leaves the round-robin, not the balancer's rotation.
      onSignal: (signal, lateByMs, traceparent, n) => {
        // Before the machine hears it: its drain span starts as the machine enters `draining`.
        replicaTraceparent ??= traceparent
        // The machine decides what the replica's signal means to this worker (`joinsOwnDrain`): a retirement is 0.
        onSignal(signal, signal === retireSignal ? Math.max(lateByMs, options.shutdownDelayMs) : lateByMs, n ?? 0)
      },
      timing: { shutdownDelayMs: options.shutdownDelayMs, drainTimeoutMs: options.drainTimeoutMs, closeTimeoutMs: options.closeTimeoutMs },
      reportMs: replicaReportMs,
    })
  }
  // From registration on, not from onReady: a signal while the app loads must not kill it by default.
  // In a cluster worker the primary decides what a signal means (a Ctrl-C reaches the whole process group):
  // the handlers only keep Node's default from killing the worker mid-request.
  const removeSignals = listenForSignals(
    options.signals,
    workerId === null ? onSignal : (signal) => fastify.log.debug({ signal }, 'lifecycle: signal left to the cluster primary'),
  )
  // Process-wide handlers come as a set: `signals: false` means the application owns the process.
  const removeFaults = options.signals.length > 0 ? listenForFaults(onFault) : () => {}
  const removeProcessListeners = () => {
    removeSignals()
    removeFaults()
  }

  const finishedPromise = whenStopped(streams).then((snapshot) =>
    finish(fastify, snapshot, options, drains, serverReady.promise, (code, urgent) => {
      link?.close()
      exit(code, urgent)
    }, () => {
      link?.close()
      removeProcessListeners()
      claim?.release()
    }),
  )

  fastify.addHook('onReady', (hookDone) => {
    serverReady.resolve()
    hookDone()
  })

  // fastify.close() called by the application rather than by a signal: stop at once, no drain.
  fastify.addHook('onClose', (_instance, hookDone) => {
    // After a drain, finish() removes the handlers once the other onClose hooks are done.
    if (actor.getSnapshot().status === 'active') actor.stop()
    hookDone()
  })
}

/**
 * After `stopped`: let connections close on their own (lingering closes are bounded), cut what is
 * left, close Fastify (its onClose hooks), then exit with the lifecycle's code.
 */
async function finish(
  fastify: FastifyInstance,
  snapshot: LifecycleSnapshot,
  options: ResolvedOptions,
  drains: ConnectionDrains,
  serverReady: Promise<void>,
  exit: (code: number, urgent: boolean) => void,
  release: () => void,
): Promise<LifecycleSnapshot> {
  if (snapshot.status !== 'done') {
    // Stopped by fastify.close() or failed: there is no drain outcome to act on.
    if (snapshot.status === 'error') fastify.log.error({ err: snapshot.error }, 'lifecycle: machine failed')
    drains.dispose()
    release()
    return snapshot
  }
  let code = exitCodeOf(snapshot) ?? 1
  const outcome = snapshot.context.outcome
  // Past a deadline the decision is made: cut at once and exit within milliseconds.
  let urgent = outcome === 'forced' || outcome === 'timed_out'
  // Stopped without a drain proper (a signal during startup): the drain begins here.
  const keep = options.listenerAtDrain === 'keep'
  drains.stopAccepting([], snapshot.context.arrivals, keep)
  // With `listenerAtDrain: 'keep'` the probes are answered while the last connections close too: the
  // listeners close just before the cut, milliseconds before exit, not up to 2 s before it.
  if (urgent) drains.closeListeners()
  else if (!keep) await drains.closeListenersWhenFree()
  if (!urgent) await drains.settle(lingerMs + 100)
  await drains.closeListenersWhenFree()
  const cut = drains.cut()
  if (cut > 0) fastify.log.warn({ outcome, connections_cut: cut }, 'lifecycle: connections still open at stop were cut')
  // Stopped while Fastify still loads plugins (a model loaded in a plugin, say): fastify.close() would
  // wait for the loading to end. Nothing has been served and nothing listens yet: exit now.
  const stillBooting = outcome === 'interrupted' && !(await settledNow(serverReady))
  if (outcome === 'forced' || stillBooting) {
    // The operator asked for "now": do not wait on onClose hooks.
    fastify.close().catch(() => {})
  } else {
    const closed = await closeWithin(fastify, options.closeTimeoutMs)
    if (closed !== true) {
      code = 1
      urgent = true
      fastify.log.error({ ...lifecycleFields(snapshot), reason: closed }, 'lifecycle: closing the server failed')
    }
  }
  drains.dispose()
  // Exit first: the default exit takes over the signals, so none falls through to Node's
  // default (death by signal) between our handlers going and its guard arriving.
  exit(code, urgent)
  release()
  return snapshot
}

async function closeWithin(fastify: FastifyInstance, ms: number): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined
  // Not unref'd: an onClose hook that never settles, with nothing else alive, must still end in exit 1
  // after `ms`, not in a quiet exit 0 with the later hooks never run.
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`onClose hooks still running after ${ms} ms`), ms)
  })
  try {
    return await Promise.race([fastify.close().then(() => true as const), timeout])
  } catch (error) {
    return `onClose hook failed: ${error instanceof Error ? error.message : String(error)}`
  } finally {
    clearTimeout(timer)
  }
}

/** Whether `promise` has already resolved (it is checked, not waited for). */
function settledNow(promise: Promise<void>): Promise<boolean> {
  return Promise.race([promise.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))])
}

/** `promise`, or a rejection as soon as `signal` aborts. */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, reject)
  })
}

export const lameduck = fp(lameduckPlugin, {
  fastify: '5.x',
  name: 'lameduck',
})

export default lameduck
