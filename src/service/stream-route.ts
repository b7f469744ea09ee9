import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { sendEvents } from '../sse/event-stream.ts'
import type { ServerSentEvent } from '../sse/sse-format.ts'
import { parseStreamRequest, type StreamRequest } from './stream-query.ts'

/**
 * `GET /stream`: a deterministic token stream as Server-Sent Events, the shape of an LLM's output, on
 * lameduck's event-stream API (the API's first user, issue 21). Any replica can continue a stream from
 * `Last-Event-ID`, so at the hand-over (the plugin's `streamHandover`: the notice by default, the drain
 * with `STREAM_HANDOVER=at-drain`) the API tells the client to reconnect and ends cleanly, and the client
 * resumes on another replica. Token k is event k, so the API's numbering is the token's index.
 */
export function streamRoute(fastify: FastifyInstance): void {
  fastify.get('/stream', async (request, reply) => {
    // The query and the header's range are the service's to check; the API checks the header's form.
    const asked = parseStreamRequest(request.query as Record<string, unknown>, request.headers['last-event-id'])
    return sendEvents(reply, ({ lastEventId, signal }) => tokens(asked, lastEventId, signal), { event: 'token' })
  })
}

/**
 * The tokens after `after`, then `done` (no id: it is not a token to resume from). Paced tokens come one
 * a wait; unpaced (`interval_ms=0`) `unpacedBatch` at a time, yielded together and written as one chunk, and the
 * loop still yields between batches so that timers (the hand-over) and other requests run.
 */
async function* tokens(asked: StreamRequest, after: number, stop: AbortSignal): AsyncGenerator<string[] | ServerSentEvent> {
  const perTurn = asked.intervalMs > 0 ? 1 : unpacedBatch
  let index = after
  while (index < asked.tokens) {
    if (index > after) await pause(asked.intervalMs, stop)
    // Handed over or the client left: the API has ended the stream.
    if (stop.aborted) return
    const last = Math.min(index + perTurn, asked.tokens)
    // A batch in one yield: one step of the generator for all of them; each a string, named by the
    // stream's `event: 'token'`, which the API frames without an object per event (bench/sse-api/).
    // Made at its size: pushed one by one, the array is copied as it grows, about 10 ns a token.
    const batch = new Array<string>(last - index)
    for (let k = 0; index < last; k++) batch[k] = `{"index":${++index},"token":"tok-${index}"}`
    yield batch
  }
  yield { id: null, event: 'done', data: `{"tokens":${asked.tokens}}` }
}

const unpacedBatch = 64

/**
 * Waits between batches, ending early at `stop`. With no interval it only yields to the event loop, and
 * without the signal: a turn ends by itself, and handing a signal to a timer costs Node an abort listener
 * added and removed, 3-4 µs a turn (bench/profile/abort-signal-cost.ts). The caller reads `stop.aborted`
 * after each wait either way.
 */
async function pause(ms: number, stop: AbortSignal): Promise<void> {
  if (ms === 0) return yieldToLoop()
  try {
    await sleep(ms, undefined, { signal: stop })
  } catch {
    // Aborted: the caller reads `stop.aborted`.
  }
}
