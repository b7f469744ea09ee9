import { constants } from 'node:os'
import type { InspectionEvent, Observer } from 'xstate'
import { schemaCheck } from '../config/schema-check.ts'
import { invalidOption } from '../errors.ts'
import type { StartupWork } from '../machine/lifecycle-machine.ts'
import { type ListenerAtDrain, listenerAtDrainPolicies, overCapacityPolicies, type OverCapacityPolicy } from '../machine/lifecycle-names.ts'
import { defaultStreamReconnect, type StreamHandover, streamHandovers, type StreamReconnect } from '../sse/handover.ts'
import type { WebsocketGoodbye } from '../transport/upgraded-sessions.ts'

export interface LameduckOptions {
  /** In-flight requests at which `/ready` reports `at_capacity`. Match Cerebrium's `replica_concurrency`. Default 1. */
  maxConcurrency?: number
  /** Longest the drain proper may take before remaining requests are abandoned. Default 30000. */
  drainTimeoutMs?: number
  /** Not-ready-but-serving time after the signal (Kubernetes' endpoint race). Default 0. */
  shutdownDelayMs?: number
  /**
   * How long before the drain deadline long-lived work is told to hand over (`noticeSignal`). Default 5000;
   * at most `drainTimeoutMs` (equal: the notice comes as the drain begins).
   */
  drainNoticeMs?: number
  /**
   * What `@fastify/websocket` sessions (and other upgraded sockets) get at the drain proper. Default:
   * close code 1012 `draining`, spread over 1000 ms, cut 2000 ms after a close frame left unanswered.
   * `false`: nothing; the drain then waits for your sessions to close (until its deadline).
   */
  websocketGoodbye?: Partial<WebsocketGoodbye> | false
  /**
   * What the drain proper does with the listening sockets. `close` (default): they close, so a new
   * connection is refused (ECONNREFUSED, which balancers retry) and so is a liveness probe. `keep`: they
   * stay open until exit; probes are answered (liveness 200, readiness 503 `draining`) and every other
   * new request gets 503 + Retry-After + `Connection: close`. Pick `keep` where the platform may act on a
   * failed liveness check during the stop (Cerebrium); Kubernetes ignores liveness once a pod terminates.
   */
  listenerAtDrain?: ListenerAtDrain
  /**
   * When event streams (`lameduck/sse`) are handed over: `'at-notice'` (default), `'at-drain'` or `'finish'`.
   * A route's `config.streamHandover` overrides it.
   */
  streamHandover?: StreamHandover
  /** The last event of a handed-over stream. Default `{ event: 'reconnect', retryMs: 1000, spreadMs: 1000 }`. */
  streamReconnect?: Partial<StreamReconnect>
  /** `admit` (default): serve and report at capacity. `reject`: answer 503 with Retry-After. */
  overCapacity?: OverCapacityPolicy
  /** Seconds put in Retry-After on a 503. Default 1. */
  retryAfterSeconds?: number
  /** Probe paths; `false` leaves a probe out. Defaults `/health` and `/ready`. */
  probes?: { health?: string | false; ready?: string | false }
  /**
   * Signals that start the drain; `false` installs no process handlers at all, neither for
   * signals nor for uncaught errors (drive it with `lameduck.shutdown()`). With signals,
   * an uncaughtException or unhandledRejection is logged and starts the drain; the exit is 1.
   */
  signals?: NodeJS.Signals[] | false
  /** Work that must succeed before the service is ready. Receives an AbortSignal fired if a signal stops startup. */
  startup?: StartupWork
  /** Longest the startup work may take before the service stops with exit 1. Default 600000 (10 min). */
  startupTimeoutMs?: number
  /** How long `fastify.close()` (your onClose hooks) may take after the drain before exit anyway. Default 5000. */
  closeTimeoutMs?: number
  /**
   * Called once with the exit code when the lifecycle has stopped and the server is closed. Default: end the
   * process, once every lameduck lifecycle in it has stopped, with the worst code; `false`: do nothing.
   */
  exit?: ((code: number) => void) | false
  /**
   * With an OpenTelemetry SDK registered: one SERVER span per request, lameduck's own or the one another
   * instrumentation made. Default true. Leave it `true` beside `@fastify/otel` or `@opentelemetry/instrumentation-http`:
   * lameduck then makes no span of its own, puts its attributes on theirs and ends a cut request's span as `ERROR`.
   * `false` removes the request hook, and with it those attributes and that marking. Lifecycle spans and metrics stay.
   */
  requestSpans?: boolean
  /** XState inspection of the lifecycle actor (passed to `createActor`), e.g. lameduck's `createLifecycleInspector(...).inspect`. */
  inspect?: InspectionObserver
}

/** What XState's `createActor(machine, { inspect })` accepts. */
export type InspectionObserver = Observer<InspectionEvent> | ((event: InspectionEvent) => void)

export interface ResolvedOptions {
  readonly maxConcurrency: number
  readonly drainTimeoutMs: number
  readonly shutdownDelayMs: number
  readonly drainNoticeMs: number
  readonly websocketGoodbye: WebsocketGoodbye | null
  readonly listenerAtDrain: ListenerAtDrain
  readonly streamHandover: StreamHandover
  readonly streamReconnect: StreamReconnect
  readonly overCapacity: OverCapacityPolicy
  readonly retryAfterSeconds: number
  readonly probes: { readonly health: string | false; readonly ready: string | false }
  readonly signals: readonly NodeJS.Signals[]
  readonly startup: StartupWork | null
  readonly startupTimeoutMs: number
  readonly closeTimeoutMs: number
  /** `'process'`: the default, the process exit shared by every lameduck lifecycle in it. */
  readonly exit: ((code: number) => void) | 'process' | null
  readonly requestSpans: boolean
  readonly inspect: InspectionObserver | null
}

export const defaultOptions = {
  maxConcurrency: 1,
  drainTimeoutMs: 30_000,
  shutdownDelayMs: 0,
  drainNoticeMs: 5_000,
  listenerAtDrain: 'close',
  streamHandover: 'at-notice',
  overCapacity: 'admit',
  retryAfterSeconds: 1,
  closeTimeoutMs: 5_000,
  startupTimeoutMs: 600_000,
  requestSpans: true,
} as const

/**
 * SIGTERM is the platform's stop and SIGINT the operator's Ctrl-C. SIGHUP too: a closed terminal or a
 * hung-up session would otherwise kill the process mid-request (Node's default). SIGUSR2 is left to
 * Node and to the tools that use it (nodemon restarts, heap snapshots); add it if yours means "stop".
 */
export const defaultSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

export const defaultWebsocketGoodbye: WebsocketGoodbye = Object.freeze({
  code: 1012,
  reason: 'draining',
  spreadMs: 1_000,
  closeTimeoutMs: 2_000,
})

// 24 days: the largest delay a Node timer honours (2^31 - 1 ms).
const maxTimerMs = 2_147_483_647

interface DataOptions {
  maxConcurrency?: number
  drainTimeoutMs?: number
  shutdownDelayMs?: number
  drainNoticeMs?: number
  websocketGoodbye?: Partial<WebsocketGoodbye> | false
  listenerAtDrain?: ListenerAtDrain
  streamHandover?: StreamHandover
  streamReconnect?: Partial<StreamReconnect>
  overCapacity?: OverCapacityPolicy
  retryAfterSeconds?: number
  probes?: { health?: string | false; ready?: string | false }
  signals?: string[] | false
  closeTimeoutMs?: number
  startupTimeoutMs?: number
  requestSpans?: boolean
}

const probePath = {
  anyOf: [
    { type: 'string', pattern: '^/[^\\s?#]*$', minLength: 1, maxLength: 200 },
    { type: 'boolean', const: false },
  ],
} as const

// Options are optional, but a present option must be valid: `null` is not "use the default".
const dataSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxConcurrency: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    drainTimeoutMs: { type: 'integer', minimum: 1, maximum: maxTimerMs },
    shutdownDelayMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
    drainNoticeMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
    websocketGoodbye: {
      anyOf: [
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            // 1000-4999 less the codes an endpoint may not send (RFC 6455 7.4.1); 1012 and 1001 mean "come back".
            code: { type: 'integer', minimum: 1000, maximum: 4999, not: { enum: [1004, 1005, 1006, 1015] } },
            // A close frame's reason is at most 123 bytes of UTF-8.
            reason: { type: 'string', maxLength: 123 },
            spreadMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
            closeTimeoutMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
          },
        },
        { type: 'boolean', const: false },
      ],
    },
    listenerAtDrain: { type: 'string', enum: [...listenerAtDrainPolicies] },
    streamHandover: { type: 'string', enum: [...streamHandovers] },
    streamReconnect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // An event name is one line of the stream.
        event: { type: 'string', pattern: '^[^\\r\\n]+$', maxLength: 100 },
        retryMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
        spreadMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
      },
    },
    overCapacity: { type: 'string', enum: [...overCapacityPolicies] },
    retryAfterSeconds: { type: 'integer', minimum: 0, maximum: 86_400 },
    probes: {
      type: 'object',
      additionalProperties: false,
      properties: {
        health: { ...probePath } as never,
        ready: { ...probePath } as never,
      },
    },
    signals: {
      anyOf: [
        { type: 'array', items: { type: 'string', pattern: '^SIG[A-Z0-9]+$' }, minItems: 1 },
        { type: 'boolean', const: false },
      ],
    },
    closeTimeoutMs: { type: 'integer', minimum: 0, maximum: maxTimerMs },
    startupTimeoutMs: { type: 'integer', minimum: 1, maximum: maxTimerMs },
    requestSpans: { type: 'boolean' },
  },
} as const

const checkData = schemaCheck(dataSchema)

const catchableSignals = new Set(Object.keys(constants.signals).filter((name) => name !== 'SIGKILL' && name !== 'SIGSTOP'))

/** Validates the plugin's options once, at registration, and freezes the result. */
export function resolveOptions(input: unknown): ResolvedOptions {
  const raw: Record<string, unknown> = input == null ? {} : (input as Record<string, unknown>)
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalidOption('(options)', input, 'an object')
  // Fastify adds its own keys to plugin options; they are not ours to judge.
  const { startup, exit, inspect, prefix: _prefix, logLevel: _logLevel, logSerializers: _ls, ...data } = raw
  const problem = checkData(data)
  if (problem) throw invalidOption(problem.field, problem.value, problem.expected)
  if (startup !== undefined && typeof startup !== 'function') {
    throw invalidOption('startup', startup, 'a function (signal) => Promise<void>')
  }
  if (exit !== undefined && exit !== false && typeof exit !== 'function') {
    throw invalidOption('exit', exit, 'a function (code) => void, or false')
  }
  if (inspect !== undefined && typeof inspect !== 'function' && typeof (inspect as { next?: unknown } | null)?.next !== 'function') {
    throw invalidOption('inspect', inspect, 'a function (event) => void or an observer { next(event) }')
  }
  const d = data as DataOptions
  // A well-formed unknown name (SIGFOO) would never fire, and SIGKILL/SIGSTOP cannot be caught
  // (process.on throws EINVAL at listen): refuse both now, by name.
  for (const [index, signal] of (d.signals || []).entries()) {
    if (!catchableSignals.has(signal)) {
      throw invalidOption(`signals.${index}`, signal, 'a signal this platform has and Node can catch, e.g. "SIGTERM"')
    }
  }
  const drainTimeoutMs = d.drainTimeoutMs ?? defaultOptions.drainTimeoutMs
  // An explicit notice longer than the drain is a mistake worth naming; the default shrinks to fit.
  if (d.drainNoticeMs !== undefined && d.drainNoticeMs > drainTimeoutMs) {
    throw invalidOption('drainNoticeMs', d.drainNoticeMs, `at most drainTimeoutMs (${drainTimeoutMs})`)
  }
  const goodbye = d.websocketGoodbye
  const websocketGoodbye =
    goodbye === false ? null : Object.freeze({ ...defaultWebsocketGoodbye, ...(goodbye ?? {}) })
  if (websocketGoodbye && Buffer.byteLength(websocketGoodbye.reason) > 123) {
    throw invalidOption('websocketGoodbye.reason', websocketGoodbye.reason, 'at most 123 bytes of UTF-8')
  }
  const probes = {
    health: d.probes?.health ?? '/health',
    ready: d.probes?.ready ?? '/ready',
  }
  if (probes.health !== false && probes.health === probes.ready) {
    throw invalidOption('probes.ready', probes.ready, 'a path different from probes.health')
  }
  return Object.freeze({
    maxConcurrency: d.maxConcurrency ?? defaultOptions.maxConcurrency,
    drainTimeoutMs,
    shutdownDelayMs: d.shutdownDelayMs ?? defaultOptions.shutdownDelayMs,
    drainNoticeMs: Math.min(d.drainNoticeMs ?? defaultOptions.drainNoticeMs, drainTimeoutMs),
    websocketGoodbye,
    listenerAtDrain: d.listenerAtDrain ?? defaultOptions.listenerAtDrain,
    streamHandover: d.streamHandover ?? defaultOptions.streamHandover,
    streamReconnect: Object.freeze({ ...defaultStreamReconnect, ...(d.streamReconnect ?? {}) }),
    overCapacity: d.overCapacity ?? defaultOptions.overCapacity,
    retryAfterSeconds: d.retryAfterSeconds ?? defaultOptions.retryAfterSeconds,
    probes: Object.freeze(probes),
    signals: Object.freeze(
      d.signals === false ? [] : ((d.signals ?? defaultSignals) as NodeJS.Signals[]),
    ),
    startup: (startup as StartupWork | undefined) ?? null,
    closeTimeoutMs: d.closeTimeoutMs ?? defaultOptions.closeTimeoutMs,
    startupTimeoutMs: d.startupTimeoutMs ?? defaultOptions.startupTimeoutMs,
    exit: exit === false ? null : ((exit as ((code: number) => void) | undefined) ?? 'process'),
    requestSpans: d.requestSpans ?? defaultOptions.requestSpans,
    inspect: (inspect as InspectionObserver | undefined) ?? null,
  })
}

