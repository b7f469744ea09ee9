import type { AddressInfo } from 'node:net'
import { ROOT_CONTEXT, propagation, trace, TraceFlags } from '@opentelemetry/api'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { type InMemoryTelemetry, installInMemoryTelemetry } from './support/otlp-in-memory.ts'
import { findLeak } from './support/reliability-leaks.ts'

let telemetry: InMemoryTelemetry
let app: FastifyInstance
let origin: string

// Tracing on: every request's span hook parses the propagation headers the client sent.
beforeAll(async () => {
  telemetry = installInMemoryTelemetry()
  app = buildService(readEnvConfig({ LOG_LEVEL: 'silent', MAX_CONCURRENCY: '64' }), { signals: false, exit: false })
  await app.listen({ port: 0, host: '127.0.0.1' })
  origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
})
afterAll(async () => {
  app.lameduck.shutdown('SIGTERM')
  await app.lameduck.finished()
  await telemetry.uninstall()
})

it('hostile traceparent, tracestate and baggage headers: every request still 200, one span each unless the parent said not sampled, never a 5xx', async () => {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`))
  const traceparent = fc.oneof(
    fc.tuple(hex(2), hex(32), hex(16), hex(2)).map((parts) => parts.join('-')),
    fc.constantFrom('00-00000000000000000000000000000000-0000000000000000-01', 'ff-' + 'a'.repeat(32) + '-' + 'b'.repeat(16) + '-01', '00--', '-', ''),
    fc.stringMatching(/^[\x20-\x7e]{0,120}$/),
  )
  const free = fc.stringMatching(/^[\x20-\x7e]{0,300}$/)
  const before = telemetry.spans().filter((s) => s.name === 'POST /hello').length
  let sent = 0
  await fc.assert(
    fc.asyncProperty(traceparent, free, free, async (tp, ts, baggage) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', traceparent: tp, tracestate: ts, baggage }
      const response = await fetch(`${origin}/hello`, { method: 'POST', headers, body: '{"name":"t"}' })
      // A well-formed parent that says "not sampled" is obeyed (parent-based sampling): no span expected.
      const parent = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, headers))
      if (!(parent && (parent.traceFlags & TraceFlags.SAMPLED) === 0)) sent++
      const text = await response.text()
      expect(response.status, text).toBe(200)
      expect(findLeak(text)).toBeNull()
    }),
    { numRuns: 300 },
  )
  // A span ends on the response's close, which can come just after the client has read it.
  const traced = () => telemetry.spans().filter((s) => s.name === 'POST /hello').length - before
  for (const deadline = Date.now() + 2_000; traced() < sent && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10))
  expect(traced()).toBe(sent)
  expect(app.lameduck.readiness()).toMatchObject({ status: 'ready', activeRequests: 0 })
})
