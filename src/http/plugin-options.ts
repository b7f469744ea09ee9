import { constants } from 'node:os'
import type { InspectionEvent, Observer } from 'xstate'
import { schemaCheck } from '../config/schema-check.ts'
import { invalidOption } from '../errors.ts'
import type { StartupWork } from '../machine/lifecycle-machine.ts'
import { overCapacityPolicies, type OverCapacityPolicy } from '../machine/lifecycle-names.ts'
import { exitProcess } from '../process/exit-process.ts'

export interface LameduckOptions {
  /** In-flight requests at which `/ready` reports `at_capacity`. Match Cerebrium's `replica_concurrency`. Default 1. */
  maxConcurrency?: number
  /** Longest the drain proper may take before remaining requests are abandoned. Default 30000. */
  drainTimeoutMs?: number
  /** Not-ready-but-serving time after the signal (Kubernetes' endpoint race). Default 0. */
  shutdownDelayMs?: number
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
  /** Called once with the exit code when the lifecycle has stopped and the server is closed. Default: end the process; `false`: do nothing. */
  exit?: ((code: number) => void) | false
  /**
   * One SERVER span per request when an OpenTelemetry SDK is registered. Default true;
   * `false` when the application traces requests itself (e.g. `@fastify/otel`). Lifecycle spans and metrics stay.
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
  readonly overCapacity: OverCapacityPolicy
  readonly retryAfterSeconds: number
  readonly probes: { readonly health: string | false; readonly ready: string | false }
  readonly signals: readonly NodeJS.Signals[]
  readonly startup: StartupWork | null
  readonly startupTimeoutMs: number
  readonly closeTimeoutMs: number
  readonly exit: ((code: number) => void) | null
  readonly requestSpans: boolean
  readonly inspect: InspectionObserver | null
}

export const defaultOptions = {
  maxConcurrency: 1,
  drainTimeoutMs: 30_000,
  shutdownDelayMs: 0,
  overCapacity: 'admit',
  retryAfterSeconds: 1,
  closeTimeoutMs: 5_000,
  startupTimeoutMs: 600_000,
  requestSpans: true,
} as const

// 24 days: the largest delay a Node timer honours (2^31 - 1 ms).
const maxTimerMs = 2_147_483_647

interface DataOptions {
  maxConcurrency?: number
  drainTimeoutMs?: number
  shutdownDelayMs?: number
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
  const probes = {
    health: d.probes?.health ?? '/health',
    ready: d.probes?.ready ?? '/ready',
  }
  if (probes.health !== false && probes.health === probes.ready) {
    throw invalidOption('probes.ready', probes.ready, 'a path different from probes.health')
  }
  return Object.freeze({
    maxConcurrency: d.maxConcurrency ?? defaultOptions.maxConcurrency,
    drainTimeoutMs: d.drainTimeoutMs ?? defaultOptions.drainTimeoutMs,
    shutdownDelayMs: d.shutdownDelayMs ?? defaultOptions.shutdownDelayMs,
    overCapacity: d.overCapacity ?? defaultOptions.overCapacity,
    retryAfterSeconds: d.retryAfterSeconds ?? defaultOptions.retryAfterSeconds,
    probes: Object.freeze(probes),
    signals: Object.freeze(
      d.signals === false ? [] : ((d.signals ?? ['SIGTERM', 'SIGINT']) as NodeJS.Signals[]),
    ),
    startup: (startup as StartupWork | undefined) ?? null,
    closeTimeoutMs: d.closeTimeoutMs ?? defaultOptions.closeTimeoutMs,
    startupTimeoutMs: d.startupTimeoutMs ?? defaultOptions.startupTimeoutMs,
    exit: exit === false ? null : ((exit as ((code: number) => void) | undefined) ?? exitProcess),
    requestSpans: d.requestSpans ?? defaultOptions.requestSpans,
    inspect: (inspect as InspectionObserver | undefined) ?? null,
  })
}

