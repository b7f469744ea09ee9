import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { quotedValueLimit } from '../src/describe-value.ts'
import { clientMessageLimit } from '../src/service/error-replies.ts'
import { killServices, logLines, type ServiceProcess, startService } from './live-view-process.ts'

// The reference service as a child process, logging at info: what a client gets back and what lands
// in the log are both looked at.
let service: ServiceProcess
beforeAll(async () => {
  service = await startService({ LOG_LEVEL: 'info' })
})
afterAll(() => killServices())

async function post(body: string, contentType: string) {
  const response = await fetch(`${service.origin}/hello`, { method: 'POST', headers: { 'content-type': contentType }, body })
  const text = await response.text()
  return { status: response.status, text, body: JSON.parse(text) as { message: string; code?: string } }
}

const errorLines = () => logLines(service.stdout()).filter((line) => (line.level as number) >= 50)

describe('a body nested deeper than any formatter should recurse (issue 10)', () => {
  it.each([
    ['a list 5,000 deep', `${'['.repeat(5_000)}${']'.repeat(5_000)}`, 'body must be an object; received [[[['],
    ['a list 500,000 deep (1 MB)', `${'['.repeat(500_000)}${']'.repeat(500_000)}`, 'body must be an object; received [[[['],
    ['a 5,000 deep list as the name', `{"name":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, 'body.name must be a string; received [[[['],
    ['objects 50,000 deep under an unknown key', `${'{"x":'.repeat(50_000)}1${'}'.repeat(50_000)}`, 'body.x must be absent (unknown option); received {"x":{"x":'],
  ])('%s: 400 naming the field, a short message, no error logged', async (_case, body, start) => {
    const answer = await post(body, 'application/json')
    expect(answer.status, answer.text.slice(0, 300)).toBe(400)
    expect(answer.body.code).toBe('FST_ERR_VALIDATION')
    expect(answer.body.message.startsWith(start), answer.body.message.slice(0, 300)).toBe(true)
    expect(answer.body.message.endsWith('…')).toBe(true)
    expect(answer.text.length).toBeLessThan(400)
    expect(errorLines()).toEqual([])
  })
})

describe('error messages quote a short prefix of the value (issue 10)', () => {
  it('a 1 MiB text/plain body is 415, as every other non-JSON type', async () => {
    const answer = await post('x'.repeat(1_048_576), 'text/plain')
    expect(answer.status).toBe(415)
    expect(answer.body.code).toBe('FST_ERR_CTP_INVALID_MEDIA_TYPE')
    expect(answer.text.length).toBeLessThan(200)
  })

  it('a 1 MB JSON string: 400 quoting at most the limit, with its length', async () => {
    const answer = await post(JSON.stringify('\u0001'.repeat(170_000)), 'application/json') // 1 MB as JSON escapes
    expect(answer.status).toBe(400)
    const quoted = /^body must be an object; received (".*…") \(170000 characters\)$/.exec(answer.body.message)
    expect(quoted, answer.body.message.slice(0, 300)).not.toBeNull()
    expect(quoted![1]!.length).toBeLessThanOrEqual(quotedValueLimit + 1)
  })

  it('a name one character too long is quoted cut, with its length', async () => {
    const answer = await post(JSON.stringify({ name: 'n'.repeat(101) }), 'application/json')
    expect(answer.body.message).toBe(
      `body.name must be a string of at most 100 characters; received "${'n'.repeat(quotedValueLimit - 1)}…" (101 characters)`,
    )
  })

  it('an unknown key of 500,000 characters is named by a prefix', async () => {
    const answer = await post(JSON.stringify({ ['k'.repeat(500_000)]: 1 }), 'application/json')
    expect(answer.status).toBe(400)
    expect(answer.body.message).toBe(`body.${'k'.repeat(quotedValueLimit)}… must be absent (unknown option); received 1`)
  })

  it('short values are still quoted whole', async () => {
    expect((await post('{"name":42}', 'application/json')).body.message).toBe('body.name must be a string; received 42')
    expect((await post('[1,"two",{"three":3}]', 'application/json')).body.message).toBe(
      'body must be an object; received [1,"two",{"three":3}]',
    )
  })

  it('a 12 KB bad URL is named by a prefix of its path, within the message limit', async () => {
    const response = await fetch(`${service.origin}/h%${'e'.repeat(12_000)}`)
    const body = (await response.json()) as { message: string; code: string }
    expect(response.status).toBe(400)
    expect(body.code).toBe('FST_ERR_BAD_URL')
    expect(body.message.length).toBeLessThanOrEqual(clientMessageLimit)
    expect(body.message).toMatch(/^url must be a path with valid %-escapes; received "\/h%eee+…" \(12003 characters\)$/)
  })
})
