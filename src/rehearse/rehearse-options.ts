import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type DeploySettings, readCerebriumSettings, readKubernetesSettings } from './deploy-settings.ts'
import { parseCount, parseDuration } from './duration.ts'
import { RehearseError } from './rehearse-error.ts'

export const platforms = ['cerebrium', 'kubernetes'] as const
export type Platform = (typeof platforms)[number]

/** The kinds of client the load is made of; each kind's losses are reported apart. */
export const loadKinds = ['request', 'keepalive', 'fresh', 'h2', 'sse', 'ws'] as const
export type LoadKind = (typeof loadKinds)[number]

export interface LoadRequest {
  readonly method: string
  readonly path: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | undefined
}

export interface SseLoad {
  readonly path: string
  readonly method: string
  readonly body: string | undefined
  readonly headers: Readonly<Record<string, string>>
  /** Resume a stream ended by `reconnect` on another instance with `Last-Event-ID`, as an EventSource does. */
  readonly resume: boolean
  /** Of the concurrency, how many workers hold SSE streams instead of sending requests. */
  readonly streams: number
  /** Event names that end a stream properly; a stream that ends after another event was cut short. */
  readonly endEvents: readonly string[]
}

export interface WsLoad {
  readonly path: string
  /** WebSocket sessions held open at once, each a client of its own. */
  readonly sessions: number
  /** Messages each session sends (awaiting each echo) before it closes with 1000 and the next one opens. */
  readonly messages: number
  /** Pause between a message's echo and the next message. */
  readonly intervalMs: number
}

/** Clients that hold their own keep-alive connections and pause between requests, so their sockets sit idle at the drain. */
export interface KeepAliveLoad {
  readonly clients: number
  /** Each pause is random, up to this. */
  readonly idleMs: number
}

/** Everything a rehearsal needs, validated once and frozen. */
export interface RehearseOptions {
  readonly command: readonly string[]
  /** The order of this rehearsal (with --runs, of the first). */
  readonly platform: Platform
  /** With --runs, the orders the runs take in turn. */
  readonly platforms: readonly Platform[]
  /** Stops in a row, each with fresh instances. */
  readonly runs: number
  /** Instance A's port (the deployed one); 0: a free port. Instance B always gets a free port. */
  readonly port: number
  /** `null`: TCP check, as a platform does when no readiness endpoint is configured. */
  readonly readyPath: string | null
  readonly healthPath: string | null
  readonly gracePeriodMs: number
  readonly endpointLagMs: number
  readonly probeIntervalMs: number
  readonly startupTimeoutMs: number
  readonly concurrency: number
  readonly durationMs: number
  readonly stopAfterMs: number
  readonly timeoutMs: number
  readonly retryRefused: boolean
  /** Clients come back after a 503's Retry-After (capped at 1 s, 3 times), as clients that honour it do. */
  readonly retryAfter: boolean
  readonly request: LoadRequest
  readonly keepalive: KeepAliveLoad | null
  /** Clients that open a new connection for every request (a connect storm at the stop). */
  readonly fresh: number
  /** Clients over HTTP/2 without TLS (prior knowledge), sharing one connection per instance. */
  readonly h2: number
  readonly sse: SseLoad | null
  readonly ws: WsLoad | null
  readonly json: boolean
  /** Set in each instance's environment over the inherited one: what the deployment file gives the container, then --env. */
  readonly env: Readonly<Record<string, string>>
  /** --env values for one order only (`--env kubernetes:NAME=VALUE`), over `env` in that order's runs. */
  readonly platformEnv: Readonly<Record<Platform, Readonly<Record<string, string>>>>
  /** Deployment files read, and which settings came from them. */
  readonly sources: readonly string[]
}

export const usage = `usage: lameduck rehearse [options] -- <command that starts the service>

Starts two instances of the command (each with its own PORT), routes a steady load to the ready ones,
stops one the way the platform does, and reports what the clients saw.

  --platform cerebrium|kubernetes|both  termination order (default: kubernetes with --kubernetes, else cerebrium);
                         both: with --runs, the runs take the two orders in turn
  --runs N               N stops in a row, each with fresh instances, then a summary of all (default 1)
  --env NAME=VALUE       set in both instances' environment (over the file's); kubernetes:NAME=VALUE or
                         cerebrium:NAME=VALUE for that order's runs only (repeatable)
  --cerebrium FILE       read port, readycheck/healthcheck endpoints, response_grace_period (default: ./cerebrium.toml if present)
  --kubernetes FILE      read them from a Deployment manifest instead (and its container's env values and probe period)
  --port N               port of the instance that is stopped (default: the file's, else a free port; 0: a free port)
  --ready-path PATH      readiness check polled before routing ('' for a TCP check; default: the file's, else TCP)
  --health-path PATH     liveness check watched during the drain ('' for none; default: the file's, else none)
  --grace-period T       SIGTERM to SIGKILL (bare number: seconds; default: the file's, else 30s)
  --endpoint-lag T       kubernetes: SIGTERM to endpoint removal (default 1000ms)
  --probe-interval T     readiness and liveness poll period once ready (default: the manifest's periodSeconds, else 1000ms)
  --startup-timeout T    longest wait for each instance's first ready answer (default 60s)
  --concurrency N        concurrent closed-loop clients, the SSE streams among them (default 8; 0: none, with other kinds)
  --duration T           how long the load runs at least (default 10s); it also covers the whole stop
  --stop-after T         load time before the termination starts (default: a third of --duration)
  --timeout T            per-request timeout (default 30s)
  --retry-refused on|off send a request refused before accept to another ready instance, as gateways do (default on;
                         off: as a bare Kubernetes Service, the client gets the refusal)
  --retry-after on|off   clients come back after a 503's Retry-After (up to 1 s, 3 times), through the router
                         (default on; off: a 503 with Retry-After is the client's final answer)
  --method M --path P --body B --header 'name: value'   the request the load sends (default GET /)
  --keepalive N          N more clients with keep-alive connections of their own, pausing between requests
  --keepalive-idle T     longest pause of a --keepalive client, random up to it (default 200ms)
  --fresh N              N more clients that open a new connection for every request (Connection: close)
  --h2 N                 N more clients over HTTP/2 without TLS (prior knowledge), one connection per instance
  --sse PATH             also hold Server-Sent Events streams open on PATH
  --sse-streams N        how many of the concurrent clients hold streams (default 1 with --sse)
  --sse-method M --sse-body B   the streams' request (default GET, no body; a body is sent as JSON)
  --sse-end NAMES        event names that end a stream properly, comma-separated (default done,reconnect)
  --sse-resume on|off    resume a stream ended by reconnect with Last-Event-ID on another instance, and count it
                         lost unless its events go on with no gap and no duplicate (default on)
  --ws PATH              N more clients holding WebSocket sessions on PATH that send messages and await echoes;
                         a session closed 1012 or 1001 reconnects (through the router) and goes on
  --ws-sessions N        how many (default 1 with --ws)
  --ws-messages N        messages per session before it closes with 1000 (default 20)
  --ws-interval T        pause between an echo and the next message (default 50ms)
  --json                 print the report as JSON on stdout
Bare time values are milliseconds unless noted; 500ms and 2s work everywhere.
Exit status: 0 nothing lost and the stop ended within the grace period (in every run); 1 otherwise; 2 the
rehearsal could not run.`

/** Parses `rehearse`'s arguments (the verb already taken off), reading a deployment file when one is named or present. */
export function parseRehearseOptions(args: readonly string[], cwd = '.'): RehearseOptions {
  const split = args.indexOf('--')
  const command = split === -1 ? [] : args.slice(split + 1)
  let values: Record<string, string | boolean | string[] | undefined>
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({
      args: split === -1 ? [...args] : args.slice(0, split),
      allowPositionals: true,
      options: {
        platform: { type: 'string' },
        cerebrium: { type: 'string' },
        kubernetes: { type: 'string' },
        port: { type: 'string' },
        'ready-path': { type: 'string' },
        'health-path': { type: 'string' },
        'grace-period': { type: 'string' },
        'endpoint-lag': { type: 'string' },
        'probe-interval': { type: 'string' },
        'startup-timeout': { type: 'string' },
        concurrency: { type: 'string' },
        duration: { type: 'string' },
        'stop-after': { type: 'string' },
        timeout: { type: 'string' },
        'retry-refused': { type: 'string' },
        'retry-after': { type: 'string' },
        method: { type: 'string' },
        path: { type: 'string' },
        body: { type: 'string' },
        header: { type: 'string', multiple: true },
        runs: { type: 'string' },
        env: { type: 'string', multiple: true },
        keepalive: { type: 'string' },
        'keepalive-idle': { type: 'string' },
        fresh: { type: 'string' },
        h2: { type: 'string' },
        sse: { type: 'string' },
        'sse-streams': { type: 'string' },
        'sse-method': { type: 'string' },
        'sse-body': { type: 'string' },
        'sse-end': { type: 'string' },
        'sse-resume': { type: 'string' },
        ws: { type: 'string' },
        'ws-sessions': { type: 'string' },
        'ws-messages': { type: 'string' },
        'ws-interval': { type: 'string' },
        json: { type: 'boolean' },
      },
    }))
  } catch (error) {
    throw new RehearseError((error as Error).message)
  }
  if (positionals.length > 0) throw new RehearseError(`unexpected argument ${JSON.stringify(positionals[0])}: put the service's command after --`)
  if (command.length === 0) throw new RehearseError('no command: put the command that starts the service after --, e.g. -- node server.js')
  const text = (name: string) => values[name] as string | undefined

  if (text('cerebrium') !== undefined && text('kubernetes') !== undefined) throw new RehearseError('--cerebrium and --kubernetes: give one deployment file, not both')
  let settings: DeploySettings | undefined
  if (text('kubernetes') !== undefined) settings = readKubernetesSettings(text('kubernetes')!)
  else if (text('cerebrium') !== undefined) settings = readCerebriumSettings(text('cerebrium')!)
  else if (existsSync(`${cwd}/cerebrium.toml`)) settings = readCerebriumSettings(`${cwd}/cerebrium.toml`)

  const platformText = text('platform') ?? (text('kubernetes') !== undefined ? 'kubernetes' : 'cerebrium')
  if (platformText !== 'both' && !(platforms as readonly string[]).includes(platformText)) {
    throw new RehearseError(`--platform must be one of ${platforms.join(', ')}, both; received ${JSON.stringify(platformText)}`)
  }
  const orders: readonly Platform[] = platformText === 'both' ? platforms : [platformText as Platform]
  const runs = parseCount('runs', text('runs') ?? '1', 1, 1_000_000)
  if (orders.length > 1 && runs < 2) throw new RehearseError('--platform both takes the orders in turn over --runs: give --runs 2 or more')
  const environment = envFlags((values['env'] as string[] | undefined) ?? [])

  const path = (flag: string, fromFile: string | null | undefined): string | null => {
    const value = text(flag)
    if (value === undefined) return fromFile ?? null
    if (value === '') return null
    if (!value.startsWith('/')) throw new RehearseError(`--${flag} must be a path starting with "/" (or '' for none); received ${JSON.stringify(value)}`)
    return value
  }

  const durationMs = parseDuration('duration', text('duration') ?? '10s', 'ms', 1)
  // 0 leaves the closed-loop requests out, for a load of other kinds only (--h2 against an HTTP/2-only service).
  const concurrency = parseCount('concurrency', text('concurrency') ?? '8', 0, 10_000)
  const sse = sseLoad(text, concurrency)
  const ws = wsLoad(text)
  const keepaliveClients = parseCount('keepalive', text('keepalive') ?? '0', 0, 10_000)
  if (keepaliveClients === 0 && text('keepalive-idle') !== undefined) throw new RehearseError('--keepalive-idle needs --keepalive N')
  if (concurrency === 0 && !ws && !keepaliveClients && !Number(text('fresh') ?? 0) && !Number(text('h2') ?? 0)) {
    throw new RehearseError('--concurrency 0 leaves no client: add --keepalive, --fresh, --h2 or --ws clients, or raise it')
  }
  const method = (text('method') ?? 'GET').toUpperCase()
  if (!/^[A-Z]+$/.test(method)) throw new RehearseError(`--method must be an HTTP method such as GET or POST; received ${JSON.stringify(text('method'))}`)

  return Object.freeze({
    command,
    platform: orders[0]!,
    platforms: Object.freeze(orders),
    runs,
    port: text('port') !== undefined ? parseCount('port', text('port')!, 0, 65_535) : (settings?.port ?? 0),
    readyPath: path('ready-path', settings?.readyPath),
    healthPath: path('health-path', settings?.healthPath),
    gracePeriodMs:
      text('grace-period') !== undefined ? parseDuration('grace-period', text('grace-period')!, 's') : Math.round((settings?.gracePeriodSeconds ?? 30) * 1000),
    endpointLagMs: parseDuration('endpoint-lag', text('endpoint-lag') ?? '1000', 'ms'),
    probeIntervalMs:
      text('probe-interval') !== undefined ? parseDuration('probe-interval', text('probe-interval')!, 'ms', 10) : Math.round((settings?.probeIntervalSeconds ?? 1) * 1000),
    startupTimeoutMs: parseDuration('startup-timeout', text('startup-timeout') ?? '60s', 'ms', 1),
    concurrency,
    durationMs,
    stopAfterMs: text('stop-after') !== undefined ? parseDuration('stop-after', text('stop-after')!, 'ms') : Math.round(durationMs / 3),
    timeoutMs: parseDuration('timeout', text('timeout') ?? '30s', 'ms', 1),
    retryRefused: onOff('retry-refused', text('retry-refused') ?? 'on'),
    retryAfter: onOff('retry-after', text('retry-after') ?? 'on'),
    request: Object.freeze({
      method,
      path: path('path', '/') ?? '/',
      headers: Object.freeze(headers((values['header'] as string[] | undefined) ?? [], text('body') !== undefined)),
      body: text('body'),
    }),
    keepalive: keepaliveClients > 0 ? Object.freeze({ clients: keepaliveClients, idleMs: parseDuration('keepalive-idle', text('keepalive-idle') ?? '200', 'ms') }) : null,
    fresh: parseCount('fresh', text('fresh') ?? '0', 0, 10_000),
    h2: parseCount('h2', text('h2') ?? '0', 0, 10_000),
    sse,
    ws,
    json: values['json'] === true,
    env: Object.freeze({ ...Object.fromEntries(settings?.env ?? []), ...environment.all }),
    platformEnv: Object.freeze({ cerebrium: Object.freeze(environment.cerebrium), kubernetes: Object.freeze(environment.kubernetes) }),
    sources: settings ? [settings.file] : [],
  })
}

function onOff(flag: string, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new RehearseError(`--${flag} must be on or off; received ${JSON.stringify(value)}`)
  return value === 'on'
}

function headers(lines: readonly string[], hasBody: boolean): Record<string, string> {
  const result: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    if (colon <= 0 || !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name)) throw new RehearseError(`--header must be "name: value"; received ${JSON.stringify(line)}`)
    result[name] = line.slice(colon + 1).trim()
  }
  // A body without a type is almost always JSON for the services this is for; say so unless told otherwise.
  if (hasBody && result['content-type'] === undefined) result['content-type'] = 'application/json'
  return result
}

function sseLoad(text: (name: string) => string | undefined, concurrency: number): SseLoad | null {
  const path = text('sse')
  if (path === undefined) {
    const stray = ['sse-streams', 'sse-end', 'sse-method', 'sse-body', 'sse-resume'].find((flag) => text(flag) !== undefined)
    if (stray) throw new RehearseError(`--${stray} needs --sse PATH`)
    return null
  }
  if (!path.startsWith('/')) throw new RehearseError(`--sse must be a path starting with "/"; received ${JSON.stringify(path)}`)
  const streams = text('sse-streams')
  const end = text('sse-end')
  const count = streams === undefined ? 1 : parseCount('sse-streams', streams, 1, concurrency)
  const endEvents = (end ?? 'done,reconnect').split(',').map((e) => e.trim()).filter((e) => e !== '')
  if (endEvents.length === 0) throw new RehearseError(`--sse-end must name at least one event; received ${JSON.stringify(end)}`)
  const method = (text('sse-method') ?? 'GET').toUpperCase()
  if (!/^[A-Z]+$/.test(method)) throw new RehearseError(`--sse-method must be an HTTP method such as GET or POST; received ${JSON.stringify(text('sse-method'))}`)
  const body = text('sse-body')
  return Object.freeze({
    path,
    method,
    body,
    headers: Object.freeze({ accept: 'text/event-stream', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }),
    resume: onOff('sse-resume', text('sse-resume') ?? 'on'),
    streams: count,
    endEvents: Object.freeze(endEvents),
  })
}

function wsLoad(text: (name: string) => string | undefined): WsLoad | null {
  const path = text('ws')
  if (path === undefined) {
    const stray = ['ws-sessions', 'ws-messages', 'ws-interval'].find((flag) => text(flag) !== undefined)
    if (stray) throw new RehearseError(`--${stray} needs --ws PATH`)
    return null
  }
  if (!path.startsWith('/')) throw new RehearseError(`--ws must be a path starting with "/"; received ${JSON.stringify(path)}`)
  return Object.freeze({
    path,
    sessions: parseCount('ws-sessions', text('ws-sessions') ?? '1', 1, 10_000),
    messages: parseCount('ws-messages', text('ws-messages') ?? '20', 1, 1_000_000),
    intervalMs: parseDuration('ws-interval', text('ws-interval') ?? '50', 'ms'),
  })
}

interface EnvFlags {
  readonly all: Record<string, string>
  readonly cerebrium: Record<string, string>
  readonly kubernetes: Record<string, string>
}

/** `--env NAME=VALUE`, or `--env kubernetes:NAME=VALUE` for one order's runs. */
function envFlags(lines: readonly string[]): EnvFlags {
  const result: EnvFlags = { all: {}, cerebrium: {}, kubernetes: {} }
  for (const line of lines) {
    const match = /^(?:(cerebrium|kubernetes):)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(line)
    if (!match) throw new RehearseError(`--env must be NAME=VALUE, or cerebrium:NAME=VALUE or kubernetes:NAME=VALUE for one order; received ${JSON.stringify(line)}`)
    const scope = (match[1] ?? 'all') as keyof EnvFlags
    result[scope][match[2]!] = match[3]!
  }
  return result
}
