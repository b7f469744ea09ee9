import Fastify from 'fastify'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LameduckError } from '../src/errors.ts'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { resolveOptions } from '../src/http/plugin-options.ts'

/** Resolves `options` and returns the message of the typed error it must throw. */
function rejection(options: unknown): string {
  try {
    resolveOptions(options)
  } catch (error) {
    expect(error).toBeInstanceOf(LameduckError)
    expect((error as LameduckError).code).toBe('LAMEDUCK_INVALID_OPTION')
    return (error as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(options)} silently`)
}

const integerOptions = {
  maxConcurrency: { min: 1, max: 1_000_000 },
  drainTimeoutMs: { min: 1, max: 2_147_483_647 },
  shutdownDelayMs: { min: 0, max: 2_147_483_647 },
  retryAfterSeconds: { min: 0, max: 86_400 },
  closeTimeoutMs: { min: 0, max: 2_147_483_647 },
  startupTimeoutMs: { min: 1, max: 2_147_483_647 },
} as const

describe('plugin options: every bad value is a typed error naming the option and the value', () => {
  for (const [name, { min, max }] of Object.entries(integerOptions)) {
    const bad: Array<[unknown, string]> = [
      ['5', '"5"'],
      ['', '""'],
      [null, 'null'],
      [true, 'true'],
      [[1], '[1]'],
      [{ value: 1 }, '{"value":1}'],
      [1.5, '1.5'],
      [min - 1, String(min - 1)],
      [max + 1, String(max + 1)],
      [Number.NaN, 'NaN'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
    ]
    for (const [value, shown] of bad) {
      it(`${name} = ${shown}`, () => {
        const message = rejection({ [name]: value })
        expect(message).toContain(`"${name}"`)
        expect(message).toContain(`received ${shown}`)
      })
    }
  }

  it.each<[string, unknown, string]>([
    ['overCapacity', 'drop', '"drop"'],
    ['overCapacity', '', '""'],
    ['overCapacity', 'ADMIT', '"ADMIT"'],
    ['streamHandover', 'at_drain', '"at_drain"'],
    ['streamHandover', 'never', '"never"'],
    ['streamReconnect.event', 'a\nb', '"a\\nb"'],
    ['streamReconnect.event', '', '""'],
    ['streamReconnect.retryMs', -1, '-1'],
    ['streamReconnect.spreadMs', 1.5, '1.5'],
    ['streamReconnect.jitter', 1, '1'],
    ['probes.health', '', '""'],
    ['probes.health', 'health', '"health"'],
    ['probes.ready', '/ready me', '"/ready me"'],
    ['probes.ready', true, 'true'],
    ['probes.ready', '/health', '"/health"'],
    ['probes.extra', '/x', '"/x"'],
    ['startup', 'load()', '"load()"'],
    ['exit', true, 'true'],
    ['exit', 1, '1'],
    ['colour', 'blue', '"blue"'],
  ])('%s = %s', (path, value, shown) => {
    const [head, tail] = path.split('.') as [string, string | undefined]
    const message = rejection(tail ? { [head]: { [tail]: value } } : { [head]: value })
    expect(message).toContain(`"${path}"`)
    expect(message).toContain(`received ${shown}`)
  })

  it.each<[unknown, string]>([
    [[], '[]'],
    ['SIGTERM', '"SIGTERM"'],
    [['sigterm'], '"sigterm"'],
    [[''], '""'],
    [true, 'true'],
    // Regression: a well-formed but unknown name was accepted; process.on('SIGFOO') just
    // never fires, so the service silently had no shutdown signal at all.
    [['SIGFOO'], '"SIGFOO"'],
    // Regression: these cannot be caught; accepted, they crashed the service at listen() with EINVAL.
    [['SIGKILL'], '"SIGKILL"'],
    [['SIGTERM', 'SIGSTOP'], '"SIGSTOP"'],
  ])('signals = %j', (value, shown) => {
    const message = rejection({ signals: value })
    expect(message).toMatch(/"signals(\.\d+)?"/)
    expect(message).toContain(shown)
  })

  it('options that are not an object at all', () => {
    for (const value of ['fast', 42, [1, 2]]) expect(rejection(value)).toContain('(options)')
  })

  it('registering with a bad option fails ready() with the typed error; nothing listens', async () => {
    const app = Fastify()
    app.register(lameduck, { maxConcurrency: 0, signals: false, exit: false })
    await expect(app.ready()).rejects.toMatchObject({
      code: 'LAMEDUCK_INVALID_OPTION',
      message: 'lameduck option "maxConcurrency" must be an integer from 1 to 1000000; received 0',
    })
    expect(app.server.listening).toBe(false)
  })

  it('property: any value of a wrong type for any integer option is refused, never defaulted', () => {
    const notAnInteger = fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.double().filter((n) => !Number.isInteger(n)),
      fc.array(fc.integer(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
    )
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(integerOptions)), notAnInteger, (name, value) => {
        expect(rejection({ [name]: value })).toContain(`"${name}"`)
      }),
      { numRuns: 500 },
    )
  })

  it('property: every integer in range is taken as given', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.entries(integerOptions)), fc.double({ min: 0, max: 1, noNaN: true }), ([name, { min, max }], t) => {
        const value = Math.floor(min + t * (max - min))
        expect((resolveOptions({ [name]: value }) as unknown as Record<string, number>)[name]).toBe(value)
      }),
      { numRuns: 300 },
    )
  })
})

describe('plugin options for long-lived work: the notice and the WebSocket goodbye', () => {
  it('refuses a drain notice longer than the drain, naming both', () => {
    expect(rejection({ drainTimeoutMs: 1_000, drainNoticeMs: 1_500 })).toMatch(/"drainNoticeMs" must be at most drainTimeoutMs \(1000\); received 1500/)
    expect(rejection({ drainNoticeMs: -1 })).toMatch(/drainNoticeMs.*-1/)
  })

  it('shrinks the default notice to a drain shorter than it, and keeps an explicit one', () => {
    expect(resolveOptions({ drainTimeoutMs: 2_000 }).drainNoticeMs).toBe(2_000)
    expect(resolveOptions({ drainTimeoutMs: 2_000, drainNoticeMs: 300 }).drainNoticeMs).toBe(300)
  })

  it.each([
    [{ code: 1005 }, /websocketGoodbye/],
    [{ code: 999 }, /websocketGoodbye/],
    [{ spreadMs: -1 }, /websocketGoodbye/],
    [{ reason: 'é'.repeat(70) }, /websocketGoodbye\.reason.*123 bytes/],
    [{ extra: 1 }, /websocketGoodbye/],
    [true, /websocketGoodbye.*true/],
  ])('refuses websocketGoodbye %j', (value, message) => {
    expect(rejection({ websocketGoodbye: value })).toMatch(message)
  })

  it('fills the goodbye from the defaults, and false turns it off', () => {
    expect(resolveOptions({ websocketGoodbye: { spreadMs: 0 } }).websocketGoodbye).toEqual({ code: 1012, reason: 'draining', spreadMs: 0, closeTimeoutMs: 2_000 })
    expect(resolveOptions({ websocketGoodbye: false }).websocketGoodbye).toBeNull()
  })
})
