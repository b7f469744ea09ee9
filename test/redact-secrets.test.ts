import { once } from 'node:events'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import fc from 'fast-check'
import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { lifecycleLiveView } from '../src/debug/live-view-plugin.ts'
import { lameduck } from '../src/http/lameduck-plugin.ts'
import { createLifecycleInspector } from '../src/inspect/lifecycle-inspector.ts'
import { redactQuerySecrets, redactUrl } from '../src/redact-secrets.ts'
import { errorReplies } from '../src/service/error-replies.ts'
import { requestLogFields } from '../src/service/request-log-fields.ts'
import { deadEndpoint } from './support/otlp-receiver.ts'

/** What Fastify makes of a URL's query, with and without `useSemicolonDelimiter`. */
async function fastifyQueries() {
  const apps = await Promise.all(
    [false, true].map(async (useSemicolonDelimiter) => {
      // Its router options type does not list the option yet.
      const app = Fastify({ routerOptions: { useSemicolonDelimiter } } as Parameters<typeof Fastify>[0])
      app.get('/*', async (request) => request.query)
      await app.ready()
      return app
    }),
  )
  return {
    parse: (url: string) => Promise.all(apps.map(async (app) => (await app.inject({ url })).json() as Record<string, string | string[]>)),
    close: () => Promise.all(apps.map((app) => app.close())),
  }
}

const secretName = /token|secret|passw|key|auth|sig/i

describe('query secrets are read the way Fastify reads a query (issue 19)', () => {
  it('every credential-like parameter Fastify parses from a URL is [redacted] in the same URL redacted, whatever it holds', async () => {
    const fastify = await fastifyQueries()
    try {
      const piece = fc.constantFrom('token', '%74oken', 'to%6Ben', 'x', 'a', '=', '&', ';', "'", '"', '?', '#', '+', '%', '%3B', '%26', 'access_token', 'id', 's3cr3t', '1')
      await fc.assert(
        fc.asyncProperty(fc.array(piece, { maxLength: 14 }), fc.constantFrom('/p', '/p;q', '/debug/lifecyle'), async (pieces, path) => {
          const url = `${path}?${pieces.join('')}`
          const redacted = redactQuerySecrets(url)
          const [before, after] = [await fastify.parse(url), await fastify.parse(redacted)]
          for (const [index, parsed] of before.entries()) {
            for (const [name, value] of Object.entries(parsed)) {
              if (!secretName.test(name)) continue
              const values = [value].flat()
              const seen = [after[index]![name] ?? []].flat()
              // Each non-empty value is gone; what is left in its place is only the mark.
              for (const v of values) if (v !== '') expect(seen, `${url} -> ${redacted}`).not.toContain(v)
              for (const v of seen) expect(['', '[redacted]'], `${url} -> ${redacted}`).toContain(v)
            }
          }
        }),
        { numRuns: 400 },
      )
    } finally {
      await fastify.close()
    }
  })

  it.each([
    ['/x?token=abc;def', '/x?token=[redacted]'],
    [`/x?token=abc'def"ghi&y=1`, '/x?token=[redacted]&y=1'],
    ['/x?%74oken=abcdef', '/x?%74oken=[redacted]'],
    ['/x?to+ken=a&tok%65n=b', '/x?to+ken=a&tok%65n=[redacted]'],
    ['Route GET:/x?a=1&token=abc;d not found', 'Route GET:/x?a=1&token=[redacted] not found'],
    ['/x', '/x'],
  ])('%s -> %s', (url, expected) => {
    expect(redactQuerySecrets(url)).toBe(expected)
  })

  it('stays linear on a 64 KiB URL of delimiters', () => {
    const started = performance.now()
    redactQuerySecrets(`/x?${';'.repeat(65_536)}`)
    redactQuerySecrets(`/x?token=${'a;'.repeat(32_768)}`)
    expect(performance.now() - started).toBeLessThan(200)
  })
})

describe('the live view token never reaches a log line (issue 19)', () => {
  const token = `abc;def'ghi"jkl-0123456789`
  let close: (() => Promise<void>) | null = null
  afterEach(async () => {
    await close?.()
    close = null
  })

  /** One raw HTTP/1.1 request (undici would refuse some of these characters in a path); returns the status. */
  async function rawGet(port: number, target: string): Promise<number> {
    const socket = connect(port, '127.0.0.1')
    await once(socket, 'connect')
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
    let received = ''
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    await once(socket, 'close')
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1])
  }

  it("a token with ;, ' and \" in ?token= or ?%74oken= is accepted, and on a mistyped path no part of it is logged", async () => {
    let log = ''
    const stream = new Writable({
      write(chunk, _encoding, done) {
        log += String(chunk)
        done()
      },
    })
    const app = Fastify({ logger: { level: 'info', stream, serializers: { req: requestLogFields } } })
    await app.register(lameduck, { signals: false, exit: false })
    await app.register(lifecycleLiveView, { token })
    // As the reference service answers errors: its 404 quotes the path only.
    errorReplies(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
    close = async () => {
      app.lameduck.shutdown('SIGTERM')
      await app.lameduck.finished()
    }
    const { port } = app.server.address() as AddressInfo
    const encodedName = token.replaceAll('"', '%22')
    // Accepted, as Fastify parses the query: the raw value, `;` and quotes included; an encoded name too.
    expect(await rawGet(port, `/debug/lifecycle?token=${encodedName}`)).toBe(200)
    expect(await rawGet(port, `/debug/lifecycle?%74oken=${encodedName}`)).toBe(200)
    expect(await rawGet(port, `/debug/lifecycle?token=wrong-${encodedName}`)).toBe(401)
    // Mistyped: the request line is logged with the query, its token redacted whole.
    expect(await rawGet(port, `/debug/lifecyle?token=${encodedName}`)).toBe(404)
    expect(await rawGet(port, `/debug/lifecyle?%74oken=${encodedName}&x=1`)).toBe(404)
    expect(log).toContain('incoming request')
    expect(log).toContain('/debug/lifecyle?token=[redacted]')
    expect(log).toContain('/debug/lifecyle?%74oken=[redacted]&x=1')
    for (const part of ['abc', 'def', 'ghi', 'jkl', '0123456789']) expect(log.split('\n').filter((line) => line.includes(part))).toEqual([])
  })
})

describe('credentials in URLs lameduck logs are redacted (issue 19)', () => {
  it.each([
    ['ws://user:p4ss@relay:8080/x?token=t0k', 'ws://[redacted]@relay:8080/x?token=[redacted]'],
    ['wss://relay/?api_key=k3y&room=1', 'wss://relay/?api_key=[redacted]&room=1'],
    ['http://collector:4318', 'http://collector:4318'],
    ['not a url //u:p@h', 'not a url //[redacted]@h'],
  ])('%s -> %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected)
  })

  it('the inspector relay that cannot be reached is logged without user, password or token', async () => {
    const lines: string[] = []
    const record = (obj: object, msg: string) => lines.push(JSON.stringify({ ...obj, msg }))
    const dead = new URL(await deadEndpoint())
    const inspector = createLifecycleInspector({ url: `ws://relay-user:relay-p4ss@${dead.host}/?token=relay-t0ken`, log: { info: record, warn: record }, retryMs: 50 })
    for (let i = 0; i < 50 && lines.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    await inspector.stop()
    expect(lines.join('\n')).toContain('inspector: cannot reach the relay')
    for (const secret of ['relay-user', 'relay-p4ss', 'relay-t0ken']) expect(lines.join('\n')).not.toContain(secret)
  })
})
