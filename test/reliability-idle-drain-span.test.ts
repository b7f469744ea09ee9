import { afterEach, expect, it } from 'vitest'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { type InMemoryTelemetry, installInMemoryTelemetry } from './support/otlp-in-memory.ts'

let telemetry: InMemoryTelemetry | undefined
afterEach(async () => telemetry?.uninstall())

// Regression: with nothing in flight, running -> draining -> stopped happens in one macrostep,
// so subscribers see only `stopped`; the drain span was started on `draining` and never was.
// An idle replica's SIGTERM left no `lameduck.drain` span at all (and the telemetry test for a
// timed-out drain flaked whenever its request had not arrived before the signal).
it('an idle replica that gets SIGTERM still exports a lameduck.drain span, outcome drained', async () => {
  telemetry = installInMemoryTelemetry()
  const app = buildService(readEnvConfig({ LOG_LEVEL: 'silent' }), { signals: false, exit: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  app.lameduck.shutdown('SIGTERM')
  await app.lameduck.finished()
  const drains = telemetry.spans().filter((s) => s.name === 'lameduck.drain')
  expect(drains).toHaveLength(1)
  expect(drains[0]!.attributes).toMatchObject({
    'lameduck.drain.signal': 'SIGTERM',
    'lameduck.drain.outcome': 'drained',
    'lameduck.drain.in_flight_at_signal': 0,
    'lameduck.drain.abandoned': 0,
  })
  expect(drains[0]!.events.map((e) => e.name)).toEqual(['signal.received', 'stopped'])
})
