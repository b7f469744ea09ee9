import { classifyError, type FailureKind } from './failure-kinds.ts'

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
 * Reads a Server-Sent Events body to its end (WHATWG HTML, "Server-sent events"): counts events, and tells a
 * proper end (the last event is one of `endEvents`, nothing after it) from a stream cut mid-event (the connection
 * failed, or the body stopped inside an event) and from one that ended at an event boundary without its end event.
 */
export async function readEventStream(body: AsyncIterable<Buffer | string>, endEvents: readonly string[]): Promise<StreamOutcome> {
  const decoder = new TextDecoder()
  let events = 0
  let lastEvent: string | undefined
  let rest = ''
  let name: string | undefined
  // Whether a field line arrived since the last blank line: an event has begun and not ended.
  let open = false

  const line = (text: string) => {
    if (text === '') {
      if (open) {
        events++
        lastEvent = name ?? 'message'
      }
      open = false
      name = undefined
      return
    }
    if (text.startsWith(':')) return // a comment, not part of any event
    open = true
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    if (field === 'event') name = text.slice(colon + 1).replace(/^ /, '')
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
    const at = open || rest !== '' ? ' mid-event' : ' between events'
    return { events, lastEvent, failure: classifyError(error) === 'timed-out' ? 'timed-out' : 'stream-cut', detail: `${(error as { code?: string }).code ?? 'error'}${at} after ${events} events` }
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
