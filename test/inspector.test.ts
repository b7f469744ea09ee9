import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { createActor } from 'xstate'
import { resolveOptions } from '../src/http/plugin-options.ts'
import { createLifecycleInspector } from '../src/inspect/lifecycle-inspector.ts'
import { lifecycleMachine } from '../src/machine/lifecycle-machine.ts'
import { killServices, logLines, startService } from './live-view-process.ts'

interface Received {
  type: string
  sessionId?: string
  name?: string
  definition?: string
  snapshot?: { value?: unknown; status?: string; context?: { requests?: { inFlight?: number }; outcome?: string } }
}

/** A relay stand-in: a WebSocket server on a free loopback port that records every message. */
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
    /** The lifecycle actor's state values, in order (its children, startup and idle watch, have their own). */
    values: () => {
      const root = messages.find((m) => m.type === '@xstate.actor' && m.name === 'lifecycle')?.sessionId
      return messages.filter((m) => m.type === '@xstate.snapshot' && m.sessionId === root).map((m) => m.snapshot?.value)
    },
    close: async () => {
      for (const socket of sockets) socket.terminate()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
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

describe('createLifecycleInspector', () => {
  it('sends the actor, its definition and its snapshots with live request counts to the relay', async () => {
    const relay = await receiver()
    cleanups.push(relay.close)
    const inspector = createLifecycleInspector({ url: relay.url })
    const actor = createActor(lifecycleMachine, {
      input: { maxConcurrency: 2, drainTimeoutMs: 1_000, shutdownDelayMs: 0, overCapacity: 'admit' },
      inspect: inspector.inspect,
    })
    actor.start()
    await until(() => relay.values().includes('running'), 'running')
    const work = {}
    actor.getSnapshot().context.requests.begin(work)
    actor.send({ type: 'signal.received', signal: 'SIGTERM' })
    actor.getSnapshot().context.requests.end(work, true)
    await until(() => relay.values().includes('stopped'), 'stopped')

    const registered = relay.messages.find((m) => m.type === '@xstate.actor')
    expect(registered?.name).toBe('lifecycle')
    expect(JSON.parse(registered?.definition ?? '{}')).toMatchObject({ id: 'lifecycle', initial: 'starting' })
    expect(relay.values()).toEqual(['starting', 'running', { draining: 'drain' }, 'stopped'])
    // The count at the transition, not a later one: one request was in flight when the drain began.
    const draining = relay.messages.find((m) => m.type === '@xstate.snapshot' && typeof m.snapshot?.value === 'object' && m.snapshot.value !== null)
    expect(draining?.snapshot?.context?.requests?.inFlight).toBe(1)
    expect(relay.messages.at(-1)?.snapshot?.context?.outcome).toBe('drained')

    await inspector.stop()
    await until(() => relay.closes.length === 1, 'the socket to close')
    expect(relay.closes).toEqual([1000])
  })

  it('keeps events while the relay is down and delivers them when it comes up', async () => {
    const port = await closedPort()
    const inspector = createLifecycleInspector({ url: `ws://127.0.0.1:${port}`, retryMs: 50 })
    cleanups.push(() => inspector.stop())
    const actor = createActor(lifecycleMachine, {
      input: { maxConcurrency: 1, drainTimeoutMs: 1_000, shutdownDelayMs: 0, overCapacity: 'admit' },
      inspect: inspector.inspect,
    })
    actor.start()
    await sleep(120)
    const server = new WebSocketServer({ host: '127.0.0.1', port })
    const messages: Received[] = []
    server.on('connection', (socket) => socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Received)))
    cleanups.push(() => new Promise<void>((resolve) => { for (const c of server.clients) c.terminate(); server.close(() => resolve()) }))
    await until(() => messages.some((m) => m.snapshot?.value === 'running'), 'the buffered snapshots', 3_000)
    expect(messages[0]?.type).toBe('@xstate.actor')
    actor.stop()
  })

  it('is refused by the plugin when it is neither a function nor an observer, naming the option', () => {
    expect(() => resolveOptions({ inspect: 'ws://127.0.0.1:1' })).toThrow(
      'lameduck option "inspect" must be a function (event) => void or an observer { next(event) }; received "ws://127.0.0.1:1"',
    )
  })
})

describe('LAMEDUCK_INSPECT_URL in the reference service (a real process)', () => {
  it('streams the drain to a local receiver and still exits 0 promptly after SIGTERM', async () => {
    const relay = await receiver()
    cleanups.push(relay.close)
    const service = await startService({ LAMEDUCK_INSPECT_URL: relay.url })
    await until(() => relay.values().includes('running'), 'running')

    const inFlight = request(`${service.origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 1_000 }),
    })
    await until(() => service.stdout().includes('incoming request'), 'the request to arrive')
    const signalled = performance.now()
    service.child.kill('SIGTERM')
    const response = await inFlight
    expect(response.statusCode).toBe(200)
    await response.body.dump()
    const exit = await service.exited()

    expect(exit.code).toBe(0)
    expect(exit.at - signalled).toBeLessThan(3_000)
    expect(relay.values()).toEqual(['starting', 'running', { draining: 'drain' }, 'stopped'])
    expect(relay.closes).toEqual([1000])
    expect(service.stderr()).not.toContain('event loop still busy')
  })

  it('exits 0 promptly after SIGTERM with no receiver, having said so once', async () => {
    const port = await closedPort()
    const service = await startService({ LAMEDUCK_INSPECT_URL: `ws://127.0.0.1:${port}` })
    // Long enough for the first reconnection attempt (after 1 s) to fail too.
    await sleep(1_300)
    const signalled = performance.now()
    service.child.kill('SIGTERM')
    const exit = await service.exited()

    expect(exit.code).toBe(0)
    // The library's own inspector never exits here: its retry timer outlives stop().
    expect(exit.at - signalled).toBeLessThan(1_500)
    expect(service.stderr()).not.toContain('event loop still busy')
    const warnings = logLines(service.stdout()).filter((l) => String(l.msg).startsWith('inspector:'))
    expect(warnings.map((l) => l.msg)).toEqual(['inspector: cannot reach the relay; retrying in the background'])
  })
})
