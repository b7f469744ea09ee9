import { connect } from 'node:net'
import { afterEach, expect, it } from 'vitest'
import { ChildService, fixturesDir } from './support/reliability-child.ts'

const repeats = 20
let child: ChildService | undefined
afterEach(async () => child?.stop())

/** Opens a connection, sends `bytes`, waits `afterMs` (or for the first response bytes), then resets it. */
function abortAfter(port: number, bytes: string, afterMs: number, onFirstData = false): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    const cut = () => {
      socket.resetAndDestroy()
      resolve()
    }
    socket.on('error', () => {})
    socket.on('connect', () => {
      socket.write(bytes)
      if (onFirstData) socket.once('data', () => setTimeout(cut, afterMs))
      else setTimeout(cut, afterMs)
    })
  })
}

const hello = (body: string, declaredLength = Buffer.byteLength(body)) =>
  `POST /hello HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${declaredLength}\r\n\r\n${body}`

it(`a client that aborts at every stage, ${repeats} times each, is counted once and the count returns to 0`, async () => {
  const service = new ChildService(`${fixturesDir}faulty-service.ts`, { MAX_CONCURRENCY: '200' })
  child = service
  await service.listening()
  await service.waitForPhase('running')
  const port = service.port

  const stages = {
    // Never reaches the handler: no request exists yet, nothing to count.
    'before the headers are complete': () => abortAfter(port, 'POST /hello HTTP/1.1\r\nHost: te', 50),
    // Admitted at onRequest, then the body never comes.
    'in the middle of the body': () => abortAfter(port, hello('{"name":"ha', 40), 100),
    // The handler is working (work_ms) when the client leaves.
    'while the handler works': () => abortAfter(port, hello('{"work_ms":2000}'), 150),
    // The response has started streaming.
    'while the response streams': () => abortAfter(port, 'GET /endless HTTP/1.1\r\nHost: test\r\n\r\n', 30, true),
  }
  for (const abort of Object.values(stages)) await Promise.all(Array.from({ length: repeats }, abort))

  const deadline = Date.now() + 5_000
  let ready: { status: string; active_requests: number } = { status: '', active_requests: -1 }
  while (Date.now() < deadline) {
    ready = (await (await fetch(`${service.origin}/ready`)).json()) as typeof ready
    if (ready.active_requests === 0) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  expect(ready).toMatchObject({ status: 'ready', active_requests: 0 })

  service.signal('SIGTERM')
  expect((await service.exit()).code).toBe(0)
  // Three admitted stages aborted, each request exactly once; the first stage never became a request.
  expect(await service.waitForPhase('stopped')).toMatchObject({
    outcome: 'drained',
    in_flight: 0,
    aborted: 3 * repeats,
    completed: 0,
  })
})

// Hard case: the drain waits only for requests that still have a client. When the clients of
// the in-flight requests leave, the drain ends at once, not at the deadline.
it('clients that abort during the drain end it at once: drained, exit 0, long before the deadline', async () => {
  const service = new ChildService(`${fixturesDir}faulty-service.ts`, { MAX_CONCURRENCY: '50', DRAIN_TIMEOUT_MS: '20000' })
  child = service
  await service.listening()
  await service.waitForPhase('running')
  const aborts = Array.from({ length: 10 }, () => abortAfter(service.port, hello('{"work_ms":15000}'), 600))
  await new Promise((resolve) => setTimeout(resolve, 200))
  const signalled = Date.now()
  service.signal('SIGTERM')
  await service.waitForPhase('draining.drain')
  await Promise.all(aborts)
  const exit = await service.exit()
  expect(exit.code).toBe(0)
  expect(Date.now() - signalled).toBeLessThan(5_000)
  expect(await service.waitForPhase('stopped')).toMatchObject({ outcome: 'drained', aborted: 10, abandoned: 0, in_flight: 0 })
})
