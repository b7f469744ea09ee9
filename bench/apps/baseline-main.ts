import { readEnvConfig } from '../../src/config/env-config.ts'
import { buildBaselineService } from './baseline-service.ts'

// The baseline's entry: src/main.ts with buildBaselineService, and the shutdown most
// plain Fastify services have: close() on SIGTERM (so its lifecycle figures are those of Fastify alone).
const config = readEnvConfig(process.env)
const app = buildBaselineService(config)
process.once('SIGTERM', () => void app.close())
await app.listen({ port: config.port, host: config.host })
