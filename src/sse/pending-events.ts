import { afterIdText, formatEvent, type ServerSentEvent, type StreamEvent } from './sse-format.ts'

/**
 * The text of the events a stream has taken and not yet written, numbered. The hot path is a string event:
 * its prefix (the end of the event before, `id: N`, the stream's name, `data: `) and the string, two pieces
 * and no object or call per event (bench/sse-api/, issue 21). Its data is checked for line breaks once per
 * chunk, in `take()`, not once per event: `includes` on a string a template built flattens it first, a copy
 * and a runtime call per event; the chunk is flattened once anyway, to be written.
 */
export class PendingEvents {
  #text = ''
  #lastId: number
  readonly #name: string | undefined
  /** What follows `id: N` in a string event: `\nevent: <name>\ndata: `, or `\ndata: ` without a name. */
  readonly #afterId: string
  readonly #prefixes: Prefixes
  /** `#text` ends with a string event's data: its blank line is the next event's prefix, or `take()`'s. */
  #open = false
  /** For each string event in `#text`: where its data begins and its length, in pairs; `#spanCount` used. */
  readonly #spans: number[] = []
  #spanCount = 0

  /** `name`: the stream's name for events that name none; `lastId`: the number of the event before the first. */
  constructor(name: string | undefined, lastId: number) {
    this.#name = name
    this.#afterId = afterIdText(name)
    this.#prefixes = prefixesFor(this.#afterId)
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
    let open = this.#open
    const spans = this.#spans
    const { first, lead } = this.#prefixes
    if (typeof value === 'string') {
      ++id
      text += (open ? lead[id] : first[id]) ?? this.#prefix(id, open)
      spans[count++] = text.length
      spans[count++] = value.length
      text += value
      open = true
    } else if (Array.isArray(value)) {
      const events = value as readonly StreamEvent[]
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        if (typeof event === 'string') {
          ++id
          text += (open ? lead[id] : first[id]) ?? this.#prefix(id, open)
          spans[count++] = text.length
          spans[count++] = event.length
          text += event
          open = true
        } else {
          const formatted = formatEvent(event, event.id === null ? null : ++id, this.#name)
          text += open ? `\n\n${formatted}` : formatted
          open = false
        }
      }
    } else {
      const event = value as ServerSentEvent
      const formatted = formatEvent(event, event.id === null ? null : ++id, this.#name)
      text += open ? `\n\n${formatted}` : formatted
      open = false
    }
    this.#text = text
    this.#lastId = id
    this.#spanCount = count
    this.#open = open
  }

  /** A string event's prefix not cached yet: made flat, and kept for the next stream if its id is small. */
  #prefix(id: number, open: boolean): string {
    const prefix = [open ? '\n\nid: ' : 'id: ', id, this.#afterId].join('')
    if (id < idsCached && this.#prefixes !== uncached) (open ? this.#prefixes.lead : this.#prefixes.first)[id] = prefix
    return prefix
  }

  /**
   * The text so far, every event whole and each line of a string's data its own `data:` line (a raw line
   * break would end the field, and what follows could read as an `id:` or `event:` no one sent); then empty.
   */
  take(): string {
    const text = this.#open ? `${this.#text}\n\n` : this.#text
    this.#open = false
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

/**
 * String events' prefixes by id, `first` for an event that begins a chunk and `lead` (with the blank line that
 * ends the event before) for the rest: every stream of one name numbers its events 1, 2, 3..., so the stream
 * that first reaches an id makes its prefix and the others reuse it, one piece of text instead of three
 * made per event (bench/sse-api/). Flat (`join`), so that writing a chunk copies it rather than walks it.
 * Bounded: the first ids of a few names, at most `namesCached` x `idsCached` x 2 short strings.
 */
interface Prefixes {
  readonly first: (string | undefined)[]
  readonly lead: (string | undefined)[]
}

const idsCached = 4096
const namesCached = 16
const prefixesByAfterId = new Map<string, Prefixes>()

/** Past the bound: always empty, each prefix made as it is needed. */
const uncached: Prefixes = Object.freeze({ first: [], lead: [] })

function prefixesFor(afterId: string): Prefixes {
  let prefixes = prefixesByAfterId.get(afterId)
  if (prefixes === undefined) {
    if (prefixesByAfterId.size >= namesCached) return uncached
    prefixes = { first: [], lead: [] }
    prefixesByAfterId.set(afterId, prefixes)
  }
  return prefixes
}
