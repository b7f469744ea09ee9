import { readEnvConfig } from '../../src/config/env-config.ts'
import { buildService } from '../../src/service/build-service.ts'
import { handWrittenRawStreamRoute, handWrittenStreamRoute } from './hand-written-route.ts'

/**
 * The reference service (its `GET /stream` on lameduck's event-stream API) with the same stream written by
 * hand beside it as `GET /hand/stream` (a Readable piped in) and `GET /hand-raw/stream` (written to `reply.raw`): one process, so both routes share the process's state, its JIT and
 * its neighbours on the machine. Usage: PORT=... node bench/sse-api/sse-api-server.ts
 */
const config = readEnvConfig({ ...process.env, LOG_LEVEL: 'warn', MAX_CONCURRENCY: '256', HOST: '127.0.0.1' })
const app = buildService(config)
app.register(async (routes) => handWrittenStreamRoute(routes), { prefix: '/hand' })
app.register(async (routes) => handWrittenRawStreamRoute(routes), { prefix: '/hand-raw' })
await app.listen({ port: config.port, host: config.host })
