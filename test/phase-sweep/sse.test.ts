import { describe } from 'vitest'
import { phaseSweep } from '../support/sweep-cell.ts'
import { alongside, getRequest, observeStream, RawH1, workInFlight } from '../support/sweep-http1.ts'

// Issue 18, the phase sweep: the reference service's Server-Sent Events route, `GET /stream`. With
// DRAIN_NOTICE_MS 2500 of a 3000 ms drain, a stream keeps going for 500 ms into the drain, then hands
// over (`event: reconnect`); with the notice at the drain's start (the sweep's default), at once.
const sweep = phaseSweep(['SSE `GET /stream`'])
const kind = 'SSE `GET /stream`'
const noticeLater = { env: { DRAIN_NOTICE_MS: '2500' } }

describe.concurrent(kind, () => {
  sweep.cell(kind, {
    phase: 'request head partly sent',
    then: 'sends the final CRLF 20 ms into the drain',
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      const request = getRequest('/stream?tokens=50&interval_ms=20')
      raw.write(request.slice(0, -2))
      await child.awaitRead(raw.localPort, raw.written)
      await child.sigtermAndDrain()
      raw.write('\r\n')
      return observeStream(raw)
    },
  })
  sweep.cell(kind, {
    phase: 'response head and first token written, the next 300 ms away',
    then: 'reads',
    child: noticeLater,
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/stream?tokens=1000&interval_ms=300'))
      while (!raw.received.includes('id: 1\n')) await new Promise((resolve) => setTimeout(resolve, 5))
      await child.sigtermAndDrain(0)
      return observeStream(raw)
    },
  })
  sweep.cell(kind, {
    phase: 'mid-stream, a token every 20 ms',
    then: 'reads',
    child: noticeLater,
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/stream?tokens=100000&interval_ms=20'))
      while (!raw.received.includes('id: 5\n')) await new Promise((resolve) => setTimeout(resolve, 5))
      await child.sigtermAndDrain(0)
      return observeStream(raw)
    },
  })
  sweep.cell(kind, {
    phase: 'mid-stream, its last tokens due before the notice',
    then: 'reads',
    child: { env: { DRAIN_NOTICE_MS: '1000' } },
    run: async (child) => {
      const raw = await RawH1.connect(child.port)
      raw.write(getRequest('/stream?tokens=10&interval_ms=40'))
      while (!raw.received.includes('id: 3\n')) await new Promise((resolve) => setTimeout(resolve, 5))
      await child.sigtermAndDrain(0)
      return observeStream(raw)
    },
  })
  sweep.cell(kind, {
    phase: 'after the drain notice: connection accepted before SIGTERM, nothing sent, other work in flight',
    then: 'sends `GET /stream` 20 ms into the drain',
    run: async (child) => {
      const other = await workInFlight(child)
      const raw = await RawH1.connect(child.port)
      await child.awaitRead(raw.localPort, 0)
      await child.sigtermAndDrain()
      child.inGrace()
      raw.write(getRequest('/stream?tokens=50&interval_ms=20'))
      return alongside(await observeStream(raw), await other.observe(1))
    },
  })
})
