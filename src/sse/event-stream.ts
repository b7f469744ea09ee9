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
 * - the client sets the pace: the events are written to the response, and the producer is not asked for
 *   more while the response is full (`write()` returned false) until it drains;
 * - at the hand-over, `event: reconnect` with a `retry:` spread at random over `spreadMs`, then the
 *   response's clean end; the producer's signal aborts and its iterator is closed.
 * The stream is a request: `/ready` counts it in `active_requests` and `open_streams`.
 */
export function sendEvents(reply: FastifyReply, produce: EventProducer, options?: EventStreamOptions): FastifyReply {
  const lastEventId = parseLastEventId(reply.request.headers['last-event-id'])
  // Made (and its name checked) before anything runs: a bad name or Last-Event-ID is the handler's error.
  const stream = new EventStream(reply, produce, lastEventId, options)
  reply.header('content-type', 'text/event-stream').header('cache-control', 'no-store').header('x-accel-buffering', 'no')
  stream.start()
  return reply
}

/**
 * Events gathered in one turn of the event loop go out as one chunk: a producer that yields many at
 * once (and then waits for a timer or I/O) costs one write, not one per event. Past this many
 * characters a chunk goes out at once, so a producer that never waits is still bounded.
 */
const chunkLimit = 16 * 1024

type RawResponse = FastifyReply['raw']

/**
 * Writes straight to the response (`reply.raw`), not through a Readable piped into it: a Readable costs
 * a push, a buffer and a pipe step per chunk, which was most of what separated the API from the same
 * stream written by hand (bench/sse-api/, issue 21). Fastify's reply is hijacked at the first write, so
 * a producer that fails before its first event still gets Fastify's error handler (a 500), as any
 * handler does; after it, `onSend` hooks do not see the stream (they never saw its events either).
 */
class EventStream {
  readonly #reply: FastifyReply
  readonly #res: RawResponse
  readonly #produce: EventProducer
  readonly #lastEventId: number
  #iterator: AsyncIterator<EventYield> | Iterator<EventYield> | null = null
  readonly #terms: StreamTerms
  /** The events taken and not yet written, as text. */
  readonly #pending: PendingEvents
  #closed: (() => void) | null = null
  #flushQueued = false
  /** The head is written (and Fastify's reply hijacked). */
  #headOut = false
  /** `write()` returned false: nothing more is written, nor asked of the producer, until 'drain'. */
  #full = false
  /** The pump waiting for 'drain' (or the response's close). */
  #resume: (() => void) | null = null
  /** Nothing more is written: ended, handed over, failed or closed. */
  #over = false
  /** The producer finished by itself, or was closed: nothing to close. */
  #exhausted = false

  constructor(reply: FastifyReply, produce: EventProducer, lastEventId: number, options: EventStreamOptions | undefined) {
    this.#reply = reply
    this.#res = reply.raw
    this.#produce = produce
    this.#lastEventId = lastEventId
    this.#pending = new PendingEvents(options?.event, lastEventId)
    this.#terms = streamTerms(reply, options, (listener) => (this.#closed = listener))
  }

  start(): void {
    const res = this.#res
    res.once('close', () => this.#onClose())
    res.on('drain', () => this.#onDrain())
    const signal = this.#terms.signal
    const source = this.#produce({ lastEventId: this.#lastEventId, signal })
    this.#iterator =
      Symbol.asyncIterator in source ? (source as AsyncIterable<EventYield>)[Symbol.asyncIterator]() : (source as Iterable<EventYield>)[Symbol.iterator]()
    if (signal.aborted) queueMicrotask(() => this.#onAbort())
    else signal.addEventListener('abort', () => this.#onAbort(), { once: true })
    void this.#pump()
  }

  async #pump(): Promise<void> {
    const iterator = this.#iterator!
    const pending = this.#pending
    try {
      for (;;) {
        if (this.#full) {
          await new Promise<void>((resolve) => (this.#resume = resolve))
          if (this.#over) return
        }
        const step = await iterator.next()
        if (this.#over) return
        if (step.done === true) {
          this.#exhausted = true
          this.#end('')
          return
        }
        pending.add(step.value)
        if (pending.length >= chunkLimit) this.#flush()
        else if (!this.#flushQueued) {
          this.#flushQueued = true
          process.nextTick(flushLater, this)
        }
      }
    } catch (error) {
      this.#fail(error)
    }
  }

  flush(): void {
    this.#flushQueued = false
    this.#flush()
  }

  /** One `write` for what the turn gathered; held while the response is full (the pump waits then too). */
  #flush(): void {
    if (this.#over || this.#full || this.#pending.length === 0) return
    if (!this.#headOut) this.#writeHead()
    if (!this.#res.write(this.#pending.take())) this.#full = true
  }

  #writeHead(): void {
    this.#headOut = true
    const reply = this.#reply
    reply.hijack()
    // What the route set with reply.header() (and hooks before it) goes out too, as Fastify would send it.
    this.#res.writeHead(this.#res.statusCode, reply.getHeaders() as Record<string, string>)
  }

  #end(last: string): void {
    this.#over = true
    const chunk = this.#pending.take() + last
    if (!this.#headOut) this.#writeHead()
    if (chunk === '') this.#res.end()
    else this.#res.end(chunk)
    this.#resume?.()
  }

  /** The producer threw: not a hand-over. */
  #fail(error: unknown): void {
    this.#exhausted = true
    if (this.#over) return
    this.#over = true
    // Nothing sent yet: Fastify's error handler answers, as for any handler that fails.
    if (!this.#headOut) {
      this.#reply.send(error instanceof Error ? error : new Error(String(error)))
      return
    }
    // Mid-stream there is no status left to say it with: the response is cut, so that the client can tell a
    // failure from a finish (a clean end reads as "done" to a client that has no end marker), and it is logged.
    this.#reply.log.error({ err: error }, 'event stream producer failed; the response is cut')
    this.#res.destroy()
  }

  #onDrain(): void {
    this.#full = false
    this.#flush()
    const resume = this.#resume
    this.#resume = null
    resume?.()
  }

  #onAbort(): void {
    if (this.#over || !isHandover(this.#terms.signal)) return
    const { reconnect } = this.#terms
    this.#end(reconnectEvent(reconnect.event, this.#pending.lastId, retryDelay(reconnect)))
    this.#closeIterator()
  }

  /** The response is over: finished, or its client left. */
  #onClose(): void {
    this.#over = true
    this.#closeIterator()
    this.#closed?.()
    const resume = this.#resume
    this.#resume = null
    resume?.()
  }

  #closeIterator(): void {
    if (this.#exhausted) return
    this.#exhausted = true
    // An async generator that is running takes this when it next yields; its signal is aborted already.
    Promise.resolve(this.#iterator?.return?.()).catch(() => {})
  }
}

function flushLater(stream: EventStream): void {
  stream.flush()
}
