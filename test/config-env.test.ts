import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { envVariables, readEnvConfig } from '../src/config/env-config.ts'
import { LameduckError } from '../src/errors.ts'
import { buildService } from '../src/service/build-service.ts'
import { ChildService, repoDir } from './support/reliability-child.ts'

function rejection(env: Record<string, string>): string {
  try {
    readEnvConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(LameduckError)
    expect((error as LameduckError).code).toBe('LAMEDUCK_INVALID_ENV')
    return (error as Error).message
  }
  throw new Error(`accepted ${JSON.stringify(env)} silently`)
}

const integerVariables = {
  PORT: { min: 0, max: 65_535 },
  MAX_CONCURRENCY: { min: 1, max: 1_000_000 },
  DRAIN_TIMEOUT_MS: { min: 1, max: 2_147_483_647 },
  SHUTDOWN_DELAY_MS: { min: 0, max: 2_147_483_647 },
  STARTUP_MS: { min: 0, max: 2_147_483_647 },
  WORKER_MAX_RESTARTS: { min: 0, max: 1_000 },
} as const

describe('environment: every bad value names the variable and the value', () => {
  it.each(['', '0', 'AUTO', 'all', '2.5', '257', ' 2'])('WORKERS=%j names the variable and what it takes', (value) => {
    expect(rejection({ WORKERS: value })).toBe(
      `environment variable WORKERS must be an integer from 1 to 256, or auto; received ${JSON.stringify(value)}`,
    )
  })

  it('WORKERS takes auto, a count, and defaults to one process', () => {
    expect(readEnvConfig({}).workers).toBe(1)
    expect(readEnvConfig({ WORKERS: 'auto' }).workers).toBe('auto')
    expect(readEnvConfig({ WORKERS: '4' }).workers).toBe(4)
    expect(readEnvConfig({ WORKERS_READY: 'first' }).workersReady).toBe('first')
    expect(rejection({ WORKERS_READY: 'some' })).toBe('environment variable WORKERS_READY must be one of first, all; received "some"')
  })

  it('tests variables the service really reads', () => {
    for (const name of [...Object.keys(integerVariables), 'HOST', 'OVER_CAPACITY', 'STREAM_HANDOVER', 'LOG_LEVEL']) {
      expect(Object.keys(envVariables)).toContain(name)
    }
  })

  for (const [name, { min, max }] of Object.entries(integerVariables)) {
    const bad = ['', ' ', 'abc', '1.5', '-1', '1e3', '0x10', '10ms', ' 5', '5 ', '05', String(max + 1), '99999999999999999999']
    if (min > 0) bad.push(String(min - 1))
    it.each(bad)(`${name}=%j`, (value) => {
      const message = rejection({ [name]: value })
      expect(message).toBe(`environment variable ${name} must be an integer from ${min} to ${max}; received ${JSON.stringify(value)}`)
    })
  }

  it.each([
    ['OVER_CAPACITY', ''],
    ['OVER_CAPACITY', 'drop'],
    ['OVER_CAPACITY', 'Reject'],
    ['OVER_CAPACITY', 'reject '],
    ['STREAM_HANDOVER', ''],
    ['STREAM_HANDOVER', 'at_drain'],
    ['STREAM_HANDOVER', 'AT-DRAIN'],
    ['STREAM_HANDOVER', 'never'],
    ['LOG_LEVEL', ''],
    ['LOG_LEVEL', 'INFO'],
    ['LOG_LEVEL', 'verbose'],
    ['HOST', ''],
    ['HOST', '   '],
  ])('%s=%j', (name, value) => {
    const message = rejection({ [name]: value })
    expect(message).toContain(`environment variable ${name} must be`)
    expect(message).toContain(`received ${JSON.stringify(value)}`)
  })

  it.each([
    ['LAMEDUCK_DEBUG', ''],
    ['LAMEDUCK_DEBUG', 'true'],
    ['LAMEDUCK_DEBUG', 'yes'],
    ['LAMEDUCK_DEBUG', ' 1'],
    ['LAMEDUCK_DEBUG', '2'],
    ['LAMEDUCK_INSPECT_URL', 'http://127.0.0.1:4242'],
    ['LAMEDUCK_INSPECT_URL', 'not a url'],
    ['LAMEDUCK_INSPECT_URL', ' '],
  ])('debug variable %s=%j is refused by name, never read as off', (name, value) => {
    const message = rejection({ [name]: value })
    expect(message).toContain(`environment variable ${name} must be`)
    expect(message).toContain(`received ${JSON.stringify(value)}`)
  })

  it('property: a bad LAMEDUCK_DEBUG_TOKEN is refused without echoing the secret', () => {
    const badToken = fc.oneof(
      fc.string({ minLength: 1, maxLength: 15 }).filter((t) => /^[\x21-\x7e]+$/.test(t)),
      fc.tuple(fc.string({ minLength: 8, maxLength: 20 }), fc.constantFrom(' ', '\t', '\u00e9')).map(([a, c]) => `${a}${c}${a}`),
      fc.string({ minLength: 513, maxLength: 600 }),
    )
    fc.assert(
      fc.property(badToken, (token) => {
        const message = rejection({ LAMEDUCK_DEBUG_TOKEN: token })
        expect(message).toContain('LAMEDUCK_DEBUG_TOKEN')
        expect(message).toContain(`(hidden, ${token.length} characters)`)
        if (token.trim().length >= 8) expect(message).not.toContain(token.trim())
      }),
      { numRuns: 300 },
    )
  })

  it('property: an integer variable takes exactly the decimal integers in range and refuses everything else', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.entries(integerVariables)), fc.oneof(fc.string(), fc.nat().map(String)), ([name, { min, max }], raw) => {
        const accepted = /^(0|[1-9][0-9]*)$/.test(raw) && Number(raw) >= min && Number(raw) <= max
        if (accepted) expect((readEnvConfig({ [name]: raw }) as unknown as Record<string, number>)).toBeTruthy()
        else expect(rejection({ [name]: raw })).toContain(`${name} must be`)
      }),
      { numRuns: 1_000 },
    )
  })
})

describe('DRAIN_NOTICE_MS: at most DRAIN_TIMEOUT_MS', () => {
  it.each([
    [{ DRAIN_NOTICE_MS: '30001' }, 'an integer from 0 to DRAIN_TIMEOUT_MS (30000); received "30001"'],
    [{ DRAIN_NOTICE_MS: '5000', DRAIN_TIMEOUT_MS: '4999' }, 'an integer from 0 to DRAIN_TIMEOUT_MS (4999); received "5000"'],
    [{ DRAIN_NOTICE_MS: '-1' }, 'an integer from 0 to DRAIN_TIMEOUT_MS (30000); received "-1"'],
    [{ DRAIN_NOTICE_MS: '5s' }, 'an integer from 0 to DRAIN_TIMEOUT_MS (30000); received "5s"'],
    [{ DRAIN_NOTICE_MS: '' }, 'an integer from 0 to DRAIN_TIMEOUT_MS (30000); received ""'],
  ])('%j is refused, naming both variables and the value', (env, expected) => {
    expect(rejection(env)).toBe(`environment variable DRAIN_NOTICE_MS must be ${expected}`)
  })

  it.each([
    [{ DRAIN_NOTICE_MS: '0' }, 0],
    [{ DRAIN_NOTICE_MS: '30000' }, 30000],
    [{ DRAIN_NOTICE_MS: '250', DRAIN_TIMEOUT_MS: '1000' }, 250],
  ])('%j gives %i', (env, expected) => {
    expect(readEnvConfig(env).drainNoticeMs).toBe(expected)
  })

  it.each([
    [{}, 5000],
    [{ DRAIN_NOTICE_MS: '1200' }, 1200],
    // Unset, it never exceeds a short drain: DRAIN_TIMEOUT_MS alone stays a valid setting.
    [{ DRAIN_TIMEOUT_MS: '800' }, 800],
  ])('the service built with %j gives the plugin a notice of %i ms', async (env, expected) => {
    const app = buildService(readEnvConfig({ LOG_LEVEL: 'silent', ...env }), { signals: false, exit: false })
    await app.ready()
    expect(app.lameduck.options.drainNoticeMs).toBe(expected)
    await app.close()
  })
})

describe('the service entry point with a bad environment', () => {
  let child: ChildService | undefined
  afterEach(async () => child?.stop())

  it.each([
    ['MAX_CONCURRENCY', '0'],
    ['DRAIN_TIMEOUT_MS', ''],
    ['DRAIN_NOTICE_MS', '40000'],
    ['LOG_LEVEL', 'loud'],
  ])('%s=%j: one line on stderr naming it, exit 78, nothing listening', async (name, value) => {
    child = new ChildService(`${repoDir}src/main.ts`, { [name]: value })
    const exit = await child.exit()
    expect(exit.code).toBe(78)
    const lines = child.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(`environment variable ${name} must be`)
    expect(lines[0]).toContain(`received ${JSON.stringify(value)}`)
    expect(child.stdout).toBe('')
  })

  it('HOST that does not resolve: a fatal log line naming it, exit 1, not a hang', async () => {
    child = new ChildService(`${repoDir}src/main.ts`, { HOST: 'no-such-host.invalid' })
    const exit = await child.exit()
    expect(exit.code).toBe(1)
    const fatal = child.logs.find((line) => line.level === 60)
    expect(fatal?.msg).toBe('could not start listening')
    expect(JSON.stringify(fatal?.err)).toContain('no-such-host.invalid')
  })
})
