import { Readable } from 'node:stream'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { DrainNotice } from '../http/drain-notice.ts'
import { doneEvent, reconnectEvent, tokenEvent } from './sse-events.ts'
import { parseStreamRequest, type StreamRequest } from './stream-query.ts'

export interface StreamRouteOptions {
  /** Shortest reconnection delay (`retry:`) sent with `event: reconnect`. */
  readonly reconnectMs: number
  /**
   * The delay is spread at random over this much more: every stream on a replica gets the notice
   * at the same instant, and without a spread all its clients would reconnect in the same millisecond.
   */
  readonly reconnectSpreadMs: number
}

export const defaultStreamRouteOptions: StreamRouteOptions = Object.freeze({ reconnectMs: 1000, reconnectSpreadMs: 1000 })

/**
 * `GET /stream`: a deterministic token stream as Server-Sent Events, the shape of an LLM's output.
 * Any replica can continue a stream from `Last-Event-ID`, so when the drain notice fires a stream
 * tells its client to reconnect and ends cleanly, and the client resumes on another replica.
 */
export function streamRoute(fastify: FastifyInstance, options: StreamRouteOptions = defaultStreamRouteOptions): void {
  fastify.get('/stream', async (request, reply) => {
    const asked = parseStreamRequest(request.query as Record<string, unknown>, request.headers['last-event-id'])
    const stop = stopSignal(request)
    const retryMs = () => options.reconnectMs + Math.floor(Math.random() * options.reconnectSpreadMs)
    reply.header('content-type', 'text/event-stream').header('cache-control', 'no-store')
    // Fastify pipes the stream: a client that reads slowly slows the generator down (backpressure),
    // and one that leaves destroys the stream, which ends the generator.
    return reply.send(Readable.from(events(asked, stop, retryMs)))
  })
}

/**
 * Whole events only, in order; at `stop`, `event: reconnect` and the end. Paced tokens go out one
 * event per chunk. Unpaced (`interval_ms=0`) they go out `unpacedBatch` to a chunk, a write each
 * rather than a write per event, and the loop still yields between chunks so that timers (the
 * notice) and other requests run.
 */
async function* events(asked: StreamRequest, stop: AbortSignal, retryMs: () => number): AsyncGenerator<string> {
  const perChunk = asked.intervalMs > 0 ? 1 : unpacedBatch
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

const unpacedBatch = 64

/**
 * Waits between chunks, ending early at `stop`. With no interval it only yields to the event loop, and
 * without the signal: a turn ends by itself, and handing a signal to a timer costs Node an abort listener
 * added and removed, 3-4 µs a turn, close to a tenth of what a 64-event chunk costs the server here
 * (bench/profile/abort-signal-cost.ts).
 * The caller reads `stop.aborted` after each wait either way.
 */
async function pause(ms: number, stop: AbortSignal): Promise<void> {
  if (ms === 0) return yieldToLoop()
  try {
    await sleep(ms, undefined, { signal: stop })
  } catch {
    // Aborted: the caller reads `stop.aborted`.
  }
}

/**
 * lameduck's per-request drain notice, which also fires when the client goes away. Without
 * lameduck (the benchmark's baseline app) the request has no `lameduck`, and only the client
 * going away (Fastify's `request.signal`) stops the stream.
 */
function stopSignal(request: FastifyRequest): AbortSignal {
  const notice: DrainNotice | undefined = request.lameduck
  return notice ? notice.noticeSignal : request.signal
}
