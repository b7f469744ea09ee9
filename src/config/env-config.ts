import { invalidEnv } from '../errors.ts'
import { type ListenerAtDrain, listenerAtDrainPolicies, overCapacityPolicies, type OverCapacityPolicy } from '../machine/lifecycle-names.ts'
import { type StreamHandover, streamHandovers } from '../sse/handover.ts'
import { isLoopbackHost } from './loopback-host.ts'
import { redactUrl } from '../redact-secrets.ts'
import { type ReplicaReadyRule, replicaReadyRules } from '../cluster/replica-machine.ts'

/** The reference service's configuration: read from the environment once, validated, frozen. */
export interface ServiceConfig {
  readonly port: number
  readonly host: string
  readonly maxConcurrency: number
  readonly drainTimeoutMs: number
  /**
   * How long before the drain deadline long-lived work is told to hand over (at most `drainTimeoutMs`);
   * `null`: unset, the plugin's default (5000, or the whole drain if that is shorter).
   */
  readonly drainNoticeMs: number | null
  readonly shutdownDelayMs: number
  readonly listenerAtDrain: ListenerAtDrain
  /** When `/stream` hands its streams over: the plugin's `streamHandover`. */
  readonly streamHandover: StreamHandover
  readonly overCapacity: OverCapacityPolicy
  readonly logLevel: LogLevel
  readonly startupMs: number
  /** XState inspector relay (`ws://` or `wss://`); `null`: no inspector. */
  readonly inspectUrl: string | null
  /** Whether the live view's debug routes are served. */
  readonly debugRoutes: boolean
  /** Token the debug routes require; `null`: loopback clients only, allowed only when `host` is loopback. */
  readonly debugToken: string | null
  /** Worker processes (node:cluster); 1: a single process, no primary. `auto`: the CPUs the process may use. */
  readonly workers: number | 'auto'
  /** When a clustered replica is ready: its first worker, or all of them. */
  readonly workersReady: ReplicaReadyRule
  /** Unexpected worker exits within a minute before a clustered replica stops (exit 1). */
  readonly workerMaxRestarts: number
}

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof logLevels)[number]

/** One row per variable: the README's configuration table is checked against this list. */
export const envVariables = {
  PORT: { default: '8000', describe: 'port to listen on; must equal cerebrium.toml `port` and the Dockerfile EXPOSE' },
  HOST: { default: '0.0.0.0', describe: 'address to bind; not a loopback address: LAMEDUCK_DEBUG=1 needs LAMEDUCK_DEBUG_TOKEN' },
  MAX_CONCURRENCY: { default: '1', describe: 'in-flight requests at which /ready reports at_capacity; must equal `replica_concurrency`' },
  DRAIN_TIMEOUT_MS: { default: '30000', describe: 'longest the drain may take before remaining requests are abandoned (exit 1)' },
  DRAIN_NOTICE_MS: { default: '5000', describe: 'how long before the drain deadline streams and long work are told to hand over; at most DRAIN_TIMEOUT_MS (unset: 5000 or DRAIN_TIMEOUT_MS, whichever is smaller)' },
  SHUTDOWN_DELAY_MS: { default: '0', describe: 'not-ready-but-serving time after SIGTERM, before the listener closes (Kubernetes: 5000-10000)' },
  LISTENER_AT_DRAIN: { default: 'keep', describe: '`keep`: the listener stays open until exit so liveness and readiness probes are answered during the drain (Cerebrium may restart a replica whose health check fails), every other new request 503 with `Retry-After`; `close`: new connections are refused at the drain (Kubernetes, which ignores liveness while a pod terminates)' },
  STREAM_HANDOVER: { default: 'at-notice', describe: 'when /stream hands its streams over to another replica: `at-notice` (at DRAIN_NOTICE_MS before the deadline), `at-drain` (as the drain begins) or `finish` (never; the drain waits for them)' },
  OVER_CAPACITY: { default: 'admit', describe: '`admit` serves requests beyond MAX_CONCURRENCY; `reject` answers them 503 with Retry-After' },
  LOG_LEVEL: { default: 'info', describe: 'pino level: fatal, error, warn, info, debug, trace, silent' },
  STARTUP_MS: { default: '0', describe: 'simulated startup work before the service is ready (to watch `starting`)' },
  LAMEDUCK_INSPECT_URL: { default: '', describe: 'XState inspector relay (`ws://host:port`) to stream the lifecycle actor to; empty: off' },
  LAMEDUCK_DEBUG: { default: '0', describe: '`1` serves the live view at /debug/lifecycle (loopback clients only unless LAMEDUCK_DEBUG_TOKEN is set; with HOST not loopback the token is required)' },
  WORKERS: { default: '1', describe: 'worker processes on node:cluster, one replica (docs/cluster.md): 1 runs a single process with no primary; `auto` uses the CPUs the process may use (the smaller of its CPU set and its cgroup quota); at most 256' },
  WORKERS_READY: { default: 'all', describe: 'with WORKERS above 1, when /ready first answers ready: `all` workers serving, or the `first`' },
  WORKER_MAX_RESTARTS: { default: '5', describe: 'with WORKERS above 1, unexpected worker exits within 60 s that are replaced (with backoff); one more stops the replica, exit 1' },
  LAMEDUCK_DEBUG_TOKEN: { default: '', describe: 'token (16+ characters) the live view requires from any client, as `Authorization: Bearer` or `?token=`; empty: loopback clients only, allowed only when HOST is a loopback address' },
} as const

export type EnvVariable = keyof typeof envVariables

// 2^31 - 1: the longest delay a Node timer honours.
const maxTimerMs = 2_147_483_647

export function readEnvConfig(env: NodeJS.ProcessEnv): ServiceConfig {
  const get = (name: EnvVariable): string => env[name] ?? envVariables[name].default
  const host = nonEmpty('HOST', get('HOST'))
  const debugRoutes = oneOf('LAMEDUCK_DEBUG', get('LAMEDUCK_DEBUG'), ['0', '1']) === '1'
  const debugToken = optionalToken('LAMEDUCK_DEBUG_TOKEN', get('LAMEDUCK_DEBUG_TOKEN'))
  // Loopback-only access means nothing once a proxy on the same host forwards outside clients: they
  // arrive from 127.0.0.1, and a plain nginx proxy_pass or HAProxy without `option forwardfor` adds no
  // header that would tell (issue 10). A replica bound beyond loopback must use a token.
  if (debugRoutes && debugToken === null && !isLoopbackHost(host)) {
    throw invalidEnv(
      'LAMEDUCK_DEBUG_TOKEN',
      '',
      `set (16 to 512 printable characters) when LAMEDUCK_DEBUG is "1" and HOST (${JSON.stringify(host)}) is not a loopback address: behind a proxy on the same host every client looks local`,
    )
  }
  const drainTimeoutMs = integer('DRAIN_TIMEOUT_MS', get('DRAIN_TIMEOUT_MS'), 1, maxTimerMs)
  return Object.freeze({
    port: integer('PORT', get('PORT'), 0, 65_535),
    host,
    maxConcurrency: integer('MAX_CONCURRENCY', get('MAX_CONCURRENCY'), 1, 1_000_000),
    drainTimeoutMs,
    drainNoticeMs: drainNotice(env.DRAIN_NOTICE_MS, drainTimeoutMs),
    shutdownDelayMs: integer('SHUTDOWN_DELAY_MS', get('SHUTDOWN_DELAY_MS'), 0, maxTimerMs),
    listenerAtDrain: oneOf('LISTENER_AT_DRAIN', get('LISTENER_AT_DRAIN'), listenerAtDrainPolicies),
    streamHandover: oneOf('STREAM_HANDOVER', get('STREAM_HANDOVER'), streamHandovers),
    overCapacity: oneOf('OVER_CAPACITY', get('OVER_CAPACITY'), overCapacityPolicies),
    logLevel: oneOf('LOG_LEVEL', get('LOG_LEVEL'), logLevels),
    startupMs: integer('STARTUP_MS', get('STARTUP_MS'), 0, maxTimerMs),
    inspectUrl: optionalWebSocketUrl('LAMEDUCK_INSPECT_URL', get('LAMEDUCK_INSPECT_URL')),
    debugRoutes,
    debugToken,
    workers: get('WORKERS') === 'auto' ? 'auto' : integer('WORKERS', get('WORKERS'), 1, 256, 'an integer from 1 to 256, or auto'),
    workersReady: oneOf('WORKERS_READY', get('WORKERS_READY'), replicaReadyRules),
    workerMaxRestarts: integer('WORKER_MAX_RESTARTS', get('WORKER_MAX_RESTARTS'), 0, 1_000),
  })
}

// Digits only: "1e3", " 5", "5ms", "0x10" and "" are mistakes, not numbers to guess at.
function integer(name: EnvVariable, raw: string, min: number, max: number, expected = `an integer from ${min} to ${max}`): number {
  if (!/^(0|[1-9][0-9]*)$/.test(raw)) throw invalidEnv(name, raw, expected)
  const value = Number(raw)
  if (value < min || value > max) throw invalidEnv(name, raw, expected)
  return value
}

// The notice comes before the deadline, so it cannot be longer than the drain. Unset, the plugin's
// default applies, which shrinks to fit: a short DRAIN_TIMEOUT_MS alone stays valid.
function drainNotice(raw: string | undefined, drainTimeoutMs: number): number | null {
  if (raw === undefined) return null
  return integer('DRAIN_NOTICE_MS', raw, 0, drainTimeoutMs, `an integer from 0 to DRAIN_TIMEOUT_MS (${drainTimeoutMs})`)
}

function nonEmpty(name: EnvVariable, raw: string): string {
  if (raw.trim() === '') throw invalidEnv(name, raw, 'a non-empty host name or address')
  return raw
}

function oneOf<T extends string>(name: EnvVariable, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw invalidEnv(name, raw, `one of ${allowed.join(', ')}`)
  return raw as T
}

function optionalWebSocketUrl(name: EnvVariable, raw: string): string | null {
  if (raw === '') return null
  const expected = 'a ws:// or wss:// URL, or empty'
  // The message quotes the value, but never the credentials a URL may carry (issue 19).
  if (!URL.canParse(raw)) throw invalidEnv(name, redactUrl(raw), expected)
  const url = new URL(raw)
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw invalidEnv(name, redactUrl(raw), expected)
  return raw
}

function optionalToken(name: EnvVariable, raw: string): string | null {
  if (raw === '') return null
  // A secret is not echoed back, even a wrong one: say only what is wrong with it.
  if (!/^[\x21-\x7e]{16,512}$/.test(raw)) {
    throw invalidEnv(name, `(hidden, ${raw.length} characters)`, '16 to 512 printable characters without spaces, or empty')
  }
  return raw
}
