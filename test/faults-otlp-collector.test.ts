import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ChildService, repoDir } from './support/reliability-child.ts'

/** A collector that misbehaves in one way, counting the exports it was sent. */
async function brokenCollector(mode: 'http-500' | 'reset'): Promise<{ endpoint: string; attempts: () => number; close: () => Promise<void> }> {
  let attempts = 0
  const server: Server = createServer((req, res) => {
    attempts++
    if (mode === 'reset') {
      req.socket.destroy()
      return
    }
    req.resume()
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'application/json' })
      res.end('{"code":13,"message":"internal error"}')
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    attempts: () => attempts,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

let child: ChildService | undefined
let collector: Awaited<ReturnType<typeof brokenCollector>> | undefined
afterEach(async () => {
  await child?.stop()
  await collector?.close()
  child = undefined
  collector = undefined
})

const hello = (origin: string, workMs: number) =>
  fetch(`${origin}/hello`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'otel', work_ms: workMs }),
  })

// The dead and the slow collector are in test/telemetry-e2e.test.ts; these are the other two ways to fail.
describe.each(['http-500', 'reset'] as const)('an OTLP collector that answers %s', (mode) => {
  it('costs requests nothing, the drain still finishes the work in flight, and the exit stays bounded', async () => {
    collector = await brokenCollector(mode)
    child = new ChildService(
      `${repoDir}src/main.ts`,
      { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '200', MAX_CONCURRENCY: '16' },
      ['--import', `${repoDir}src/telemetry/register.ts`],
    )
    const service = child
    await service.listening()
    await service.waitForPhase('running')

    const began = Date.now()
    const answers = await Promise.all(Array.from({ length: 40 }, () => hello(service.origin, 0)))
    const requestsMs = Date.now() - began
    for (const answer of answers) expect(answer.status).toBe(200)
    expect(requestsMs).toBeLessThan(5_000)

    const inFlight = hello(service.origin, 800)
    await new Promise((resolve) => setTimeout(resolve, 300))
    const signalled = Date.now()
    service.signal('SIGTERM')
    const survivor = await inFlight
    expect(survivor.status).toBe(200)
    const exit = await service.exit()
    expect(exit.code).toBe(0)
    // The drain (about 0.5 s) plus at most one bounded final flush against the broken collector.
    expect(Date.now() - signalled).toBeLessThan(5_000)
    expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'drained', in_flight: 0 })

    // It really tried, and said so once rather than once per failure.
    expect(collector.attempts()).toBeGreaterThan(0)
    expect(service.logs.filter((line) => String(line.msg).startsWith('telemetry: export'))).toHaveLength(1)
    expect(service.stderr).not.toMatch(/Unhandled|triggerUncaughtException/)
  })
})
