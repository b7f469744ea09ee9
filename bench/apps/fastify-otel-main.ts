import { readEnvConfig } from '../../src/config/env-config.ts'
import { buildService } from '../../src/service/build-service.ts'

// Variant 5's service: the reference service with lameduck's own request spans off
// (`requestSpans: false`, what the README says to do when the application traces requests
// itself), so requests are traced by @fastify/otel and the HTTP instrumentation alone.
const config = readEnvConfig(process.env)
const app = buildService(config, { requestSpans: false })
await app.listen({ port: config.port, host: config.host })
