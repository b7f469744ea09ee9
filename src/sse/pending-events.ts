import { afterIdText, formatEvent, type ServerSentEvent, type StreamEvent } from './sse-format.ts'

/**
 * The text of the events a stream has taken and not yet written, numbered. The hot path is a string event:
 * one template, `id: N` + the stream's name + the string as `data:`, and no object or call per event
 * (bench/sse-api/, issue 21). Its data is checked for line breaks once per chunk, in `take()`, not once per
 * event: `includes` on a string a template built flattens it first, a copy and a runtime call per event;
 * the chunk is flattened once anyway, to be written.
 */
export class PendingEvents {
  #text = ''
  #lastId: number
  readonly #name: string | undefined
  /** What follows `id: N` in a string event: `\nevent: <name>\ndata: `, or `\ndata: ` without a name. */
  readonly #afterId: string
  /** For each string event in `#text`: where its data begins and its length, in pairs; `#spanCount` used. */
  readonly #spans: number[] = []
  #spanCount = 0

  /** `name`: the stream's name for events that name none; `lastId`: the number of the event before the first. */
  constructor(name: string | undefined, lastId: number) {
    this.#name = name
    this.#afterId = afterIdText(name)
    this.#lastId = lastId
  }

  /** The number of the last event taken. */
  get lastId(): number {
    return this.#lastId
  }

  get length(): number {
    return this.#text.length
  }

  /** One step's events: one, or several yielded at once. Locals written back once: this loop runs once per event. */
  add(value: StreamEvent | readonly StreamEvent[]): void {
    let text = this.#text
    let id = this.#lastId
    let count = this.#spanCount
    const spans = this.#spans
    const afterId = this.#afterId
    if (typeof value === 'string') {
      text += `id: ${++id}${afterId}`
      spans[count++] = text.length
      spans[count++] = value.length
      text += `${value}\n\n`
    } else if (Array.isArray(value)) {
      const events = value as readonly StreamEvent[]
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        if (typeof event === 'string') {
          text += `id: ${++id}${afterId}`
          spans[count++] = text.length
          spans[count++] = event.length
          text += `${event}\n\n`
        } else text += formatEvent(event, event.id === null ? null : ++id, this.#name)
      }
    } else {
      const event = value as ServerSentEvent
      text += formatEvent(event, event.id === null ? null : ++id, this.#name)
    }
    this.#text = text
    this.#lastId = id
    this.#spanCount = count
  }

  /**
   * The text so far, every event whole and each line of a string's data its own `data:` line (a raw line
   * break would end the field, and what follows could read as an `id:` or `event:` no one sent); then empty.
   */
  take(): string {
    const text = this.#text
    const count = this.#spanCount
    this.#text = ''
    this.#spanCount = 0
    if (count === 0) return text
    // The framing holds no CR (names are checked, JSON escapes it): any CR is in a string's data. A string's data
    // holds no LF when the first LF from its start is the one that ends its line.
    const spans = this.#spans
    let broken = text.includes('\r')
    for (let i = 0; !broken && i < count; i += 2) broken = text.indexOf('\n', spans[i]) !== spans[i]! + spans[i + 1]!
    return broken ? splitDataLines(text, spans, count) : text
  }
}

/** The text with each string's data that holds line breaks written as one `data:` line per line, as formatEvent does. */
function splitDataLines(text: string, spans: readonly number[], count: number): string {
  let out = ''
  let from = 0
  for (let i = 0; i < count; i += 2) {
    const start = spans[i]!
    const end = start + spans[i + 1]!
    const data = text.slice(start, end)
    if (!data.includes('\n') && !data.includes('\r')) continue
    out += text.slice(from, start) + data.split(/\r\n|\r|\n/).join('\ndata: ')
    from = end
  }
  return out + text.slice(from)
}
