/**
 * Longest rendering of a received value that a message quotes, in characters. Longer renderings are
 * cut there and end with `…`; a long string also says how long it was. A message names the value so
 * a person can see what was wrong; 80 characters do that, and a client that sent a 1 MiB value does
 * not get it back (issue 10: a 1 MiB body used to come back as 7 MB of escapes).
 */
export const quotedValueLimit = 80

/**
 * Renders a received value for a message: strings quoted, the rest as JSON, at most
 * `quotedValueLimit` characters. Walks only as far as that budget: the cost does not depend on the
 * value's size, and nesting cannot overflow the stack (every level writes at least one character,
 * so the walk is at most `quotedValueLimit` deep; issue 10: arrays 5,000 deep made the old
 * `JSON.stringify` then `String()` fallback overflow, and a 400 became a 500).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'symbol') return String(value)
  const out = new Budget(quotedValueLimit)
  try {
    write(value, out)
  } catch {
    // A getter or proxy that throws: say what was read so far, cut.
    out.cut = true
  }
  const text = out.text()
  if (!out.cut) return text
  return typeof value === 'string' ? `${text}…" (${value.length} characters)` : `${text}…`
}

/** A string builder that stops taking text once it holds `limit` characters. */
class Budget {
  #parts: string[] = []
  #length = 0
  cut = false
  readonly limit: number

  constructor(limit: number) {
    this.limit = limit
  }

  /**
   * Appends `text` if it fits whole (an escape such as `\u0000` is never cut in two); otherwise
   * spends the budget and answers false.
   */
  add(text: string): boolean {
    if (this.cut) return false
    if (text.length > this.limit - this.#length) {
      this.cut = true
      return false
    }
    this.#parts.push(text)
    this.#length += text.length
    return true
  }

  text(): string {
    return this.#parts.join('')
  }
}

function write(value: unknown, out: Budget, useToJson = true): void {
  if (out.cut) return
  switch (typeof value) {
    case 'string':
      return writeString(value, out)
    case 'number':
      // JSON writes NaN and Infinity as null, which names the wrong value.
      out.add(Number.isFinite(value) ? JSON.stringify(value) : String(value))
      return
    case 'bigint':
      out.add(`${value}n`)
      return
    case 'boolean':
      out.add(String(value))
      return
    case 'undefined':
    case 'function':
    case 'symbol':
      // As JSON does in a list; object members of these kinds are left out before we get here.
      out.add('null')
      return
  }
  if (value === null) {
    out.add('null')
    return
  }
  const withJson = value as { toJSON?: unknown }
  // Dates and the like render as JSON renders them: toJSON once, not again on what it answered (a
  // toJSON that answers another such object would otherwise recurse without writing a character).
  if (useToJson && typeof withJson.toJSON === 'function') return write((withJson.toJSON as () => unknown)(), out, false)
  if (Array.isArray(value)) return writeList(value, out)
  writeObject(value as Record<string, unknown>, out)
}

// The prefix only: a 1 MiB string costs as much as an 80-character one.
function writeString(value: string, out: Budget): void {
  if (!out.add('"')) return
  for (const char of value.slice(0, out.limit + 2)) {
    if (!out.add(JSON.stringify(char).slice(1, -1))) return
  }
  out.add('"')
}

function writeList(value: readonly unknown[], out: Budget): void {
  if (!out.add('[')) return
  for (let i = 0; i < value.length; i++) {
    if (i > 0 && !out.add(',')) return
    write(value[i], out)
    if (out.cut) return
  }
  out.add(']')
}

function writeObject(value: Record<string, unknown>, out: Budget): void {
  if (!out.add('{')) return
  let first = true
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue
    const member = value[key]
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue
    if (!first && !out.add(',')) return
    first = false
    writeString(key, out)
    if (!out.add(':')) return
    write(member, out)
    if (out.cut) return
  }
  out.add('}')
}
