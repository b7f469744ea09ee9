import { Readable } from 'node:stream'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { parseStreamRequest, type StreamRequest } from '../../src/service/stream-query.ts'

/**
 * `GET /stream` written by hand, as the reference service had it before issue 21 put it on the API: the
 * same query, the same bytes, the same hand-over at the notice. The benchmark's baseline for the API's
 * overhead (bench/sse-api/sse-api-bench.ts).
 */
export function handWrittenStreamRoute(fastify: FastifyInstance): void {
  fastify.get('/stream', async (request, reply) => {
    const asked = parseStreamRequest(request.query as Record<string, unknown>, request.headers['last-event-id'])
    const stop = request.lameduck.noticeSignal
    const retryMs = () => 1000 + Math.floor(Math.random() * 1000)
    reply.header('content-type', 'text/event-stream').header('cache-control', 'no-store').header('x-accel-buffering', 'no')
    return reply.send(Readable.from(events(asked, stop, retryMs)))
  })
}

const tokenEvent = (index: number) => `id: ${index}\nevent: token\ndata: {"index":${index},"token":"tok-${index}"}\n\n`
const doneEvent = (tokens: number) => `event: done\ndata: {"tokens":${tokens}}\n\n`
const reconnectEvent = (last: number, retry: number) => `event: reconnect\nretry: ${retry}\ndata: {"last_event_id":${last},"retry_ms":${retry}}\n\n`

/**
 * The same stream written by hand straight to the response, as `sendEvents` now writes (no Readable, no pipe):
 * one `write` per chunk, waiting for 'drain' only when `write()` returns false. A second baseline, so that what
 * the API gains by writing directly is not counted as the API being cheaper than hand-written code.
 */
export function handWrittenRawStreamRoute(fastify: FastifyInstance): void {
  fastify.get('/stream', async (request, reply) => {
    const asked = parseStreamRequest(request.query as Record<string, unknown>, request.headers['last-event-id'])
    const stop = request.lameduck.noticeSignal
    const retryMs = () => 1000 + Math.floor(Math.random() * 1000)
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    let gone = false
    let wake: (() => void) | null = null
    res.once('close', () => {
      gone = true
      wake?.()
    })
    res.on('drain', () => wake?.())
    const source = events(asked, stop, retryMs)
    for await (const chunk of source) {
      if (gone) return
      if (!res.write(chunk)) await new Promise<void>((resolve) => (wake = resolve))
      wake = null
      if (gone) return
    }
    res.end()
  })
}

/** Whole events; 64 to a chunk when unpaced, one per wait when paced; at `stop`, the reconnect event and the end. */
async function* events(asked: StreamRequest, stop: AbortSignal, retryMs: () => number): AsyncGenerator<string> {
  const perChunk = asked.intervalMs > 0 ? 1 : 64
  let index = asked.after
  while (index < asked.tokens) {
    if (index > asked.after) await pause(asked.intervalMs, stop)
    if (stop.aborted) {
      yield reconnectEvent(index, retryMs())
      return
    }
    let chunk = ''
    const last = Math.min(index + perChunk, asked.tokens)
    while (index < last) chunk += tokenEvent(++index)
    yield chunk
  }
  yield doneEvent(asked.tokens)
}

async function pause(ms: number, stop: AbortSignal): Promise<void> {
  if (ms === 0) return yieldToLoop()
  try {
    await sleep(ms, undefined, { signal: stop })
  } catch {
    // Aborted: the caller reads `stop.aborted`.
  }
}
