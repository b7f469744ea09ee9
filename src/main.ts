// First, before anything allocates much: keeps process.nextTick on V8's fast path (src/tick-shape-anchor.ts).
import './tick-shape-anchor.ts'
import { readEnvConfig } from './config/env-config.ts'
import { LameduckError } from './errors.ts'
import { buildService } from './service/build-service.ts'

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
