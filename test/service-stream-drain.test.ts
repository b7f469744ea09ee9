import { once } from 'node:events'
import { connect } from 'node:net'
import { Agent } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeChunked } from './support/chunked-body.ts'
import { waitUntil } from './support/plugin-harness.ts'
import { type ServiceProcess, startService } from './support/service-process.ts'
import { readStream, streamProblems } from './support/sse-client.ts'

// GET /stream during a drain, on the built service in child processes (real SIGTERM, real exit codes).
let services: ServiceProcess[] = []
afterEach(() => {
  for (const service of services) service.kill()
  services = []
})
const start = async (env: Record<string, string>) => {
  const service = await startService(env)
  services.push(service)
  return service
}

const tokenEvent = (i: number) => `id: ${i}\nevent: token\ndata: {"index":${i},"token":"tok-${i}"}\n\n`

describe('GET /stream at SIGTERM', () => {
  it('keeps streaming until the notice, then sends event: reconnect and ends with the chunked terminator: no reset, exit 0', async () => {
    // The notice fires DRAIN_TIMEOUT_MS - DRAIN_NOTICE_MS = 1 s into the drain.
    const service = await start({ DRAIN_TIMEOUT_MS: '4000', DRAIN_NOTICE_MS: '3000', MAX_CONCURRENCY: '4' })
    const socket = connect({ port: service.port, host: '127.0.0.1' })
    await once(socket, 'connect')
    socket.setEncoding('latin1')
    let received = ''
    let error: Error | null = null
    let ended = false
    let reconnectAt = 0
    socket.on('data', (chunk: string) => {
      received += chunk
      if (!reconnectAt && received.includes('event: reconnect')) reconnectAt = performance.now()
    })
    socket.on('error', (e) => (error = e))
    socket.on('end', () => (ended = true))
    socket.write('GET /stream?tokens=100000&interval_ms=20 HTTP/1.1\r\nHost: test\r\n\r\n')
    await waitUntil(() => received.includes('id: 5\n'))

    const tokensBefore = received.split('event: token').length - 1
    const sigtermAt = performance.now()
    service.child.kill('SIGTERM')
    await once(socket, 'close')
    const exit = await service.exited

    expect(error).toBeNull()
    expect(ended).toBe(true)
    const head = received.slice(0, received.indexOf('\r\n\r\n'))
    expect(head).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(head.toLowerCase()).toContain('transfer-encoding: chunked')
    const body = decodeChunked(received.slice(head.length + 4))
    expect(body.terminated).toBe(true)
    expect(body.rest).toBe('')
    // Never cut mid-event: every chunk is whole events.
    for (const chunk of body.chunks) expect(chunk.endsWith('\n\n')).toBe(true)

    const last = body.chunks.at(-1)!
    const match = /^event: reconnect\nretry: (\d+)\ndata: \{"last_event_id":(\d+),"retry_ms":(\d+)\}\n\n$/.exec(last)
    expect(match, last).not.toBeNull()
    const [retry, lastId, retryInData] = match!.slice(1).map(Number) as [number, number, number]
    expect(retry).toBe(retryInData)
    expect(retry).toBeGreaterThanOrEqual(1000)
    expect(retry).toBeLessThan(2000)
    // Every token from 1 to the last id, once, in order, and nothing else before the reconnect.
    expect(body.chunks.slice(0, -1).join('')).toBe(Array.from({ length: lastId }, (_, k) => tokenEvent(k + 1)).join(''))
    // It kept going through the first second of the drain (about 50 tokens at 20 ms; a loaded machine sends fewer).
    expect(lastId - tokensBefore).toBeGreaterThanOrEqual(10)
    expect(reconnectAt - sigtermAt).toBeGreaterThanOrEqual(900)
    // ...and handed over well before the deadline, so the drain ended clean.
    expect(reconnectAt - sigtermAt).toBeLessThan(3_500)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.at - sigtermAt).toBeLessThan(3_900)
  }, 20_000)

  it('with STREAM_HANDOVER=at-drain hands the stream over as the drain begins, not at the notice; exit 0 well before the deadline', async () => {
    // The notice would come 3 s into the 4 s drain.
    const service = await start({ DRAIN_TIMEOUT_MS: '4000', DRAIN_NOTICE_MS: '1000', MAX_CONCURRENCY: '4', STREAM_HANDOVER: 'at-drain' })
    const response = await fetch(`${service.origin}/stream?tokens=100000&interval_ms=20`)
    const reader = response.body!.getReader()
    let text = ''
    let sigtermAt = 0
    let reconnectAt = 0
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      text += Buffer.from(value).toString()
      if (!sigtermAt && text.includes('id: 3\n')) {
        sigtermAt = performance.now()
        service.child.kill('SIGTERM')
      }
      if (!reconnectAt && text.includes('event: reconnect')) reconnectAt = performance.now()
    }
    const exit = await service.exited
    expect(text.trimEnd().split('\n\n').at(-1)).toMatch(/^event: reconnect\nretry: \d+\ndata: \{"last_event_id":\d+,"retry_ms":\d+\}$/)
    expect(reconnectAt - sigtermAt).toBeLessThan(2_000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.at - sigtermAt).toBeLessThan(3_000)
  }, 20_000)

  it('an EventSource client resumes on a second instance with Last-Event-ID and gets every token exactly once, in order', async () => {
    const [a, b] = await Promise.all([
      start({ DRAIN_TIMEOUT_MS: '2000', DRAIN_NOTICE_MS: '1500', MAX_CONCURRENCY: '4' }),
      start({ DRAIN_TIMEOUT_MS: '2000', DRAIN_NOTICE_MS: '1500', MAX_CONCURRENCY: '4' }),
    ])
    // A balancer of one line: new connections go to the replica in rotation.
    let target = a!.port
    const balancer = new Agent({
      connect: (_options, callback) => {
        const socket = connect({ port: target, host: '127.0.0.1' })
        socket.once('connect', () => callback(null, socket))
        socket.once('error', (e) => callback(e, null))
      },
    })
    const tokens = 60
    const reading = readStream(`${a!.origin}/stream?tokens=${tokens}&interval_ms=50`, {
      dispatcher: balancer,
      timeoutMs: 20_000,
      onToken: (index) => {
        if (index !== 10) return
        // Out of rotation, then SIGTERM: the platform's order (Cerebrium).
        target = b!.port
        a!.child.kill('SIGTERM')
      },
    })
    const result = await reading
    await balancer.close()

    expect(streamProblems(result, tokens)).toEqual([])
    expect(result.handovers).toBe(1)
    expect(await a!.exited).toMatchObject({ code: 0, signal: null })
    // The first instance streamed past token 10 during its drain, the second took over from where it stopped.
    const resumedWith = b!.logs.find((l) => (l.req as { url?: string } | undefined)?.url?.startsWith('/stream'))
    expect(resumedWith).toBeDefined()
  }, 30_000)
})
