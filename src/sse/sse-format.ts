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

/**
 * `id`: the number to stamp, or null for none; `name`: the stream's name for events that name none. For the
 * events the stream's hot path does not take (bench/sse-api/, event-stream.ts): objects, and strings with a
 * line break. No scan of JSON, which never holds a raw line break.
 */
export function formatEvent(event: StreamEvent, id: number | null, name: string | undefined): string {
  if (typeof event === 'string') return formatLines(name, event, id)
  if (event.event !== undefined) {
    name = event.event
    if (name !== checkedName) checkName(name)
  }
  const data = event.data
  const oneLine = typeof data === 'string' ? (hasLineBreak(data) ? null : data) : (JSON.stringify(data) ?? 'null')
  if (oneLine === null) return formatLines(name, data as string, id)
  if (name === undefined) return id === null ? `data: ${oneLine}\n\n` : `id: ${id}\ndata: ${oneLine}\n\n`
  return id === null ? `event: ${name}\ndata: ${oneLine}\n\n` : `id: ${id}\nevent: ${name}\ndata: ${oneLine}\n\n`
}

function formatLines(name: string | undefined, data: string, id: number | null): string {
  return `${id === null ? '' : `id: ${id}\n`}${name === undefined ? '' : `event: ${name}\n`}${dataLines(data)}\n`
}

/** A line break in `data` would end its field: what follows could be read as an `id:` or `event:` no one sent. */
export function hasLineBreak(data: string): boolean {
  return data.includes('\n') || data.includes('\r')
}

/**
 * What follows `id: N` in an event with one line of data and the stream's name: a string event is then
 * `id: ${id}${afterId}${data}\n\n`, one template (event-stream.ts).
 */
export function afterIdText(name: string | undefined): string {
  if (name === undefined) return '\ndata: '
  checkName(name)
  return `\nevent: ${name}\ndata: `
}

let checkedName = ''

function checkName(name: unknown): void {
  if (typeof name !== 'string' || name === '' || name.includes('\n') || name.includes('\r')) {
    throw new TypeError(`a server-sent event's name must be a non-empty string without line breaks; received ${JSON.stringify(name)}`)
  }
  checkedName = name
}

function dataLines(data: string): string {
  if (!hasLineBreak(data)) return `data: ${data}\n`
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
