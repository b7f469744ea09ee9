import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { serverAddressOf } from '../src/telemetry/request-span.ts'

// The request span reads `request.host` once and splits it itself; the split must be Fastify's own.
describe('server.address and server.port of a request span', () => {
  const hosts = ['example.com', 'example.com:8080', 'example.com:', 'localhost:0', '127.0.0.1:65535', '[::1]', '[::1]:8443', '[2001:db8::7]:80', 'a:b:90', 'host:12x']
  it.each(hosts)('%s splits as Fastify hostname and port do', async (host) => {
    const app = Fastify()
    app.get('/', async (request) => ({ fastify: { name: request.hostname, port: request.port }, ours: serverAddressOf(request.host) }))
    const answer = (await app.inject({ url: '/', headers: { host } })).json() as { fastify: unknown; ours: unknown }
    expect(answer.ours).toEqual(answer.fastify)
    await app.close()
  })
})
