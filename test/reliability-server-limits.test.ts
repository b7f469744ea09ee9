import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { serverLimits } from '../src/service/server-limits.ts'
import { findLeak, revealingHeaders } from './support/reliability-leaks.ts'
import { rawExchange } from './support/reliability-raw-http.ts'
import { type RunningService, startService } from './support/reliability-service.ts'

describe('server limits of the reference service', () => {
  // Regression: Fastify 5 sets requestTimeout to 0, so a stalled body held its socket and
  // its in-flight slot until the drain deadline (see test/hostile-raw-tcp.test.ts for the cut).
  it('has a request timeout, a headers timeout shorter than it, and checks them every second', () => {
    const app = buildService(readEnvConfig({ LOG_LEVEL: 'silent' }), { signals: false, exit: false })
    expect(app.server.requestTimeout).toBe(30_000)
    expect(app.server.headersTimeout).toBe(10_000)
    expect(app.server.headersTimeout).toBeLessThan(app.server.requestTimeout)
    expect(serverLimits.connectionsCheckingIntervalMs).toBe(1_000)
  })

  it('keeps idle keep-alive sockets longer than a typical load balancer idle timeout (60 s)', () => {
    const app = buildService(readEnvConfig({ LOG_LEVEL: 'silent' }), { signals: false, exit: false })
    expect(app.server.keepAliveTimeout).toBe(72_000)
    expect(app.server.keepAliveTimeout).toBeGreaterThan(60_000)
  })

  describe('over a real socket, with the default limits', () => {
    let service: RunningService
    beforeAll(async () => {
      service = await startService()
    })
    afterAll(async () => service.close())

    it('answers a head just over 16 KiB with 431 and one just under it normally', async () => {
      const line = (size: number) => `GET /health HTTP/1.1\r\nHost: test\r\nX-Pad: ${'a'.repeat(size)}\r\nConnection: close\r\n\r\n`
      const over = await rawExchange(service.port, { send: line(serverLimits.maxHeaderBytes) })
      const under = await rawExchange(service.port, { send: line(serverLimits.maxHeaderBytes - 200) })
      expect(over.statuses).toEqual([431])
      expect(under.statuses).toEqual([200])
    })

    it('answers a body over 1 MiB with 413 JSON, chunked or not', async () => {
      const big = 'x'.repeat(serverLimits.bodyLimitBytes)
      const lengthed = await fetch(`${service.origin}/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: big }),
      })
      expect(lengthed.status).toBe(413)
      expect(await lengthed.json()).toMatchObject({ statusCode: 413, message: 'body is larger than the 1 MiB limit' })
      const chunked = await rawExchange(service.port, {
        send: [
          'POST /hello HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
          ...Array.from({ length: 20 }, () => `10000\r\n${'x'.repeat(0x10000)}\r\n`),
        ],
        waitMs: 5_000,
      })
      expect(chunked.statuses).toEqual([413])
      await service.settled()
    })

    // Debug features are opt-in: with the default environment no debug route exists at all.
    it('serves no debug route by default (live view, events, inspector paths are 404)', async () => {
      for (const path of ['/debug', '/debug/lifecycle', '/debug/lifecycle/events', '/debug/inspect', '/_debug']) {
        const response = await fetch(`${service.origin}${path}`)
        expect(response.status, path).toBe(404)
        await response.arrayBuffer()
      }
    })

    it('sends no header that names the stack, and no body that leaks internals, on any route', async () => {
      const requests: Array<[string, RequestInit]> = [
        ['/health', {}],
        ['/ready', {}],
        ['/nope', {}],
        ['/hello', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' }],
        ['/hello', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":42}' }],
        ['/hello', { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<a/>' }],
        ['/hello', { method: 'DELETE' }],
        ['/hello', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' }],
      ]
      for (const [path, init] of requests) {
        const response = await fetch(`${service.origin}${path}`, init)
        for (const header of revealingHeaders) expect(response.headers.get(header), `${path} ${header}`).toBeNull()
        const body = await response.text()
        expect(response.status, `${path} ${body}`).toBeLessThan(500)
        expect(findLeak(body), `${path}`).toBeNull()
      }
    })
  })
})
