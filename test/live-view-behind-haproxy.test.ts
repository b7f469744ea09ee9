import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { killServices, startService } from './live-view-process.ts'
import { type Proxy, startProxy } from './support/haproxy-proxy.ts'

let proxy: Proxy | undefined
afterEach(async () => {
  await proxy?.stop()
  proxy = undefined
  killServices()
})

const token = 'a-live-view-token-0123456789'

async function status(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await request(url, { headers })
  await response.body.dump()
  return response.statusCode
}

// Regression (issue 10): the project's HAProxy connected to the replica from 127.0.0.1 and said nothing
// about the client, so the live view, loopback-only without a token, served every outside client.
describe('the live view behind the project\'s HAProxy', () => {
  it('without a token: 404 through the proxy (it says whom it forwards), 200 on loopback directly', async () => {
    const service = await startService({ LAMEDUCK_DEBUG: '1' })
    proxy = await startProxy({ r1: Number(new URL(service.origin).port) })
    await proxy.waitForStatus('r1', (s) => s === 'UP')
    expect(await status(`${proxy.origin}/debug/lifecycle`)).toBe(404)
    expect(await status(`${proxy.origin}/debug/lifecycle/events`)).toBe(404)
    expect(await status(`${service.origin}/debug/lifecycle`)).toBe(200)
  })

  it('with a token: 401 through the proxy without it, 200 with it', async () => {
    const service = await startService({ LAMEDUCK_DEBUG: '1', LAMEDUCK_DEBUG_TOKEN: token })
    proxy = await startProxy({ r1: Number(new URL(service.origin).port) })
    await proxy.waitForStatus('r1', (s) => s === 'UP')
    expect(await status(`${proxy.origin}/debug/lifecycle`)).toBe(401)
    expect(await status(`${proxy.origin}/debug/lifecycle`, { authorization: `Bearer ${token}` })).toBe(200)
  })
})
