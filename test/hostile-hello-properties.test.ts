import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findLeak } from './support/reliability-leaks.ts'
import { rawExchange } from './support/reliability-raw-http.ts'
import { type RunningService, startService } from './support/reliability-service.ts'

const runs = { numRuns: 300 }

interface Answer {
  status: number
  body: { statusCode?: number; code?: string; message?: string; error?: string }
  text: string
}

describe('POST /hello under generated input (fast-check)', () => {
  let service: RunningService

  beforeAll(async () => {
    service = await startService()
  })
  afterAll(async () => {
    await service.settled()
    const { status, body } = await service.ready()
    expect(status).toBe(200)
    expect(body.active_requests).toBe(0)
    await service.close()
  })

  async function hello(body: string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
    const response = await fetch(`${service.origin}/hello`, { method: 'POST', headers, body })
    const text = await response.text()
    return { status: response.status, body: JSON.parse(text) as Answer['body'], text }
  }

  /** The contract for every answer: 200 or a 4xx JSON error, nothing internal. */
  function expectContract(answer: Answer): void {
    expect(answer.status === 200 || (answer.status >= 400 && answer.status < 500), answer.text).toBe(true)
    expect(findLeak(answer.text), answer.text).toBeNull()
    if (answer.status !== 200) {
      expect(answer.body.statusCode).toBe(answer.status)
      expect(answer.body.message?.length).toBeGreaterThan(0)
    }
  }

  it('any JSON value as the body: 200 or a 4xx naming the body', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (value) => {
        const answer = await hello(JSON.stringify(value))
        expectContract(answer)
        const isObject = typeof value === 'object' && value !== null && !Array.isArray(value)
        if (value === null) expect(answer.status).toBe(200) // `null` is "no body"
        else if (!isObject) expect(answer.body.message).toMatch(/^body must be an object; received /)
      }),
      runs,
    )
  })

  // Values around the schema: right and wrong types, edges of the ranges, unknown fields.
  const name = fc.oneof(
    fc.string({ minLength: 1, maxLength: 100 }),
    fc.constant(''),
    fc.string({ minLength: 101, maxLength: 140 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 2 }),
  )
  const workMs = fc.oneof(
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ max: -1 }),
    fc.integer({ min: 600_001 }),
    fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)),
    fc.string({ maxLength: 6 }),
    fc.constant(null),
  )
  const helloBody = fc.record(
    { name, work_ms: workMs, extra: fc.tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 1 })) },
    { requiredKeys: [] },
  )

  it('objects around the schema: valid ones answer the greeting, invalid ones a 400 naming the field and value', async () => {
    await fc.assert(
      fc.asyncProperty(helloBody, async ({ name: n, work_ms: w, extra }) => {
        const body: Record<string, unknown> = {}
        if (n !== undefined) body.name = n
        if (w !== undefined) body.work_ms = w
        if (extra && extra[0] !== 'name' && extra[0] !== 'work_ms' && extra[0] !== '__proto__') body[extra[0]] = extra[1]
        const text = JSON.stringify(body)
        const answer = await hello(text)
        expectContract(answer)
        // Prototype-poisoning keys anywhere are refused by the JSON parser itself, before the schema.
        if (/"(__proto__|constructor)"/.test(text)) {
          expect(answer.status).toBe(400)
          return
        }

        const nameOk = n === undefined || (typeof n === 'string' && n.length >= 1 && n.length <= 100)
        const workOk = w === undefined || (typeof w === 'number' && Number.isInteger(w) && w >= 0 && w <= 600_000)
        const hasExtra = Object.keys(body).some((k) => k !== 'name' && k !== 'work_ms')
        if (nameOk && workOk && !hasExtra) {
          expect(answer.status).toBe(200)
          expect(answer.body).toEqual({ message: `Hello, ${n ?? 'World'}!` })
        } else {
          expect(answer.status).toBe(400)
          expect(answer.body.code).toBe('FST_ERR_VALIDATION')
          // The message names one of the offending fields, `body.<field>`.
          const offenders = [...(nameOk ? [] : ['name']), ...(workOk ? [] : ['work_ms']), ...Object.keys(body).filter((k) => k !== 'name' && k !== 'work_ms')]
          expect(offenders.some((field) => answer.body.message?.startsWith(`body.${field} must be`)), answer.body.message).toBe(true)
        }
      }),
      runs,
    )
  })

  it('any text as a JSON body (mostly not JSON): 200 or 4xx, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200, unit: 'binary' }), async (text) => {
        expectContract(await hello(text))
      }),
      runs,
    )
  })

  it('any content type and extra header values: 200 or 4xx, never 5xx', async () => {
    const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/)
    const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/)
    const contentType = fc.oneof(
      fc.constantFrom('application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'text/plain', 'application/xml', 'multipart/form-data', ''),
      fc.tuple(token, token).map(([a, b]) => `${a}/${b}`),
      headerValue,
    )
    await fc.assert(
      fc.asyncProperty(contentType, fc.dictionary(token.map((t) => `x-${t}`), headerValue, { maxKeys: 5 }), async (type, extra) => {
        const headers: Record<string, string> = { ...extra }
        if (type !== '') headers['content-type'] = type
        expectContract(await hello('{"name":"h"}', headers))
      }),
      runs,
    )
  })

  it('raw header values with any byte (controls, high bytes): 4xx or 200 over TCP, the socket closed', async () => {
    const seen = new Set<number>()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 40 }), async (bytes) => {
        const value = Buffer.from(bytes).toString('latin1').replace(/\r\n/g, '')
        const exchange = await rawExchange(service.port, {
          send: Buffer.concat([
            Buffer.from('POST /hello HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\nX-Fuzz: ', 'latin1'),
            Buffer.from(value, 'latin1'),
            Buffer.from('\r\n\r\n{}', 'latin1'),
          ]),
        })
        expect(exchange.statuses).toHaveLength(1)
        for (const status of exchange.statuses) seen.add(status)
        for (const status of exchange.statuses) expect(status === 200 || (status >= 400 && status < 500), exchange.text).toBe(true)
        expect(exchange.closedByServer).toBe(true)
        expect(findLeak(exchange.text)).toBeNull()
      }),
      { numRuns: 200 },
    )
    // Both sides of the parser's line were exercised: accepted values and refused ones.
    expect([...seen].sort()).toEqual([200, 400])
  })
})
