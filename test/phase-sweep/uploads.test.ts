import { describe } from 'vitest'
import { phaseSweep } from '../support/sweep-cell.ts'
import type { SweepChild } from '../support/sweep-child.ts'
import { postRequest, RawH1 } from '../support/sweep-http1.ts'

// Issue 18, the phase sweep: SIGTERM while a request body is on its way, chunked or large.
const sweep = phaseSweep(['HTTP/1.1 chunked upload', 'HTTP/1.1 large body'])

/** Writes `before`, waits until the server has read all of it, SIGTERM, then (20 ms into the drain) writes `after`. */
async function splitAtSigterm(child: SweepChild, raw: RawH1, before: string, after: string): Promise<void> {
  raw.write(before)
  await child.awaitRead(raw.localPort, raw.written)
  await child.sigtermAndDrain()
  raw.write(after)
}

const chunkedHead = 'POST /sweep/upload HTTP/1.1\r\nHost: sweep\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'
const chunk = (data: string) => `${data.length.toString(16)}\r\n${data}\r\n`
const chunkedBody = chunk('first part ') + chunk('second part ') + chunk('third part') + '0\r\n\r\n'

describe.concurrent('HTTP/1.1 chunked upload', () => {
  const kind = 'HTTP/1.1 chunked upload'
  sweep.cell(kind, {
    phase: 'head complete, no chunk sent',
    then: 'sends the three chunks and the terminator 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, chunkedHead, chunkedBody)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'body partly sent: one whole chunk of three',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      const first = chunk('first part ').length
      await splitAtSigterm(child, raw, chunkedHead + chunkedBody.slice(0, first), chunkedBody.slice(first))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'body partly sent: in the middle of a chunk',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      const middle = chunk('first part ').length + 8
      await splitAtSigterm(child, raw, chunkedHead + chunkedBody.slice(0, middle), chunkedBody.slice(middle))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'every chunk sent, the terminator not',
    then: 'sends the terminator 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, chunkedHead + chunkedBody.slice(0, -5), chunkedBody.slice(-5))
      return raw.observe(1)
    },
  })
})

describe.concurrent('HTTP/1.1 large body', () => {
  const kind = 'HTTP/1.1 large body'
  // 768 KiB: under the service's 1 MiB limit, far over a socket buffer.
  const large = postRequest('/sweep/upload', 'x'.repeat(768 * 1024))
  const bodyStart = large.indexOf('\r\n\r\n') + 4
  sweep.cell(kind, {
    phase: 'body partly sent: 384 of 768 KiB',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      const half = bodyStart + 384 * 1024
      await splitAtSigterm(child, raw, large.slice(0, half), large.slice(half))
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'body partly sent: all but the last byte',
    then: 'sends the last byte 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      await splitAtSigterm(child, raw, large.slice(0, -1), large.slice(-1))
      return raw.observe(1)
    },
  })
})
