import { describe } from 'vitest'
import { GatedSocket } from '../support/gated-socket.ts'
import { phaseSweep } from '../support/sweep-cell.ts'
import type { SweepChild } from '../support/sweep-child.ts'
import { alongside, getRequest, RawH1 } from '../support/sweep-http1.ts'
import { secured, sweepCertificate, tlsOver, untilHeld } from '../support/sweep-tls.ts'

// Issue 18, the phase sweep: HTTP/1.1 over TLS, the handshake included. The client's TCP bytes go
// through a gate, so it can be stopped before its ClientHello or in the middle of the handshake.
const certificate = sweepCertificate()
const sweep = phaseSweep(['HTTPS (HTTP/1.1 over TLS)'], certificate)
const kind = 'HTTPS (HTTP/1.1 over TLS)'
const https = { transport: 'https' } as const
const hold = getRequest('/sweep/hold')

/** A TLS connection with its handshake done and the server caught up. */
async function handshaken(child: SweepChild): Promise<{ gate: GatedSocket; raw: RawH1 }> {
  const gate = await GatedSocket.connect(child.port)
  const tls = tlsOver(gate, certificate().ca)
  const raw = new RawH1(tls, gate)
  await secured(tls)
  return { gate, raw }
}

/** Other work in flight on a TLS connection of its own: a handler held until 400 ms into the drain. */
async function tlsWorkInFlight(child: SweepChild): Promise<RawH1> {
  const { raw } = await handshaken(child)
  raw.write(getRequest('/sweep/hold?tag=other&after_ms=400'))
  await child.waitStage('handler', 'other')
  return raw
}

/** Stops a client before its ClientHello (`nothing`) or with its Finished held (`handshake`), then goes on in the drain. */
async function stopInHandshake(child: SweepChild, at: 'nothing' | 'handshake'): Promise<RawH1> {
  const gate = await GatedSocket.connect(child.port)
  gate.hold()
  await child.awaitRead(gate.localPort, 0)
  const raw = new RawH1(tlsOver(gate, certificate().ca), gate)
  raw.write(hold)
  if (at === 'handshake') {
    await untilHeld(gate)
    gate.passHeld()
    await child.awaitRead(gate.localPort, gate.sent)
    // The server's flight arrives and the client's answer to it waits in the gate.
    await untilHeld(gate)
  }
  await child.sigtermAndDrain()
  // The connection becomes HTTP once the handshake ends, and then gets the first-request grace.
  child.inGrace()
  gate.release()
  return raw
}

describe.concurrent(kind, () => {
  sweep.cell(kind, {
    phase: 'connection accepted, no ClientHello yet, nothing else in flight',
    then: 'handshakes and sends `GET /sweep/hold` 20 ms into the drain',
    child: https,
    run: async (child) => (await stopInHandshake(child, 'nothing')).observe(1),
  })
  sweep.cell(kind, {
    phase: 'connection accepted, no ClientHello yet, other work in flight',
    then: 'handshakes and sends `GET /sweep/hold` 20 ms into the drain',
    child: https,
    run: async (child) => {
      const other = await tlsWorkInFlight(child)
      const raw = await stopInHandshake(child, 'nothing')
      return alongside(await raw.observe(1), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'TLS handshake in progress (ClientHello read, the client\'s Finished held), nothing else in flight',
    then: 'finishes the handshake and sends `GET /sweep/hold` 20 ms into the drain',
    child: https,
    run: async (child) => (await stopInHandshake(child, 'handshake')).observe(1),
  })
  sweep.cell(kind, {
    phase: 'TLS handshake in progress, other work in flight',
    then: 'finishes the handshake and sends `GET /sweep/hold` 20 ms into the drain',
    child: https,
    run: async (child) => {
      const other = await tlsWorkInFlight(child)
      const raw = await stopInHandshake(child, 'handshake')
      return alongside(await raw.observe(1), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'head partly sent',
    then: 'sends the final CRLF 20 ms into the drain',
    child: https,
    run: async (child) => {
      const { gate, raw } = await handshaken(child)
      raw.write(hold.slice(0, -2))
      await child.awaitRead(gate.localPort, gate.sent)
      await child.sigtermAndDrain()
      raw.write('\r\n')
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'handler running',
    then: 'waits',
    child: https,
    run: async (child) => {
      const { raw } = await handshaken(child)
      raw.write(hold)
      await child.waitStage('handler')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'response body partly written',
    then: 'reads',
    child: https,
    run: async (child) => {
      const { raw } = await handshaken(child)
      raw.write(getRequest('/sweep/hold?stage=body'))
      await child.waitStage('body')
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
  sweep.cell(kind, {
    phase: 'response complete, connection idle',
    then: 'waits',
    child: https,
    run: async (child) => {
      const { raw } = await handshaken(child)
      raw.write('POST /hello HTTP/1.1\r\nHost: sweep\r\nContent-Length: 0\r\n\r\n')
      await raw.until(1)
      await child.sigtermAndDrain(0)
      return raw.observe(1)
    },
  })
})
