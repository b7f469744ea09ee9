import { once } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { waitUntil } from './support/plugin-harness.ts'
import { type ServiceProcess, startService } from './support/service-process.ts'

// GET /ws during a drain, on the built service in a child process (real SIGTERM, real exit code).
let service: ServiceProcess | undefined
afterEach(() => service?.kill())

interface Session {
  socket: WebSocket
  echoes: Array<{ echo: string; seq: number }>
  sent: number
  closed: Promise<{ code: number; reason: string; at: number }>
}

async function open(origin: string): Promise<Session> {
  const socket = new WebSocket(`${origin.replace('http:', 'ws:')}/ws`)
  const session: Session = {
    socket,
    echoes: [],
    sent: 0,
    closed: once(socket, 'close').then(([code, reason]) => ({ code: code as number, reason: String(reason), at: performance.now() })),
  }
  socket.on('message', (data) => session.echoes.push(JSON.parse(String(data)) as { echo: string; seq: number }))
  await once(socket, 'open')
  return session
}

describe('GET /ws at SIGTERM', () => {
  it('every open session gets 1012 "draining" while it keeps sending, its answers in order with none skipped; the drain is not held; exit 0', async () => {
    service = await startService({ DRAIN_TIMEOUT_MS: '20000', MAX_CONCURRENCY: '16' })
    const sessions = await Promise.all(Array.from({ length: 10 }, () => open(service!.origin)))
    // Each client sends every 10 ms until its session closes.
    const senders = sessions.map((s, i) =>
      setInterval(() => {
        if (s.socket.readyState !== WebSocket.OPEN) return
        s.sent += 1
        s.socket.send(`c${i}-${s.sent}`)
      }, 10),
    )
    await waitUntil(() => sessions.every((s) => s.echoes.length >= 3))

    const sigtermAt = performance.now()
    service.child.kill('SIGTERM')
    const closes = await Promise.all(sessions.map((s) => s.closed))
    for (const timer of senders) clearInterval(timer)
    const exit = await service.exited

    for (const [i, close] of closes.entries()) {
      expect(close, `session ${i}`).toMatchObject({ code: 1012, reason: 'draining' })
      // Answers in order, none skipped: seq n echoes the n-th message.
      const echoes = sessions[i]!.echoes
      expect(echoes.map((e) => e.seq)).toEqual(echoes.map((_, k) => k + 1))
      expect(echoes.map((e) => e.echo)).toEqual(echoes.map((_, k) => `c${i}-${k + 1}`))
    }
    expect(exit).toMatchObject({ code: 0, signal: null })
    // Spread over the default 1 s window, then closed: far from the 20 s deadline.
    expect(exit.at - sigtermAt).toBeLessThan(5_000)
  }, 20_000)
})
