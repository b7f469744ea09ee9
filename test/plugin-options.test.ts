import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { resolveOptions } from '../src/http/plugin-options.ts'
import { LameduckError } from '../src/errors.ts'

describe('plugin options', () => {
  it('fills in the documented defaults and freezes the result', () => {
    const options = resolveOptions({})
    expect(options).toMatchObject({
      maxConcurrency: 1,
      drainTimeoutMs: 30_000,
      shutdownDelayMs: 0,
      overCapacity: 'admit',
      retryAfterSeconds: 1,
      probes: { health: '/health', ready: '/ready' },
      signals: ['SIGTERM', 'SIGINT', 'SIGHUP'],
      drainNoticeMs: 5_000,
      websocketGoodbye: { code: 1012, reason: 'draining', spreadMs: 1_000, closeTimeoutMs: 2_000 },
      exit: 'process',
    })
    expect(Object.isFrozen(options)).toBe(true)
  })

  it.each([
    [{ maxConcurrency: 0 }, 'maxConcurrency', '0'],
    [{ maxConcurrency: '4' }, 'maxConcurrency', '"4"'],
    [{ maxConcurrency: 1.5 }, 'maxConcurrency', '1.5'],
    [{ maxConcurrency: null }, 'maxConcurrency', 'null'],
    [{ drainTimeoutMs: -1 }, 'drainTimeoutMs', '-1'],
    [{ drainTimeoutMs: 2 ** 31 }, 'drainTimeoutMs', String(2 ** 31)],
    [{ shutdownDelayMs: '5s' }, 'shutdownDelayMs', '"5s"'],
    [{ overCapacity: 'drop' }, 'overCapacity', '"drop"'],
    [{ retryAfterSeconds: -2 }, 'retryAfterSeconds', '-2'],
    [{ probes: { ready: 'ready' } }, 'probes.ready', '"ready"'],
    [{ probes: { health: '/same', ready: '/same' } }, 'probes.ready', '"/same"'],
    [{ probes: { liveness: '/live' } }, 'probes.liveness', '"/live"'],
    [{ signals: ['TERM'] }, 'signals.0', '"TERM"'],
    [{ signals: [] }, 'signals', '[]'],
    [{ startup: 'warm-up' }, 'startup', '"warm-up"'],
    [{ exit: 1 }, 'exit', '1'],
    [{ drainTimeout: 5000 }, 'drainTimeout', '5000'],
  ])('rejects %j naming the option and the value', (input, field, shown) => {
    let error: unknown
    try {
      resolveOptions(input)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(LameduckError)
    expect((error as LameduckError).code).toBe('LAMEDUCK_INVALID_OPTION')
    expect((error as Error).message).toContain(`"${field}"`)
    expect((error as Error).message).toContain(`received ${shown}`)
  })

  it('fails registration with the typed error, before the server listens', async () => {
    const app = Fastify()
    app.register(lameduck, { maxConcurrency: -3 })
    await expect(app.ready()).rejects.toMatchObject({
      code: 'LAMEDUCK_INVALID_OPTION',
      message: 'lameduck option "maxConcurrency" must be an integer from 1 to 1000000; received -3',
    })
  })

  it('refuses to be registered twice on one server', async () => {
    const app = Fastify()
    app.register(lameduck, { signals: false, exit: false })
    app.register(lameduck, { signals: false, exit: false })
    await expect(app.ready()).rejects.toMatchObject({ code: 'LAMEDUCK_ALREADY_REGISTERED' })
  })

  it('serves the probes at custom paths, and leaves out a probe set to false', async () => {
    const app = Fastify()
    await app.register(lameduck, { signals: false, exit: false, probes: { health: false, ready: '/-/ready' } })
    await app.ready()
    expect((await app.inject({ url: '/-/ready' })).statusCode).toBeLessThan(600)
    expect((await app.inject({ url: '/health' })).statusCode).toBe(404)
    await app.close()
  })
})
