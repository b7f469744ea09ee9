import { describeValue } from '../errors.ts'

/** What `GET /stream` was asked for: `tokens` in all, sent `intervalMs` apart, resuming after token `after`. */
export interface StreamRequest {
  readonly tokens: number
  readonly intervalMs: number
  /** The `Last-Event-ID` the client resumes from; 0 from the start. */
  readonly after: number
}

export const streamLimits = Object.freeze({
  tokens: { min: 1, max: 100_000, default: 20 },
  interval_ms: { min: 0, max: 60_000, default: 100 },
})

/**
 * A 400 in the shape of the service's other validation errors (error-replies.ts): the same code
 * and a message naming the field and the value, e.g. `querystring.tokens must be an integer from
 * 1 to 100000; received "0"`.
 */
export class StreamRequestInvalid extends Error {
  readonly statusCode = 400
  readonly code = 'FST_ERR_VALIDATION'
}

/**
 * Reads the query and `Last-Event-ID` strictly, like the service's environment: decimal digits
 * only ("1e3", " 5", "05", "1.5" are mistakes, not numbers to guess at), no unknown or repeated
 * parameters. Fastify's Ajv is set not to coerce types, so a query string is checked here.
 */
export function parseStreamRequest(query: Record<string, unknown>, lastEventId: unknown): StreamRequest {
  for (const [name, value] of Object.entries(query)) {
    // Own names only: `in` also finds `constructor`, `toString`... on the prototype, and took them for options.
    if (!Object.hasOwn(streamLimits, name)) throw invalid(`querystring.${name}`, value, 'absent (unknown option)')
  }
  const tokens = integer('querystring.tokens', query.tokens, streamLimits.tokens)
  const intervalMs = integer('querystring.interval_ms', query.interval_ms, streamLimits.interval_ms)
  // EventSource sends the header only when it has seen an id; an empty one means "from the start".
  const after =
    lastEventId === undefined || lastEventId === '' ? 0 : integer('headers.last-event-id', lastEventId, { min: 0, max: tokens, default: 0 })
  return { tokens, intervalMs, after }
}

function integer(field: string, raw: unknown, limits: { min: number; max: number; default: number }): number {
  if (raw === undefined) return limits.default
  const value = typeof raw === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(raw) ? Number(raw) : Number.NaN
  if (!(value >= limits.min && value <= limits.max)) throw invalid(field, raw, `an integer from ${limits.min} to ${limits.max}`)
  return value
}

function invalid(field: string, value: unknown, expected: string): StreamRequestInvalid {
  return new StreamRequestInvalid(`${field} must be ${expected}; received ${describeValue(value)}`)
}
