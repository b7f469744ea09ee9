// First, before anything allocates much: keeps process.nextTick on V8's fast path (src/tick-shape-anchor.ts).
import './tick-shape-anchor.ts'
import { listenEarly } from './process/early-signals.ts'

// Until the service's own handlers are installed (the plugin does it as it loads), a SIGTERM would
// kill the process by Node's default (src/process/early-signals.ts).
const stopListeningEarly = listenEarly(['SIGTERM', 'SIGINT', 'SIGHUP'])

const { readEnvConfig } = await import('./config/env-config.ts')
const { LameduckError } = await import('./errors.ts')

// Configuration is read once, here; nothing else reads process.env.
let config
try {
  config = readEnvConfig(process.env)
} catch (error) {
  if (!(error instanceof LameduckError)) throw error
  process.stderr.write(`lameduck: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

const { default: cluster } = await import('node:cluster')
const { autoWorkerCount } = await import('./cluster/cpu-quota.ts')
const workers = config.workers === 'auto' ? autoWorkerCount() : config.workers

if (cluster.isPrimary && workers > 1) {
  // The replica's primary: it forks the workers (this same entry) and serves nothing itself (docs/cluster.md).
  const { startReplica } = await import('./cluster/replica-primary.ts')
  // The replica's machine goes to the inspector too, beside each worker's lifecycle (docs/cluster.md).
  const inspectUrl = config.inspectUrl
  const inspector = inspectUrl
    ? await Promise.all([import('./inspect/lifecycle-inspector.ts'), import('./cluster/primary-log.ts')]).then(([{ createLifecycleInspector }, { jsonLinesLog }]) =>
        createLifecycleInspector({ url: inspectUrl, sessionPrefix: 'primary', log: jsonLinesLog() }),
      )
    : null
  startReplica({
    workers,
    readyWhen: config.workersReady,
    maxRestarts: config.workerMaxRestarts,
    // Its last events are sent before the exit (the stop is bounded to about half a second); the workers are gone.
    ...(inspector ? { inspect: inspector.inspect, exit: (code: number) => void inspector.stop().then(() => process.exit(code)) } : {}),
  })
  stopListeningEarly()
} else {
  const { buildService } = await import('./service/build-service.ts')
  const app = buildService(config)
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    app.log.fatal({ err: error }, 'could not start listening')
    process.exit(1)
  }
  // Listening: the lifecycle's handlers were installed as the plugin loaded, and they decide from now on.
  stopListeningEarly()
}
