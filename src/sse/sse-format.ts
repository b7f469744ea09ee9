/**
 * Events in the Server-Sent Events format (WHATWG HTML, "Server-sent events"). Each event is built
 * as one string and written whole, so a stream that ends between two writes never leaves half an
 * event behind.
 */

/** One event a producer yields. A bare string is `{ data: string }`. */
export interface ServerSentEvent {
  /**
   * Left out: the API stamps the event with the stream's next number (the first event is 1, and after
   * `Last-Event-ID: k` it is k+1), which is what a client sends back to resume. `null`: no `id:`, and
   * the event is not counted; for events that are not part of what resumes, such as an end marker.
   */
  readonly id?: null
  /** `event:`; left out, the client's `message` event. No line breaks. */
  readonly event?: string
  /** A string is sent as it is (one `data:` line per line); anything else as JSON. */
  readonly data: unknown
}

export type StreamEvent = ServerSentEvent | string

/** `id`: the number to stamp, or null for none. */
export function formatEvent(event: StreamEvent, id: number | null): string {
  if (typeof event === 'string') return id === null ? dataLines(event) + '\n' : `id: ${id}\n${dataLines(event)}\n`
  let text = id === null ? '' : `id: ${id}\n`
  const name = event.event
  if (name !== undefined) {
    if (typeof name !== 'string' || name.includes('\n') || name.includes('\r')) {
      throw new TypeError(`a server-sent event's name must be a string without line breaks; received ${JSON.stringify(name)}`)
    }
    text += `event: ${name}\n`
  }
  const data = event.data
  return `${text}${dataLines(typeof data === 'string' ? data : (JSON.stringify(data) ?? 'null'))}\n`
}

function dataLines(data: string): string {
  if (!data.includes('\n') && !data.includes('\r')) return `data: ${data}\n`
  return data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('')
}

/**
 * The last event of a handed-over stream: `retry:` sets the client's reconnection delay, and no `id:`
 * keeps its last event id at the last event it got, which it then sends back as `Last-Event-ID`.
 */
export function reconnectEvent(name: string, lastEventId: number, retryMs: number): string {
  return `event: ${name}\nretry: ${retryMs}\ndata: {"last_event_id":${lastEventId},"retry_ms":${retryMs}}\n\n`
}
