import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { type HandoverOptions, isHandover, retryDelay, type StreamTerms, streamTerms } from './handover.ts'
import { parseLastEventId } from './last-event-id.ts'
import { PendingEvents } from './pending-events.ts'
import { reconnectEvent, type StreamEvent } from './sse-format.ts'

/** What a producer is started with. */
export interface EventStreamStart {
  /**
   * The number of the last event the client received (`Last-Event-ID`, validated), 0 from the start.
   * The next event the producer yields is stamped `lastEventId + 1`: start the work there.
   */
  readonly lastEventId: number
  /**
   * Aborted when the stream is handed over (its policy's moment) or its client leaves. Pass it to what
   * the producer awaits (a model's generate loop, `fetch`, a timer); the API stops pulling events then.
   */
  readonly signal: AbortSignal
}

/**
 * What a producer yields: one event, or several it has at hand at once (they go out in one chunk, for
 * the cost of one step of the generator rather than one each).
 */
export type EventYield = StreamEvent | readonly StreamEvent[]

/** Makes a stream's events: an async generator, or anything iterable (an object-mode Readable too). */
export type EventProducer = (start: EventStreamStart) => AsyncIterable<EventYield> | Iterable<EventYield>

export interface EventStreamOptions extends HandoverOptions {
  /**
   * The name of the events that name none (bare strings, and objects without `event`): `event: token` on
   * each of them without an object per event. Left out, they are the client's `message` events.
   */
  readonly event?: string
}

/**
 * Answers the request with the producer's events as Server-Sent Events, and hands the stream over to
 * another replica when its policy says (issue 21). `return sendEvents(reply, produce)` in a handler:
 * - the headers (`text/event-stream`, `no-store`), then each event whole, stamped with its number as
 *   `id:` so that a client can resume with `Last-Event-ID` (a malformed one is a 400 naming it);
 * - the client sets the pace: Fastify pipes the events, and the producer is not asked for more while
 *   the response is full;
 * - at the hand-over, `event: reconnect` with a `retry:` spread at random over `spreadMs`, then the
 *   response's clean end; the producer's signal aborts and its iterator is closed.
 * The stream is a request: `/ready` counts it in `active_requests` and `open_streams`.
 */
export function sendEvents(reply: FastifyReply, produce: EventProducer, options?: EventStreamOptions): FastifyReply {
  const lastEventId = parseLastEventId(reply.request.headers['last-event-id'])
  const stream = new EventStream(reply, produce, lastEventId, options)
  reply.header('content-type', 'text/event-stream').header('cache-control', 'no-store').header('x-accel-buffering', 'no')
  return reply.send(stream)
}

/**
 * Events gathered in one turn of the event loop go out as one chunk: a producer that yields many at
 * once (and then waits for a timer or I/O) costs one write, not one per event. Past this many
 * characters a chunk goes out at once, so a producer that never waits is still bounded.
 */
const chunkLimit = 16 * 1024

class EventStream extends Readable {
  readonly #iterator: AsyncIterator<EventYield> | Iterator<EventYield>
  readonly #terms: StreamTerms
  /** The events taken and not yet pushed, as text. */
  readonly #pending: PendingEvents
  #closed: (() => void) | null = null
  #flushQueued = false
  #pumping = false
  /** The consumer asked for no more for now (push returned false). */
  #full = false
  /** Nothing more is pushed: ended, handed over, failed or destroyed. */
  #over = false
  /** The producer finished by itself: nothing to close. */
  #exhausted = false

  constructor(reply: FastifyReply, produce: EventProducer, lastEventId: number, options: EventStreamOptions | undefined) {
    // Object mode, as `Readable.from` makes it: strings go to the response as they are, not copied into Buffers.
    super({ objectMode: true })
    this.#pending = new PendingEvents(options?.event, lastEventId)
    this.#terms = streamTerms(reply, options, (listener) => (this.#closed = listener))
    const signal = this.#terms.signal
    const source = produce({ lastEventId, signal })
    this.#iterator =
      Symbol.asyncIterator in source ? (source as AsyncIterable<EventYield>)[Symbol.asyncIterator]() : (source as Iterable<EventYield>)[Symbol.iterator]()
    if (signal.aborted) queueMicrotask(() => this.#onAbort())
    else signal.addEventListener('abort', () => this.#onAbort(), { once: true })
  }

  override _read(): void {
    this.#full = false
    if (!this.#pumping && !this.#over) void this.#pump()
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      while (!this.#full) {
        const step = await this.#iterator.next()
        if (this.#over) return
        if (step.done === true) {
          this.#exhausted = true
          this.#end('')
          return
        }
        this.#pending.add(step.value)
        if (this.#pending.length >= chunkLimit) this.#flush()
        else if (!this.#flushQueued) {
          this.#flushQueued = true
          process.nextTick(flushLater, this)
        }
      }
    } catch (error) {
      // The producer failed: not a hand-over. The response is cut, and the client sees an error.
      this.#exhausted = true
      if (!this.#over) {
        this.#over = true
        this.destroy(error as Error)
      }
    } finally {
      this.#pumping = false
    }
  }

  flush(): void {
    this.#flushQueued = false
    this.#flush()
  }

  #flush(): void {
    if (this.#over || this.#pending.length === 0) return
    if (!this.push(this.#pending.take())) this.#full = true
  }

  #end(last: string): void {
    this.#over = true
    const chunk = this.#pending.take() + last
    if (chunk !== '') this.push(chunk)
    this.push(null)
  }

  #onAbort(): void {
    if (this.#over || !isHandover(this.#terms.signal)) return
    const { reconnect } = this.#terms
    this.#end(reconnectEvent(reconnect.event, this.#pending.lastId, retryDelay(reconnect)))
    this.#closeIterator()
  }

  #closeIterator(): void {
    if (this.#exhausted) return
    this.#exhausted = true
    // An async generator that is running takes this when it next yields; its signal is aborted already.
    Promise.resolve(this.#iterator.return?.()).catch(() => {})
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#over = true
    this.#closeIterator()
    this.#closed?.()
    callback(error)
  }
}

function flushLater(stream: EventStream): void {
  stream.flush()
}
