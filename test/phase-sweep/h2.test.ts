import { describe } from 'vitest'
import { phaseSweep } from '../support/sweep-cell.ts'
import type { SweepChild } from '../support/sweep-child.ts'
import { H2Sweep } from '../support/sweep-h2.ts'
import type { SweepKind } from '../support/sweep-table.ts'
import { sweepCertificate, untilHeld } from '../support/sweep-tls.ts'

// Issue 18, the phase sweep: HTTP/2, cleartext (h2c) and over TLS (with allowHTTP1), one stream and
// several. The client's bytes go through a gate: its preface, a HEADERS frame or a body can be held
// at SIGTERM and sent once the drain has begun.
const certificate = sweepCertificate()
const sweep = phaseSweep(['h2c, one stream', 'h2c, several streams', 'HTTP/2 over TLS, one stream', 'HTTP/2 over TLS, several streams'], certificate)

/** SIGTERM, then 20 ms into the drain the gate lets the held bytes go. */
async function releaseInDrain(child: SweepChild, client: H2Sweep): Promise<void> {
  await child.sigtermAndDrain()
  client.gate.release()
}

for (const transport of ['h2c', 'h2'] as const) {
  const one: SweepKind = transport === 'h2c' ? 'h2c, one stream' : 'HTTP/2 over TLS, one stream'
  const several: SweepKind = transport === 'h2c' ? 'h2c, several streams' : 'HTTP/2 over TLS, several streams'
  const child = { transport }

  describe.concurrent(one, () => {
    sweep.cell(one, {
      phase: transport === 'h2c' ? 'connection accepted, no preface yet' : 'connection accepted, no ClientHello yet',
      then: 'sends its preface and `GET /sweep/hold` 20 ms into the drain',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child, true)
        await child.awaitRead(client.gate.localPort, 0)
        client.request('/sweep/hold')
        await releaseInDrain(child, client)
        return client.observe()
      },
    })
    if (transport === 'h2') {
      sweep.cell(one, {
        phase: 'TLS handshake in progress (ClientHello read, the client\'s Finished held)',
        then: 'finishes the handshake, sends its preface and `GET /sweep/hold` 20 ms into the drain',
        child,
        run: async (child) => {
          const client = await H2Sweep.open(child, true)
          client.request('/sweep/hold')
          await untilHeld(client.gate)
          client.gate.passHeld()
          await child.awaitRead(client.gate.localPort, client.gate.sent)
          await untilHeld(client.gate)
          await releaseInDrain(child, client)
          return client.observe()
        },
      })
    }
    sweep.cell(one, {
      phase: 'preface and SETTINGS only',
      then: 'sends `GET /sweep/hold` (HEADERS) 20 ms into the drain',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        client.gate.hold()
        client.request('/sweep/hold')
        await releaseInDrain(child, client)
        return client.observe()
      },
    })
    sweep.cell(one, {
      phase: 'HEADERS sent, body pending (`POST`)',
      then: 'sends the body 20 ms into the drain',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        const stream = client.request('/sweep/upload', 'POST', '')
        await child.waitForRequest('/sweep/upload')
        await child.sigtermAndDrain()
        stream.end('hello world')
        return client.observe()
      },
    })
    sweep.cell(one, {
      phase: 'handler running',
      then: 'waits',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        client.request('/sweep/hold')
        await child.waitStage('handler')
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
    sweep.cell(one, {
      phase: 'response HEADERS written',
      then: 'reads',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        client.request('/sweep/hold?stage=head')
        await child.waitStage('head')
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
    sweep.cell(one, {
      phase: 'response body partly written',
      then: 'reads',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        client.request('/sweep/hold?stage=body')
        await child.waitStage('body')
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
    sweep.cell(one, {
      phase: 'response complete, session idle',
      then: 'waits',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        const stream = client.request('/hello', 'POST')
        await new Promise((resolve) => stream.once('close', resolve))
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
  })

  describe.concurrent(several, () => {
    sweep.cell(several, {
      phase: 'three handlers running',
      then: 'waits',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        for (const tag of ['s1', 's2', 's3']) client.request(`/sweep/hold?tag=${tag}`)
        for (const tag of ['s1', 's2', 's3']) await child.waitStage('handler', tag)
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
    sweep.cell(several, {
      phase: 'two handlers running, a third stream\'s HEADERS not yet sent',
      then: 'sends the third stream 20 ms into the drain',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        for (const tag of ['s1', 's2']) client.request(`/sweep/hold?tag=${tag}`)
        for (const tag of ['s1', 's2']) await child.waitStage('handler', tag)
        client.gate.hold()
        client.request('/sweep/hold?tag=s3')
        await releaseInDrain(child, client)
        return client.observe()
      },
    })
    sweep.cell(several, {
      phase: 'one response body partly written, one handler running',
      then: 'reads',
      child,
      run: async (child) => {
        const client = await H2Sweep.open(child)
        client.request('/sweep/hold?stage=body&tag=s1')
        client.request('/sweep/hold?tag=s2')
        await child.waitStage('body', 's1')
        await child.waitStage('handler', 's2')
        await child.sigtermAndDrain(0)
        return client.observe()
      },
    })
  })
}
