import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { createActor } from 'xstate'
import { LameduckError } from '../errors.ts'
import { lifecycleMachine, startupActor } from '../machine/lifecycle-machine.ts'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { exitCodeOf, type LifecycleSnapshot, type Readiness, readinessOf } from '../machine/snapshot-views.ts'
import { type FaultOrigin, listenForFaults } from '../process/fault-listeners.ts'
import { listenForSignals } from '../process/signal-listeners.ts'
import { type LifecycleActor, type LifecycleStreams, lifecycleStreams, whenStopped } from '../streams/lifecycle-streams.ts'
import { activeProviders } from '../telemetry/active-providers.ts'
import { admissionHook } from './admission-hook.ts'
import { destroyRemainingConnections, stopAccepting } from './connection-drain.ts'
import { lifecycleFields, logTransitions } from './lifecycle-log.ts'
import { type LameduckOptions, type ResolvedOptions, resolveOptions } from './plugin-options.ts'
import { registerProbeRoutes } from './probe-routes.ts'

/** What `fastify.lameduck` gives an application. */
export interface Lameduck extends LifecycleStreams {
  /** The lifecycle actor: the single source of truth. */
  readonly actor: LifecycleActor
  readonly options: ResolvedOptions
  /** Readiness as `/ready` would answer it now. */
  readiness(): Readiness
  /** Starts the drain as a signal would (a second call forces the stop). */
  shutdown(reason?: string): void
  /** Resolves with the final snapshot once stopped and the server is closed. */
  finished(): Promise<LifecycleSnapshot>
}

declare module 'fastify' {
  interface FastifyInstance {
    lameduck: Lameduck
  }
}

const lameduckPlugin: FastifyPluginAsync<LameduckOptions> = async (fastify, rawOptions) => {
  const options: ResolvedOptions = resolveOptions(rawOptions)
  if (fastify.hasDecorator('lameduck')) {
    throw new LameduckError('LAMEDUCK_ALREADY_REGISTERED', 'lameduck is already registered on this Fastify instance')
  }

  const machine = lifecycleMachine.provide({
    actions: {
      stopAccepting: ({ context }) => stopAccepting(fastify.server, context.requests as RequestLedger<ServerResponse>),
    },
    ...(options.startup ? { actors: { startup: startupActor(options.startup) } } : {}),
  })
  const actor: LifecycleActor = createActor(machine, {
    input: {
      maxConcurrency: options.maxConcurrency,
      drainTimeoutMs: options.drainTimeoutMs,
      shutdownDelayMs: options.shutdownDelayMs,
      overCapacity: options.overCapacity,
      startupTimeoutMs: options.startupTimeoutMs,
    },
    ...(options.inspect ? { inspect: options.inspect } : {}),
  })
  const getSnapshot = () => actor.getSnapshot()
  const ledger = getSnapshot().context.requests as RequestLedger<ServerResponse>
  const streams = lifecycleStreams(actor)
  const admit = admissionHook(getSnapshot, ledger, options.retryAfterSeconds)
  // Spans and metrics when an OpenTelemetry SDK is registered; nothing at all otherwise. Imported only
  // then: with the semantic conventions it uses, it added about 2.5 MB to the idle RSS of a service
  // without telemetry (bench/findings.md).
  const providers = activeProviders((fields, message) => fastify.log.warn(fields, message))
  if (providers.tracer !== null || providers.meter !== null) {
    const { instrumentLifecycle } = await import('../telemetry/instrument-lifecycle.ts')
    instrumentLifecycle(fastify, actor, streams, providers, { requestSpans: options.requestSpans })
  }

  // Every route but the probes counts as work. A global hook, not one added through onRoute:
  // onRoute never sees routes declared at the root before this plugin has loaded
  // (`app.register(lameduck); app.get(...)` without await), and those went uncounted.
  fastify.addHook('onRequest', admit)
  registerProbeRoutes(fastify, options.probes, getSnapshot)

  let removeSignalListeners = () => {}
  const onSignal = (signal: string) => {
    if (actor.getSnapshot().status === 'active') actor.send({ type: 'signal.received', signal })
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
    else options.exit?.(1)
  }

  const finishedPromise = whenStopped(streams).then((snapshot) => finish(fastify, snapshot, options, () => removeSignalListeners()))

  const api: Lameduck = {
    actor,
    options,
    ...streams,
    readiness: () => readinessOf(actor.getSnapshot()),
    shutdown: (reason = 'shutdown') => onSignal(reason),
    finished: () => finishedPromise,
  }
  fastify.decorate('lameduck', api)

  fastify.addHook('onReady', (hookDone) => {
    logTransitions(streams.snapshot$, fastify.log)
    actor.start()
    const removeSignals = listenForSignals(options.signals, onSignal)
    // Process-wide handlers come as a set: `signals: false` means the application owns the process.
    const removeFaults = options.signals.length > 0 ? listenForFaults(onFault) : () => {}
    removeSignalListeners = () => {
      removeSignals()
      removeFaults()
    }
    hookDone()
  })

  // fastify.close() called by the application rather than by a signal: stop at once, no drain.
  fastify.addHook('onClose', (_instance, hookDone) => {
    // After a drain, finish() removes the handlers once the other onClose hooks are done.
    if (actor.getSnapshot().status === 'active') {
      removeSignalListeners()
      actor.stop()
    }
    hookDone()
  })
}

/** After `stopped`: cut what is left, close Fastify (its onClose hooks), then exit with the lifecycle's code. */
async function finish(
  fastify: FastifyInstance,
  snapshot: LifecycleSnapshot,
  options: ResolvedOptions,
  removeSignalListeners: () => void,
): Promise<LifecycleSnapshot> {
  if (snapshot.status !== 'done') {
    // Stopped by fastify.close() or failed: there is no drain outcome to act on.
    if (snapshot.status === 'error') fastify.log.error({ err: snapshot.error }, 'lifecycle: machine failed')
    removeSignalListeners()
    return snapshot
  }
  let code = exitCodeOf(snapshot) ?? 1
  destroyRemainingConnections(fastify.server)
  if (snapshot.context.outcome === 'forced') {
    // The operator asked for "now": do not wait on onClose hooks.
    fastify.close().catch(() => {})
  } else {
    const closed = await closeWithin(fastify, options.closeTimeoutMs)
    if (closed !== true) {
      code = 1
      fastify.log.error({ ...lifecycleFields(snapshot), reason: closed }, 'lifecycle: closing the server failed')
    }
  }
  // Exit first: the default exit takes over the signals, so none falls through to Node's
  // default (death by signal) between our handlers going and its guard arriving.
  options.exit?.(code)
  removeSignalListeners()
  return snapshot
}

async function closeWithin(fastify: FastifyInstance, ms: number): Promise<true | string> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`onClose hooks still running after ${ms} ms`), ms)
    timer.unref()
  })
  try {
    return await Promise.race([fastify.close().then(() => true as const), timeout])
  } catch (error) {
    return `onClose hook failed: ${error instanceof Error ? error.message : String(error)}`
  } finally {
    clearTimeout(timer)
  }
}

export const lameduck = fp(lameduckPlugin, {
  fastify: '5.x',
  name: 'lameduck',
})

export default lameduck
