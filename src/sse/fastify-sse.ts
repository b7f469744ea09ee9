import type { FastifyReply } from 'fastify'
import { isHandover, retryDelay, streamTerms } from './handover.ts'
import { parseLastEventId } from './last-event-id.ts'
import { afterIdText, type StreamEvent } from './sse-format.ts'
import type { EventProducer, EventStreamOptions, EventYield } from './event-stream.ts'

/** A message in `@fastify/sse`'s shape (`SSEMessage`): its serializer (JSON by default) writes `data`. */
export interface SseMessage {
  id?: string
  event?: string
  data: unknown
  retry?: number
}

/** What lameduck uses of `reply.sse` (`@fastify/sse`); typed here so that lameduck does not depend on it. */
interface SseReply {
  send(message: SseMessage): Promise<void>
  close(): void
}

/**
 * The producer's events for `@fastify/sse`, with lameduck's hand-over: `return reply.sse.send(sseEvents(reply, produce))`
 * in a route registered with `{ sse: true }` (or `'only'`, `'manual'`). As with `sendEvents`: `Last-Event-ID`
 * validated (a 400 naming it, before anything is sent), each event stamped with its number as `id`, and at the
 * policy's moment `event: reconnect` with a spread `retry:` and the response's clean end. `@fastify/sse` writes
 * the events: its serializer turns each `data` into text, a string too (JSON by default).
 */
export function sseEvents(reply: FastifyReply, produce: EventProducer, options?: EventStreamOptions): AsyncIterable<SseMessage> {
  const lastEventId = parseLastEventId(reply.request.headers['last-event-id'])
  // Checked as sendEvents checks it, before anything is sent.
  afterIdText(options?.event)
  return { [Symbol.asyncIterator]: () => messages(reply, produce, lastEventId, options) }
}

async function* messages(reply: FastifyReply, produce: EventProducer, lastEventId: number, options: EventStreamOptions | undefined): AsyncGenerator<SseMessage> {
  const sse = (reply as unknown as { sse?: SseReply }).sse
  if (sse === undefined) throw new TypeError('sseEvents: reply.sse is missing; register @fastify/sse and give the route the `sse` option')
  const terms = streamTerms(reply, options, (listener) => reply.raw.once('close', listener))
  let lastId = lastEventId
  let over = false
  // At the moment itself, not at the next event: a producer may be waiting for a slow model.
  // The stamped events @fastify/sse has taken are written already (its writes are synchronous).
  const handOver = () => {
    if (over || !isHandover(terms.signal)) return
    over = true
    const retry = retryDelay(terms.reconnect)
    sse.send({ event: terms.reconnect.event, data: { last_event_id: lastId, retry_ms: retry }, retry }).catch(() => {})
    sse.close()
  }
  if (terms.signal.aborted) handOver()
  else terms.signal.addEventListener('abort', handOver, { once: true })
  if (over) return
  // The stream's name for events that name none (`options.event`), as sendEvents writes them.
  const name = options?.event
  const message = (event: StreamEvent): SseMessage => {
    const named = typeof event === 'string' ? name : (event.event ?? name)
    const data = typeof event === 'string' ? event : event.data
    const id = typeof event !== 'string' && event.id === null ? undefined : String(++lastId)
    return { ...(id === undefined ? {} : { id }), ...(named === undefined ? {} : { event: named }), data }
  }
  for await (const value of produce({ lastEventId, signal: terms.signal }) as AsyncIterable<EventYield>) {
    if (!Array.isArray(value)) {
      if (over || terms.signal.aborted) return
      yield message(value as StreamEvent)
      continue
    }
    for (const event of value as readonly StreamEvent[]) {
      if (over || terms.signal.aborted) return
      yield message(event)
    }
  }
}
