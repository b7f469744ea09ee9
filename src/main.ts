// Until the service's own handlers are installed (the plugin does it as it loads), a SIGTERM would
// kill the process by Node's default. Nothing has started yet: stop cleanly, as `interrupted`.
const earlySignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const
const onEarlySignal = (signal: NodeJS.Signals) => {
  // The lifecycle's handler is installed: it decides.
  if (process.listenerCount(signal) > 1) return
  process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), msg: 'lifecycle: stopped', outcome: 'interrupted', signal, exit_code: 0 })}\n`)
  process.exit(0)
}
for (const signal of earlySignals) process.on(signal, onEarlySignal)

const { readEnvConfig } = await import('./config/env-config.ts')
const { LameduckError } = await import('./errors.ts')
const { buildService } = await import('./service/build-service.ts')

// Configuration is read once, here; nothing else reads process.env.
let config
try {
  config = readEnvConfig(process.env)
} catch (error) {
  if (!(error instanceof LameduckError)) throw error
  process.stderr.write(`lameduck: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

const app = buildService(config)
try {
  await app.listen({ port: config.port, host: config.host })
} catch (error) {
  app.log.fatal({ err: error }, 'could not start listening')
  process.exit(1)
}
