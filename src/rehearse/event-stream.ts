import { classifyError, errorDetail, type FailureKind } from './failure-kinds.ts'

/** One complete event, as the client's event source dispatches it. */
export interface StreamEvent {
  /** `message` when the event had no `event:` field. */
  readonly name: string
  /** The `id:` field, when the event had one. */
  readonly id: string | undefined
  readonly data: string
  /** The `retry:` field (reconnection delay, ms), when the event had a valid one. */
  readonly retryMs: number | undefined
}

export interface StreamOutcome {
  /** Complete events received (blocks ended by a blank line). */
  readonly events: number
  /** The name of the last complete event (`message` when it had no `event:` field). */
  readonly lastEvent: string | undefined
  /** `null`: the stream ended cleanly after one of the end events. */
  readonly failure: FailureKind | null
  readonly detail: string
}

/**
 * Reads a Server-Sent Events body to its end (WHATWG HTML, "Server-sent events"): counts events, hands each to
 * `onEvent`, and tells a proper end (the last event is one of `endEvents`, nothing after it) from a stream cut
 * mid-event (the body stopped inside an event), one cut between events (the connection failed at an event
 * boundary), and one that ended cleanly at an event boundary without its end event.
 */
export async function readEventStream(body: AsyncIterable<Buffer | string>, endEvents: readonly string[], onEvent?: (event: StreamEvent) => void): Promise<StreamOutcome> {
  const decoder = new TextDecoder()
  let events = 0
  let lastEvent: string | undefined
  let rest = ''
  let name: string | undefined
  let id: string | undefined
  let data: string[] = []
  let retryMs: number | undefined
  // Whether a field line arrived since the last blank line: an event has begun and not ended.
  let open = false

  const line = (text: string) => {
    if (text === '') {
      if (open) {
        events++
        lastEvent = name ?? 'message'
        onEvent?.({ name: lastEvent, id, data: data.join('\n'), retryMs })
      }
      open = false
      name = undefined
      id = undefined
      data = []
      retryMs = undefined
      return
    }
    if (text.startsWith(':')) return // a comment, not part of any event
    open = true
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    const value = colon === -1 ? '' : text.slice(colon + 1).replace(/^ /, '')
    if (field === 'event') name = value
    else if (field === 'id') id = value
    else if (field === 'data') data.push(value)
    else if (field === 'retry' && /^\d+$/.test(value)) retryMs = Number(value)
  }

  try {
    for await (const chunk of body) {
      rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })
      // Lines end with CRLF, LF or CR; a CR at the very end may be the first half of a CRLF, so it waits.
      const parts = rest.split(/\r\n|\n|\r(?!$)/)
      rest = parts.pop() ?? ''
      for (const part of parts) line(part)
    }
  } catch (error) {
    const code = errorDetail(error)
    if (classifyError(error) === 'timed-out') return { events, lastEvent, failure: 'timed-out', detail: `${code} after ${events} events` }
    if (open || rest !== '') return { events, lastEvent, failure: 'stream-cut', detail: `${code} mid-event after ${events} events` }
    return { events, lastEvent, failure: 'stream-cut-between-events', detail: `${code} between events after ${events} events` }
  }
  if (rest.endsWith('\r')) {
    line(rest.slice(0, -1))
    rest = ''
  }
  if (open || rest !== '') return { events, lastEvent, failure: 'stream-cut', detail: `the body ended inside an event after ${events} events` }
  if (lastEvent === undefined || !endEvents.includes(lastEvent)) {
    return { events, lastEvent, failure: 'stream-unterminated', detail: `ended after ${events} events, the last ${lastEvent ?? 'none'}, not ${endEvents.join(' or ')}` }
  }
  return { events, lastEvent, failure: null, detail: `${events} events, ended by ${lastEvent}` }
}
