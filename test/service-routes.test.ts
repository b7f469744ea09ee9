import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { FastifyInstance } from 'fastify'
import { readEnvConfig } from '../src/config/env-config.ts'
import { buildService } from '../src/service/build-service.ts'
import { waitUntil } from './support/plugin-harness.ts'

// Routing and validation only: inject() is enough here; connection behaviour is tested over sockets elsewhere.
let app: FastifyInstance

beforeAll(async () => {
  app = buildService(readEnvConfig({ LOG_LEVEL: 'silent', MAX_CONCURRENCY: '8' }), { signals: false, exit: false })
  app.get('/boom', async () => {
    throw new Error('connection string postgres://admin:hunter2@db/internal failed at /srv/app/db.ts:12')
  })
  await app.ready()
  await waitUntil(() => app.lameduck.readiness().ready)
})
afterAll(() => app.close())

const hello = (payload?: string, contentType = 'application/json') =>
  app.inject({
    method: 'POST',
    url: '/hello',
    ...(payload === undefined ? {} : { payload, headers: { 'content-type': contentType } }),
  })

describe('POST /hello', () => {
  it('greets the world with no body at all', async () => {
    const response = await hello()
    expect(response.statusCode).toBe(200)
    expect(response.json()).toEqual({ message: 'Hello, World!' })
  })

  it('greets by name', async () => {
    expect((await hello('{"name":"Ada"}')).json()).toEqual({ message: 'Hello, Ada!' })
  })

  it.each([
    ['{"name":42}', 'body.name must be a string; received 42'],
    ['{"name":""}', 'body.name must be a string of at least 1 characters; received ""'],
    [`{"name":"${'x'.repeat(101)}"}`, 'body.name must be a string of at most 100 characters'],
    ['{"work_ms":"5"}', 'body.work_ms must be an integer from 0 to 600000; received "5"'],
    ['{"work_ms":1.5}', 'body.work_ms must be an integer from 0 to 600000; received 1.5'],
    ['{"work_ms":600001}', 'body.work_ms must be an integer from 0 to 600000; received 600001'],
    ['{"work_ms":-1}', 'body.work_ms must be an integer from 0 to 600000; received -1'],
    ['{"nme":"typo"}', 'body.nme must be absent (unknown option); received "typo"'],
    ['[1,2]', 'body must be an object'],
  ])('rejects %s with a 400 naming the field and the value', async (payload, message) => {
    const response = await hello(payload)
    expect(response.statusCode).toBe(400)
    expect(response.json()).toMatchObject({ statusCode: 400, error: 'Bad Request', code: 'FST_ERR_VALIDATION' })
    expect(response.json().message).toContain(message)
  })

  it('answers malformed JSON with a 400 JSON error', async () => {
    const response = await hello('{"name": "Ada"')
    expect(response.statusCode).toBe(400)
    expect(response.json()).toMatchObject({ statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' })
  })

  it('answers a body over 1 MiB with a 413 JSON error', async () => {
    const response = await hello(JSON.stringify({ name: 'x'.repeat(1_048_576) }))
    expect(response.statusCode).toBe(413)
    expect(response.json()).toMatchObject({ statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' })
  })

  it('answers an unsupported content type with a 415 JSON error', async () => {
    const response = await hello('name=Ada', 'application/x-www-form-urlencoded')
    expect(response.statusCode).toBe(415)
    expect(response.json()).toMatchObject({ statusCode: 415 })
  })
})

describe('other routes', () => {
  it('answers unknown routes with a 404 JSON error', async () => {
    const response = await app.inject({ method: 'GET', url: '/nope' })
    expect(response.statusCode).toBe(404)
    expect(response.json()).toMatchObject({ statusCode: 404, error: 'Not Found' })
  })

  it('answers a failing handler 500 without its message, stack or paths', async () => {
    const response = await app.inject({ method: 'GET', url: '/boom' })
    expect(response.statusCode).toBe(500)
    expect(response.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
  })

  it('serves /health and /ready with the seed shapes', async () => {
    expect((await app.inject({ method: 'GET', url: '/health' })).json()).toEqual({ status: 'healthy' })
    const ready = await app.inject({ method: 'GET', url: '/ready' })
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ready', active_requests: 0, max_concurrency: 8, open_streams: 0, open_sessions: 0 })
  })
})
