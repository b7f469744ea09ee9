import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { killServices, startService } from './live-view-process.ts'

interface Received {
  type: string
  sessionId?: string
  parentId?: string
  name?: string
  snapshot?: { value?: unknown; context?: { outcome?: string; workers?: Record<string, unknown> } }
}

/** A relay stand-in: records every message of every process that connects. */
async function receiver() {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await once(server, 'listening')
  const messages: Received[] = []
  const closes: number[] = []
  const sockets: WebSocket[] = []
  server.on('connection', (socket) => {
    sockets.push(socket)
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Received))
    socket.on('close', (code) => closes.push(code))
  })
  const { port } = server.address() as { port: number }
  return {
    url: `ws://127.0.0.1:${port}`,
    messages,
    closes,
    /** Root actors by machine name, as `{ sessionId }` in the order they were announced. */
    actors: (name: string) => messages.filter((m) => m.type === '@xstate.actor' && m.name === name && m.parentId === undefined).map((m) => m.sessionId!),
    values: (sessionId: string) => messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === sessionId).map((m) => m.snapshot?.value),
    close: async () => {
      for (const socket of sockets) socket.terminate()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  killServices()
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

describe('LAMEDUCK_INSPECT_URL with WORKERS=2 (real processes)', () => {
  it("streams the replica's machine from the primary and each worker's lifecycle, each process's sessions apart", async () => {
    const relay = await receiver()
    cleanups.push(relay.close)
    const service = await startService({ WORKERS: '2', LAMEDUCK_INSPECT_URL: relay.url })
    await until(() => relay.actors('replica').length === 1 && relay.values(relay.actors('replica')[0]!).includes('running'), 'the replica running')
    await until(() => relay.actors('lifecycle').length === 2, 'both workers')

    const [replica] = relay.actors('replica')
    // XState numbers sessions per process: every process has an `x:0`. Prefixed, the inspector tells them apart.
    expect(replica).toBe('primary:x:0')
    expect(relay.actors('lifecycle').sort()).toEqual(['worker-1:x:0', 'worker-2:x:0'])

    service.child.kill('SIGTERM')
    expect((await service.exited()).code).toBe(0)

    // The replica's whole drain, its last snapshot sent before the primary exited.
    const replicaValues = relay.values(replica!)
    expect(replicaValues).toContainEqual({ draining: 'waiting' })
    expect(replicaValues.at(-1)).toBe('stopped')
    const last = relay.messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === replica).at(-1)!
    expect(Object.keys(last.snapshot!.context!.workers!).sort()).toEqual(['1', '2'])
    for (const worker of relay.actors('lifecycle')) expect(relay.values(worker).at(-1), worker).toBe('stopped')
    // Three processes, three sockets, each closed with a close handshake.
    expect(relay.closes).toEqual([1000, 1000, 1000])
  })
})
