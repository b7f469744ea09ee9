import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { LaunchSpec } from './server-process.ts'
import { imageDir, shippedCommand } from './shipped-image.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const at = (path: string) => fileURLToPath(new URL(`../${path}`, import.meta.url))

/**
 * Every Node variant runs JavaScript compiled by tsc (`tsc -p bench/tsconfig.json`, the same
 * compiler settings as dist/), as in production: running .ts through Node's type stripping
 * costs memory per file loaded, which would charge lameduck (more files) for the stripper.
 */
export const buildDir = '.tmp/bench-build'
const built = (path: string) => `${buildDir}/${path}`

/** The Python the seed's design runs on: Debian's, where python3-fastapi and python3-uvicorn install. */
const debianPython = '/usr/bin/python3'

/** The same for every variant; LOG_LEVEL warn so that no variant's logger dominates (nothing is logged per request). */
export const commonEnv = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
  MAX_CONCURRENCY: '1',
  OVER_CAPACITY: 'admit',
  DRAIN_TIMEOUT_MS: '30000',
} as const

export interface LaunchContext {
  readonly port: number
  /** The local OTLP sink (tracing variants export there). */
  readonly sinkUrl: string
  /** For the /ready-after-SIGTERM trial: the not-ready-but-serving delay, where the variant has one. */
  readonly shutdownDelayMs: number
}

export interface Variant {
  readonly id: string
  readonly label: string
  /**
   * `main`: lameduck's own cost (settled servers, against the baseline). `shipped`: what the image runs against
   * bare Fastify, nothing equalised. `design`: only for the lifecycle-design comparison.
   */
  readonly role: 'main' | 'shipped' | 'design'
  /** Readiness probe used for start-to-ready. */
  readonly readyPath: string
  /** Whether the variant has a not-ready-but-serving delay (SHUTDOWN_DELAY_MS). */
  readonly hasShutdownDelay: boolean
  readonly tracing: 'off' | '100%' | '10%' | '@fastify/otel 100%'
  /**
   * Whether the load-round server runs one full GC while idle before its warm-up (bench/apps/settle-heap.ts):
   * the settled variants measure lameduck's own cost; "bare" and the "as shipped" ones run as a user runs them.
   */
  readonly settles: boolean
  /** The variant its throughput and p99 ratios are taken against. */
  readonly comparedWith: 'baseline' | 'bare'
  /** Why it cannot run here, or null. */
  unavailable(): string | null
  launch(context: LaunchContext): LaunchSpec
}

// Extra V8/Node flags for every Node variant, e.g. BENCH_NODE_FLAGS="--max-semi-space-size=16 --min-semi-space-size=16"
// to take V8's adaptive young-generation sizing out of a comparison (bench/findings.md). Default: none.
const nodeFlags = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)

const node = (args: string[], env: Record<string, string>, context: LaunchContext): LaunchSpec => ({
  command: process.execPath,
  args: [...nodeFlags, ...args],
  env: { ...commonEnv, ...env, PORT: String(context.port) },
  cwd: root,
})

// Standard OpenTelemetry variables: OTLP/HTTP protobuf to the sink, traces only.
const otlpEnv = (context: LaunchContext, sampler: string, samplerArg?: string): Record<string, string> => ({
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_METRICS_EXPORTER: 'none',
  OTEL_LOGS_EXPORTER: 'none',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_EXPORTER_OTLP_ENDPOINT: context.sinkUrl,
  OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
  OTEL_SERVICE_NAME: 'lameduck-bench',
  OTEL_TRACES_SAMPLER: sampler,
  ...(samplerArg === undefined ? {} : { OTEL_TRACES_SAMPLER_ARG: samplerArg }),
})

const lameduckTelemetryMissing = (): string | null =>
  notBuilt() ??
  (existsSync(at('src/telemetry/register.ts'))
    ? null
    : 'lameduck tracing has not landed on this branch yet (no src/telemetry/register.ts): run again after merging it')

const delayEnv = (context: LaunchContext) => ({ SHUTDOWN_DELAY_MS: String(context.shutdownDelayMs) })

// lameduck's instrumentation entry, loaded before the service as its docs say.
const lameduckTraced = (c: LaunchContext, env: Record<string, string>) =>
  node(['--import', `./${built('src/telemetry/register.js')}`, built('src/main.js')], { ...delayEnv(c), ...env }, c)

export const variants: readonly Variant[] = [
  {
    id: 'baseline',
    label: '1 Fastify, no lameduck (baseline)',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: false,
    tracing: 'off',
    settles: true,
    comparedWith: 'baseline',
    unavailable: notBuilt,
    launch: (c) => node([built('bench/apps/baseline-main.js')], {}, c),
  },
  {
    id: 'lameduck',
    label: '2 lameduck, tracing off',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: 'off',
    settles: true,
    comparedWith: 'baseline',
    unavailable: notBuilt,
    launch: (c) => node([built('src/main.js')], delayEnv(c), c),
  },
  {
    id: 'image-default',
    label: '2b lameduck through the telemetry entry (tsc build), no endpoint',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: 'off',
    settles: true,
    comparedWith: 'baseline',
    unavailable: lameduckTelemetryMissing,
    // `node --import ./dist/telemetry/register.js dist/main.js` on the tsc build, settled: the entry's own cost (inert
    // without an endpoint). What the image runs is variant S (the bundle, the Dockerfile's CMD exactly).
    launch: (c) => lameduckTraced(c, {}),
  },
  {
    id: 'traced-100',
    label: '3 lameduck, tracing 100%',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: '100%',
    settles: true,
    comparedWith: 'baseline',
    unavailable: lameduckTelemetryMissing,
    launch: (c) => lameduckTraced(c, otlpEnv(c, 'always_on')),
  },
  {
    id: 'traced-10',
    label: '4 lameduck, tracing parentbased_traceidratio 0.1',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: '10%',
    settles: true,
    comparedWith: 'baseline',
    unavailable: lameduckTelemetryMissing,
    launch: (c) => lameduckTraced(c, otlpEnv(c, 'parentbased_traceidratio', '0.1')),
  },
  {
    id: 'fastify-otel',
    label: '5 lameduck + @fastify/otel + HTTP instrumentation, 100%',
    role: 'main',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: '@fastify/otel 100%',
    settles: true,
    comparedWith: 'baseline',
    unavailable: () => (existsSync(at('node_modules/@fastify/otel')) ? null : '@fastify/otel is not installed (npm ci)'),
    launch: (c) =>
      node(['--import', `./${built('bench/apps/fastify-otel-preload.js')}`, built('bench/apps/fastify-otel-main.js')], { ...delayEnv(c), ...otlpEnv(c, 'always_on') }, c),
  },
  {
    id: 'seed-python',
    label: "6 the seed's design: FastAPI + uvicorn",
    role: 'main',
    // The seed's /ready counts itself: at max_concurrency 1 it is never 200 (platform notes, defect 1).
    readyPath: '/health',
    hasShutdownDelay: false,
    tracing: 'off',
    settles: false,
    comparedWith: 'baseline',
    unavailable: pythonMissing,
    launch: (c) => ({
      command: debianPython,
      args: ['-m', 'uvicorn', 'main:app', '--host', '127.0.0.1', '--port', String(c.port), '--log-level', 'warning', '--no-access-log'],
      env: { MAX_CONCURRENCY: commonEnv.MAX_CONCURRENCY },
      cwd: at('bench/seed-python'),
    }),
  },
  {
    id: 'bare',
    label: 'B bare Fastify: the baseline app started as is (no settle GC)',
    role: 'shipped',
    readyPath: '/ready',
    hasShutdownDelay: false,
    tracing: 'off',
    settles: false,
    comparedWith: 'bare',
    unavailable: notBuilt,
    launch: (c) => node([built('bench/apps/baseline-main.js')], {}, c),
  },
  {
    id: 'shipped',
    label: "S lameduck as shipped: the Dockerfile's CMD exactly, no endpoint",
    role: 'shipped',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: 'off',
    settles: false,
    comparedWith: 'bare',
    unavailable: imageMissing,
    launch: (c) => shipped(c, {}),
  },
  {
    id: 'shipped-traced',
    label: "ST lameduck as shipped, tracing 100%: the Dockerfile's CMD with an OTLP endpoint",
    role: 'shipped',
    readyPath: '/ready',
    hasShutdownDelay: true,
    tracing: '100%',
    settles: false,
    comparedWith: 'bare',
    unavailable: imageMissing,
    launch: (c) => shipped(c, otlpEnv(c, 'always_on')),
  },
  {
    id: 'naive',
    label: 'baseline + naive lifecycle (2 XState events + matches() per request)',
    role: 'design',
    readyPath: '/ready',
    hasShutdownDelay: false,
    tracing: 'off',
    settles: true,
    comparedWith: 'baseline',
    unavailable: notBuilt,
    launch: (c) => node([built('bench/apps/naive-lifecycle-main.js')], {}, c),
  },
]

// The Dockerfile's CMD exactly (BENCH_NODE_FLAGS left out): its flags, its entry, its ENV under the benchmark's settings.
const shipped = (c: LaunchContext, env: Record<string, string>): LaunchSpec => {
  const cmd = shippedCommand()
  return { command: process.execPath, args: cmd.args, env: { ...cmd.env, ...commonEnv, ...delayEnv(c), ...env, PORT: String(c.port) }, cwd: cmd.cwd }
}

function imageMissing(): string | null {
  return existsSync(at(`${imageDir}/dist/main.js`)) ? null : `the image's dist/ is not built: npm run bench builds it (bench/shipped-image.ts)`
}

function notBuilt(): string | null {
  return existsSync(at(built('src/main.js'))) ? null : `not compiled: run tsc -p bench/tsconfig.json (npm run bench does)`
}

let pythonChecked: string | null | undefined
function pythonMissing(): string | null {
  if (pythonChecked !== undefined) return pythonChecked
  const check = spawnSync(debianPython, ['-c', 'import fastapi, uvicorn; print(fastapi.__version__, uvicorn.__version__)'], {
    encoding: 'utf8',
  })
  pythonChecked =
    check.status === 0
      ? null
      : `FastAPI/uvicorn not importable by ${debianPython} (Debian: apt-get install python3-fastapi python3-uvicorn)`
  return pythonChecked
}

/** FastAPI and uvicorn versions, for the report. */
export function pythonVersions(): string | null {
  const check = spawnSync(debianPython, ['-c', 'import sys, fastapi, uvicorn; print(sys.version.split()[0], fastapi.__version__, uvicorn.__version__)'], {
    encoding: 'utf8',
  })
  if (check.status !== 0) return null
  const [python, fastapi, uvicorn] = check.stdout.trim().split(' ')
  return `Python ${python}, FastAPI ${fastapi}, uvicorn ${uvicorn}`
}
