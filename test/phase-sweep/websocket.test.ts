import { describe } from 'vitest'
import { phaseSweep } from '../support/sweep-cell.ts'
import type { SweepChild } from '../support/sweep-child.ts'
import { alongside, workInFlight } from '../support/sweep-http1.ts'
import { WsSweep } from '../support/sweep-ws.ts'

// Issue 18, the phase sweep: the reference service's WebSocket echo, `GET /ws`. The client's bytes go
// through a gate, so its upgrade request or a frame can be held half-way at SIGTERM.
const sweep = phaseSweep(['WebSocket `GET /ws`'])
const kind = 'WebSocket `GET /ws`'

/** Waits until the client has written into the gate what the gate now holds. */
async function untilHeld(client: WsSweep): Promise<void> {
  while (client.gate.heldBytes === 0) await new Promise((resolve) => setTimeout(resolve, 2))
}

/** The upgrade request held after `passBytes` (the server has read those), SIGTERM, the rest 20 ms into the drain. */
async function upgradeAcrossSigterm(child: SweepChild, passBytes: number): Promise<WsSweep> {
  const client = await WsSweep.open(child, true, passBytes)
  await untilHeld(client)
  await child.awaitRead(client.gate.localPort, client.gate.sent)
  await child.sigtermAndDrain()
  // Within the first-request grace, and while the other work (if any) is still in flight.
  child.inGrace()
  client.gate.release()
  return client
}

describe.concurrent(kind, () => {
  sweep.cell(kind, {
    phase: 'connection accepted, nothing sent, nothing else in flight',
    then: 'sends its upgrade request 20 ms into the drain',
    run: async (child) => (await upgradeAcrossSigterm(child, 0)).observe(),
  })
  sweep.cell(kind, {
    phase: 'connection accepted, nothing sent, other work in flight',
    then: 'sends its upgrade request 20 ms into the drain',
    run: async (child) => {
      const other = await workInFlight(child)
      const client = await upgradeAcrossSigterm(child, 0)
      return alongside(await client.observe(), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'upgrade request in flight (its head partly sent)',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => (await upgradeAcrossSigterm(child, 30)).observe(),
  })
  sweep.cell(kind, {
    phase: 'upgrade request in flight, other work in flight',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const other = await workInFlight(child)
      const client = await upgradeAcrossSigterm(child, 30)
      return alongside(await client.observe(), await other.observe(1))
    },
  })
  sweep.cell(kind, {
    phase: 'WebSocket open and idle',
    then: 'waits',
    run: async (child) => {
      const client = await WsSweep.open(child)
      await child.sigtermAndDrain(0)
      return client.observe()
    },
  })
  sweep.cell(kind, {
    phase: 'WebSocket mid-message (a text frame partly sent)',
    then: 'sends the rest 20 ms into the drain',
    run: async (child) => {
      const client = await WsSweep.open(child)
      // 2 bytes of header, 4 of mask, 4 of the 11-byte payload.
      client.gate.holdAfter(10)
      client.ws.send('hello world')
      await untilHeld(client)
      await child.awaitRead(client.gate.localPort, client.gate.sent)
      await child.sigtermAndDrain()
      client.gate.release()
      const seen = await client.observe()
      return { ...seen, sees: `${seen.sees}, the message ${client.echoes > 0 ? 'echoed' : 'not echoed'}` }
    },
  })
  sweep.cell(kind, {
    phase: 'WebSocket closing: the server sent 1003 for a binary frame, the client never answers the close',
    then: 'waits (goodbye `closeTimeoutMs` 500)',
    child: { env: { SWEEP_WS_CLOSE_TIMEOUT_MS: '500' } },
    run: async (child) => {
      const client = await WsSweep.open(child)
      // The binary frame (2 + 4 + 1 bytes) goes out; the client's answer to the server's close is held.
      client.gate.holdAfter(7)
      client.ws.send(Buffer.from([1]))
      await untilHeld(client)
      await child.sigtermAndDrain(0)
      const seen = await client.observe([1003])
      const afterSigterm = (client.close?.at ?? Number.POSITIVE_INFINITY) - child.sigtermAt
      if (afterSigterm > 1_500) seen.problems.push(`the server held the closing session ${Math.round(afterSigterm)} ms after SIGTERM`)
      const bound = afterSigterm > 1_500 ? 'held past `closeTimeoutMs`' : 'closed within `closeTimeoutMs`'
      return { ...seen, sees: `${seen.sees} (its own, before SIGTERM), connection ${bound}` }
    },
  })
})
