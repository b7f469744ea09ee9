import { describe } from 'vitest'
import { phaseSweep } from '../support/sweep-cell.ts'
import type { SweepChild } from '../support/sweep-child.ts'
import { alongside, connectLate, getRequest, postRequest, RawH1, workInFlight } from '../support/sweep-http1.ts'

// Issue 18, the phase sweep: SIGTERM at each phase of a plain HTTP/1.1 exchange, on the reference
// service in a child process. Each cell stops its client at a phase boundary and knows the server got
// there (it read the bytes: /sweep/conn; its handler reached a stage: a `sweep:` log line) before the signal.
const sweep = phaseSweep(['HTTP/1.1, one request', 'HTTP/1.1 keep-alive, second request', 'HTTP/1.1, three pipelined'])

/**
 * Writes `before`, waits until the server has read it, SIGTERM, then (20 ms into the drain) writes `after`;
 * `inGrace`: only if that is still within the first-request grace (else the cell runs again).
 */
async function splitAtSigterm(child: SweepChild, raw: RawH1, before: string, after: string, inGrace = false): Promise<void> {
  raw.write(before)
  await child.awaitRead(raw.localPort, raw.written)
  await child.sigtermAndDrain()
  if (inGrace) child.inGrace()
  raw.write(after)
}

const hold = getRequest('/sweep/hold')
const upload = postRequest('/sweep/upload', 'hello world')
const bodyStart = upload.indexOf('\r\n\r\n') + 4

describe.concurrent('HTTP/1.1, one request', () => {
  const kind = 'HTTP/1.1, one request'
  for (const listener of ['keep', 'close']) {
    sweep.cell(kind, {
      phase: `not connected yet, other work in flight (\`LISTENER_AT_DRAIN=${listener}\`)`,
      then: 'connects and sends `GET /sweep/hold` 20 ms into the drain',
      child: { env: { LISTENER_AT_DRAIN: listener } },
      run: async (child) => {
        const other = await workInFlight(child)
        await child.sigtermAndDrain()
        return alongside(await connectLate(child.port, hold), await other.observe(1))
      },
    })
  }
  sweep.cell(kind, {
    phase: 'connection accepted, nothing sent, nothing else in flight',
    then: 'sends `GET /sweep/hold` 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, '', hold, true)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'connection accepted, nothing sent, other work in flight',
    then: 'sends `GET /sweep/hold` 20 ms into the drain',
    run: async (child) => {
      const other = await workInFlight(child)
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, '', hold, true)
      return alongside(await raw.observe(1), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'request line partly sent',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, hold.slice(0, 9), hold.slice(9))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'head partly sent (`GET /sweep/hold HTTP/1.1\\r\\nHost: sweep\\r\\n`)',
    then: 'sends the final CRLF 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, hold.slice(0, -2), '\r\n')
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'head partly sent, other work in flight',
    then: 'sends the final CRLF 20 ms into the drain',
    run: async (child) => {
      const other = await workInFlight(child)
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, hold.slice(0, -2), '\r\n')
      return alongside(await raw.observe(1), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'head partly sent, the client never finishes it',
    then: 'sends nothing more (`headersTimeout` 1 s)',
    child: { env: { SWEEP_HEADERS_TIMEOUT_MS: '1000' } },
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(hold.slice(0, -2))
      await child.awaitRead(raw.localPort, raw.written)
      await child.sigtermAndDrain(0)
      const seen = await raw.observe(1)
      // The one answer a client that never finishes its head can get: the server's own bound, not the deadline's.
      const answered = raw.responses()[0]?.status === 408 && raw.lastDataAt - child.sigtermAt < 2_000
      return { ...seen, problems: seen.problems.filter((p) => !(answered && p === 'answered 408')) }
    },
  })
  sweep.cell(kind, {
    phase: 'head complete, body pending (`POST`, `Content-Length: 11`)',
    then: 'sends the body 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, upload.slice(0, bodyStart), upload.slice(bodyStart))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'body partly sent (5 of 11 bytes)',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, upload.slice(0, bodyStart + 5), upload.slice(bodyStart + 5))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'handler running',
    then: 'waits',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(hold)
      await child.waitStage('handler')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'handler running, the handler sets `Connection: keep-alive` itself',
    then: 'waits',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/sweep/hold?keepalive=1'))
      await child.waitStage('handler')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'response head written (keep-alive, chunked)',
    then: 'reads',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/sweep/hold?stage=head'))
      await child.waitStage('head')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'response body partly written',
    then: 'reads',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/sweep/hold?stage=body'))
      await child.waitStage('body')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
})

describe.concurrent('HTTP/1.1 keep-alive, second request', () => {
  const kind = 'HTTP/1.1 keep-alive, second request'
  const hello = 'POST /hello HTTP/1.1\r\nHost: sweep\r\nContent-Length: 0\r\n\r\n'
  /** A keep-alive connection with its first request answered. */
  const answeredOnce = async (child: SweepChild) => {
    const raw = await RawH1.connect(child.port)
    raw.write(hello)
    await raw.until(1)
    return raw
  }
  sweep.cell(kind, {
    phase: 'response complete, connection idle',
    then: 'waits',
    run: async (child) => {
      const raw = await answeredOnce(child)
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'next request line partly sent',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await answeredOnce(child)
      await splitAtSigterm(child, raw, hold.slice(0, 9), hold.slice(9))
      return raw.observe(2)
    },
  })
  sweep.cell(kind, {
    phase: 'next request head partly sent',
    then: 'sends the final CRLF 20 ms into the drain',
    run: async (child) => {
      const raw = await answeredOnce(child)
      await splitAtSigterm(child, raw, hold.slice(0, -2), '\r\n')
      return raw.observe(2)
    },
  })
  sweep.cell(kind, {
    phase: 'next request: handler running',
    then: 'waits',
    run: async (child) => {
      const raw = await answeredOnce(child)
      raw.write(hold)
      await child.waitStage('handler')
      await child.sigtermAndDrain(0)
      return raw.observe(2)
    },
  })
})

describe.concurrent('HTTP/1.1, three pipelined', () => {
  const kind = 'HTTP/1.1, three pipelined'
  const held = (tag: string, stage = 'handler') => getRequest(`/sweep/hold?stage=${stage}&tag=${tag}`)
  sweep.cell(kind, {
    phase: 'all three read, handlers running',
    then: 'waits',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(held('p1') + held('p2') + held('p3'))
      for (const tag of ['p1', 'p2', 'p3']) await child.waitStage('handler', tag)
      await child.sigtermAndDrain(0)
      return raw.observe(3)
    },
  })
  sweep.cell(kind, {
    phase: 'first response head written, the other two handlers running',
    then: 'reads',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(held('p1', 'head') + held('p2') + held('p3'))
      await child.waitStage('head', 'p1')
      for (const tag of ['p2', 'p3']) await child.waitStage('handler', tag)
      await child.sigtermAndDrain(0)
      return raw.observe(3)
    },
  })
  sweep.cell(kind, {
    phase: 'two read and running, the third request partly sent',
    then: 'sends the rest of the third 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      const third = held('p3')
      // The first two answer 400 ms into the drain: the third's rest arrives while they still run.
      raw.write(getRequest('/sweep/hold?tag=p1&after_ms=400') + getRequest('/sweep/hold?tag=p2&after_ms=400'))
      for (const tag of ['p1', 'p2']) await child.waitStage('handler', tag)
      await splitAtSigterm(child, raw, third.slice(0, 20), third.slice(20), true)
      return raw.observe(3)
    },
  })
})
