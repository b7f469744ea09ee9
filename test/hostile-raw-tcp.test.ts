import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findLeak } from './support/reliability-leaks.ts'
import { jsonRequest, type RawExchange, rawExchange } from './support/reliability-raw-http.ts'
import { type RunningService, startService } from './support/reliability-service.ts'

// Each garbage case is sent this many times, concurrently, on fresh connections.
const repeats = 10

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`
const post = (headers: string[], body = '') => `${head(['POST /hello HTTP/1.1', 'Host: test', ...headers])}${body}`

/** Bytes no correct client sends. Each must get a 4xx or a clean close. */
const garbage: Record<string, string | Buffer> = {
  'invalid request line: no method': head(['/hello HTTP/1.1', 'Host: test']),
  'invalid request line: junk': 'GARBAGE GARBAGE GARBAGE\r\n\r\n',
  'invalid request line: bad version': head(['GET /health HTTP/9.9', 'Host: test']),
  'invalid request line: binary': Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), // a TLS ClientHello
  'invalid request line: control characters in path': head(['GET /he\x01llo HTTP/1.1', 'Host: test']),
  'bad header name: space': head(['GET /health HTTP/1.1', 'Host: test', 'Bad Header: x']),
  'bad header name: no colon': head(['GET /health HTTP/1.1', 'Host: test', 'NoColonHere']),
  'bad header name: NUL': head(['GET /health HTTP/1.1', 'Host: test', 'X-\x00: x']),
  'bad header value: bare CR': head(['GET /health HTTP/1.1', 'Host: test', 'X-A: a\rb']),
  'bad header: obsolete line folding': head(['GET /health HTTP/1.1', 'Host: test', 'X-A: a', ' folded']),
  'missing Host on HTTP/1.1': head(['GET /health HTTP/1.1']),
  'invalid chunked: size not hex': post(['Content-Type: application/json', 'Transfer-Encoding: chunked'], 'ZZ\r\n{}\r\n0\r\n\r\n'),
  'invalid chunked: size larger than data then garbage': post(['Content-Type: application/json', 'Transfer-Encoding: chunked'], '2\r\n{}}}}\r\n0\r\n\r\n'),
  'invalid chunked: overflowing size': post(['Content-Type: application/json', 'Transfer-Encoding: chunked'], 'FFFFFFFFFFFFFFFFFF\r\n{}\r\n'),
  'smuggling: Content-Length and Transfer-Encoding': post(
    ['Content-Type: application/json', 'Content-Length: 4', 'Transfer-Encoding: chunked'],
    '0\r\n\r\nGET /health HTTP/1.1\r\nHost: test\r\n\r\n',
  ),
  'smuggling: two different Content-Lengths': post(['Content-Type: application/json', 'Content-Length: 2', 'Content-Length: 20'], '{}'),
  'smuggling: Transfer-Encoding obfuscated': post(['Content-Type: application/json', 'Transfer-Encoding: xchunked'], '0\r\n\r\n'),
  'smuggling: Transfer-Encoding chunked twice': post(
    ['Content-Type: application/json', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
    '0\r\n\r\n',
  ),
  'smuggling: Content-Length not a number': post(['Content-Type: application/json', 'Content-Length: 2x'], '{}'),
  'smuggling: negative Content-Length': post(['Content-Type: application/json', 'Content-Length: -1'], '{}'),
  'header flood: 2000 headers': head(['GET /health HTTP/1.1', 'Host: test', ...Array.from({ length: 2000 }, (_, i) => `X-Flood-${i}: v`)]),
  'header flood: one 64 KiB header': head(['GET /health HTTP/1.1', 'Host: test', `X-Big: ${'a'.repeat(65_536)}`]),
  'oversized URL: 64 KiB': head([`GET /${'a'.repeat(65_536)} HTTP/1.1`, 'Host: test']),
  'body over the 1 MiB limit (Content-Length)': post(['Content-Type: application/json', 'Content-Length: 2000000'], '{"name":"'),
}

/** The promise every hostile case must keep: no 5xx, no leak, only 4xx (or nothing) and a closed socket. */
function expectRefusedCleanly(name: string, exchange: RawExchange): void {
  expect(exchange.statuses.filter((s) => s >= 500), `${name}: 5xx in ${exchange.text.slice(0, 200)}`).toEqual([])
  expect(exchange.statuses.every((s) => s >= 400 && s < 500), `${name}: ${exchange.statuses.join(',')}`).toBe(true)
  expect(exchange.closedByServer, `${name}: connection left open`).toBe(true)
  expect(exchange.error === null || exchange.error === 'ECONNRESET', `${name}: ${exchange.error}`).toBe(true)
  expect(findLeak(exchange.text), name).toBeNull()
}

describe('hostile input over raw TCP', () => {
  let service: RunningService

  beforeAll(async () => {
    // Timeouts shortened so slowloris and stalled bodies are cut within the test's patience.
    service = await startService({}, {}, { headersTimeoutMs: 800, requestTimeoutMs: 1_200, connectionsCheckingIntervalMs: 100 })
  })
  afterAll(async () => service.close())

  async function expectUnharmed(): Promise<void> {
    await service.settled()
    const { status, body } = await service.ready()
    expect(status).toBe(200)
    expect(body).toMatchObject({ status: 'ready', active_requests: 0 })
    expect(service.exits).toEqual([])
  }

  for (const [name, bytes] of Object.entries(garbage)) {
    it(`answers ${name} with a 4xx or a clean close, ${repeats} times, and stays ready`, async () => {
      const exchanges = await Promise.all(
        Array.from({ length: repeats }, () => rawExchange(service.port, { send: bytes, waitMs: 3_000 })),
      )
      for (const exchange of exchanges) expectRefusedCleanly(name, exchange)
      await expectUnharmed()
    })
  }

  it('answers the smuggled request inside a CL+TE body never (one 400, nothing for /health)', async () => {
    const exchange = await rawExchange(service.port, {
      send: post(['Content-Type: application/json', 'Content-Length: 48', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /health HTTP/1.1\r\nHost: test\r\n\r\n'),
    })
    expect(exchange.statuses).toEqual([400])
    expect(exchange.text).not.toContain('healthy')
  })

  // Node parses the garbage before the handler answers the valid request; its 400 ends the
  // connection, and the valid request is counted as aborted. Losing it is the client's doing.
  it('refuses pipelined garbage after a valid request with a 400 and a close, and counts the valid one once', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () =>
        rawExchange(service.port, { send: `${jsonRequest('/hello', '{"name":"ok"}')}\x00\x01\x02GARBAGE\r\n\r\n` }),
      ),
    )
    for (const exchange of exchanges) {
      expect(exchange.statuses.at(-1)).toBe(400)
      expect(exchange.statuses.every((s) => s === 200 || s === 400)).toBe(true)
      expect(exchange.closedByServer).toBe(true)
      expect(findLeak(exchange.text)).toBeNull()
    }
    await expectUnharmed()
  })

  // Node's default (httpAllowHalfOpen false) takes the client's FIN as an abort: the request is
  // released as aborted and the socket closed. Either outcome must leave the count exact.
  it('answers or cleanly closes a request whose client half-closes right after sending it', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () =>
        rawExchange(service.port, { send: jsonRequest('/hello', '{"work_ms":50}'), endAfterSend: true }),
      ),
    )
    for (const exchange of exchanges) {
      expect([[], [200]]).toContainEqual(exchange.statuses)
      expect(exchange.closedByServer).toBe(true)
    }
    await expectUnharmed()
  })

  it('closes a connection half-closed in the middle of its headers without answering anything but 4xx', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () =>
        rawExchange(service.port, { send: 'POST /hello HTTP/1.1\r\nHost: te', endAfterSend: true }),
      ),
    )
    for (const exchange of exchanges) expectRefusedCleanly('half-open head', exchange)
    await expectUnharmed()
  })

  it('cuts slowloris (headers dribbled a byte at a time) at the headers timeout with a 408', async () => {
    const dribble = [...'GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n']
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () => rawExchange(service.port, { send: dribble, gapMs: 40, waitMs: 5_000 })),
    )
    for (const exchange of exchanges) {
      expectRefusedCleanly('slowloris', exchange)
      expect(exchange.statuses).toEqual([408])
      // headersTimeout 800 ms, checked every 100 ms: cut before the dribble would end (~3.7 s).
      expect(exchange.elapsedMs).toBeLessThan(3_500)
    }
    await expectUnharmed()
  })

  it('cuts a connection that never sends a byte at the headers timeout', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () => rawExchange(service.port, { send: [], waitMs: 5_000 })),
    )
    for (const exchange of exchanges) {
      expectRefusedCleanly('silent connection', exchange)
      expect(exchange.elapsedMs).toBeLessThan(4_000)
    }
    await expectUnharmed()
  })

  it('cuts a body that never finishes at the request timeout, and releases its in-flight slot', async () => {
    const stalled = () =>
      rawExchange(service.port, {
        send: post(['Content-Type: application/json', 'Content-Length: 100'], '{"name":"never fin'),
        waitMs: 5_000,
      })
    const pending = Array.from({ length: repeats }, stalled)
    // While the bodies are stalled, their requests are in flight: the count must see them...
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await service.ready()).body.active_requests).toBe(repeats)
    const exchanges = await Promise.all(pending)
    for (const exchange of exchanges) {
      expectRefusedCleanly('stalled body', exchange)
      expect(exchange.statuses).toEqual([408])
      expect(exchange.elapsedMs).toBeLessThan(4_000)
    }
    // ...and release them exactly once when the timeout cuts them.
    await expectUnharmed()
  })

  it('answers Expect: 100-continue with 100, then cuts the body that never follows at the request timeout', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () =>
        rawExchange(service.port, {
          send: post(['Content-Type: application/json', 'Content-Length: 20', 'Expect: 100-continue']),
          waitMs: 5_000,
        }),
      ),
    )
    for (const exchange of exchanges) {
      expect(exchange.statuses).toEqual([100, 408])
      expect(exchange.closedByServer).toBe(true)
    }
    await expectUnharmed()
  })

  it('answers 200 pipelined requests on one connection in order, and counts each once', async () => {
    const requests = Array.from({ length: 200 }, (_, i) => jsonRequest('/hello', JSON.stringify({ name: `p${i}` }))).join('')
    const exchange = await rawExchange(service.port, { send: `${requests}GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, waitMs: 10_000 })
    expect(exchange.statuses).toEqual(Array.from({ length: 201 }, () => 200))
    const names = [...exchange.text.matchAll(/Hello, (p\d+)!/g)].map((m) => m[1])
    expect(names).toEqual(Array.from({ length: 200 }, (_, i) => `p${i}`))
    await expectUnharmed()
  })

  it('answers HTTP/1.0 without Host, and closes after it', async () => {
    const exchange = await rawExchange(service.port, { send: 'GET /health HTTP/1.0\r\n\r\n' })
    expect(exchange.statuses).toEqual([200])
    expect(exchange.closedByServer).toBe(true)
  })

  it('does not cut a handler that works longer than the request timeout (it bounds receiving only)', async () => {
    const exchange = await rawExchange(service.port, { send: jsonRequest('/hello', '{"work_ms":2000}'), waitMs: 5_000 })
    expect(exchange.statuses).toEqual([200])
    await expectUnharmed()
  })

  it('cuts a chunked body that never sends its last chunk at the request timeout', async () => {
    const exchanges = await Promise.all(
      Array.from({ length: repeats }, () =>
        rawExchange(service.port, {
          send: post(['Content-Type: application/json', 'Transfer-Encoding: chunked'], '2\r\n{}\r\n'),
          waitMs: 5_000,
        }),
      ),
    )
    for (const exchange of exchanges) {
      expectRefusedCleanly('stalled chunked body', exchange)
      expect(exchange.statuses).toEqual([408])
    }
    await expectUnharmed()
  })
})
