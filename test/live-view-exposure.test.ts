import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { readEnvConfig } from '../src/config/env-config.ts'
import { isLoopbackHost } from '../src/config/loopback-host.ts'
import { killServices, startService } from './live-view-process.ts'
import { ChildService, repoDir } from './support/reliability-child.ts'

const token = 'a-live-view-token-0123456789'

let child: ChildService | undefined
afterEach(async () => {
  await child?.stop()
  child = undefined
  killServices()
})

describe('the live view bound beyond loopback needs a token (issue 10: a proxy on the same host looks like loopback)', () => {
  const refusal = (host: string) =>
    `environment variable LAMEDUCK_DEBUG_TOKEN must be set (16 to 512 printable characters) when LAMEDUCK_DEBUG is "1" and HOST (${JSON.stringify(host)}) is not a loopback address: behind a proxy on the same host every client looks local; received ""`

  it('LAMEDUCK_DEBUG=1, HOST=0.0.0.0 (the default), no token: exit 78 naming the variables and values, nothing listening', async () => {
    child = new ChildService(`${repoDir}src/main.ts`, { LAMEDUCK_DEBUG: '1', HOST: '0.0.0.0' })
    const exit = await child.exit(20_000)
    expect(exit.code).toBe(78)
    expect(child.stderr).toBe(`lameduck: ${refusal('0.0.0.0')}\n`)
    expect(child.stdout).toBe('')
  })

  it.each(['::', '10.1.2.3', '192.168.0.7', 'replica.internal'])('LAMEDUCK_DEBUG=1, HOST=%s, no token: refused the same way', (host) => {
    expect(() => readEnvConfig({ LAMEDUCK_DEBUG: '1', HOST: host })).toThrow(refusal(host))
  })

  it('HOST=0.0.0.0 with a token starts', () => {
    expect(readEnvConfig({ LAMEDUCK_DEBUG: '1', HOST: '0.0.0.0', LAMEDUCK_DEBUG_TOKEN: token })).toMatchObject({
      debugRoutes: true,
      debugToken: token,
    })
  })

  it('HOST=0.0.0.0 without the live view needs no token', () => {
    expect(readEnvConfig({ HOST: '0.0.0.0' })).toMatchObject({ debugRoutes: false, debugToken: null })
  })

  it.each(['127.0.0.1', '127.8.9.10', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1'])('HOST=%s is loopback: no token needed', (host) => {
    expect(isLoopbackHost(host)).toBe(true)
    expect(readEnvConfig({ LAMEDUCK_DEBUG: '1', HOST: host })).toMatchObject({ debugRoutes: true, debugToken: null })
  })

  it.each(['0.0.0.0', '::', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'localhost.example.com', '127.0.0.1.nip.io'])('HOST=%s is not loopback', (host) => {
    expect(isLoopbackHost(host)).toBe(false)
  })
})

describe('a token in a query string is never logged or echoed (issue 10)', () => {
  it.each([
    ['the live view with the token set', { LAMEDUCK_DEBUG: '1', LAMEDUCK_DEBUG_TOKEN: token }],
    ['the live view on loopback without a token', { LAMEDUCK_DEBUG: '1' }],
  ])('%s: request lines, 404s, 401s and bad URLs carry no token', async (_case, env) => {
    const service = await startService({ ...env, LOG_LEVEL: 'trace' })
    const secret = token
    const bodies: string[] = []
    const statuses: number[] = []
    const paths = [
      `/debug/lifecycle?token=${secret}`,
      `/debug/lifecycle/?token=${secret}`,
      `/debug/lifecycle/events/?token=${secret}`,
      `/debug/lifecycle?token=${secret}x`,
      `/nope?token=${secret}`,
      `/nope?x=1&access_token=${secret}&y=2`,
      `/hello?token=${secret}`,
      `/hel%zz?token=${secret}`,
    ]
    for (const path of paths) {
      const response = await request(`${service.origin}${path}`, { method: path.startsWith('/hello') ? 'POST' : 'GET' })
      statuses.push(response.statusCode)
      bodies.push(await response.body.text())
    }
    // The requests above reached the service and were answered: 200 page, 404s, 401 for a wrong token.
    expect(statuses).toContain(404)
    expect(statuses).toContain(400)
    for (const body of bodies) expect(body).not.toContain(secret)
    expect(service.stdout()).not.toContain(secret)
    expect(service.stderr()).not.toContain(secret)
    // Logged all the same, redacted.
    expect(service.stdout()).toContain('incoming request')
    expect(service.stdout()).toContain('?token=[redacted]')
  })
})
