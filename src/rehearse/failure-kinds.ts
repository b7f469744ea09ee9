/**
 * Every way a request, stream or session can fail, as a client behind the platform's router would see it.
 * Each label says exactly what was seen: a reset is not a close, a cut between events is not a cut mid-event.
 */
export const failureKinds = {
  refused: 'refused before accept (retryable)',
  reset: 'reset (RST) after connecting',
  closed: 'closed by the server without an answer (other side closed)',
  'server-error': '5xx',
  'unavailable-retry-after': '503 with Retry-After',
  'timed-out': 'timed out',
  'stream-cut': 'stream cut mid-event',
  'stream-cut-between-events': 'stream cut between events',
  'stream-unterminated': 'stream ended without its end event',
  'stream-gap': 'resumed stream skipped events',
  'stream-duplicate': 'resumed stream repeated events',
  'ws-dropped': 'WebSocket dropped without a close frame',
  'ws-closed': 'WebSocket closed with an unexpected code',
  'ws-echo': 'WebSocket echo missing or out of order',
  'other-status': 'other non-2xx status',
  'no-route': 'no ready instance to route to',
  'client-error': 'other client error',
} as const

export type FailureKind = keyof typeof failureKinds

/**
 * A connection refused before accept never reached the service: a router may send it elsewhere. A 503 with
 * Retry-After says the request did not run and when to come back: a client may send it again then.
 */
export function isRetryable(kind: FailureKind): boolean {
  return kind === 'refused' || kind === 'unavailable-retry-after'
}

/**
 * The failure an undici (or `ws`) error stands for. An RST (`ECONNRESET`) is told apart from a FIN that came
 * instead of an answer (undici's `UND_ERR_SOCKET`, "other side closed"): the first is what the kernel sends for a
 * connection still in a closed listener's accept queue, the second what a keep-alive request meets when it
 * crosses the server's close of the idle socket it was sent on.
 */
export function classifyError(error: unknown): FailureKind {
  const code = errorCode(error)
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused'
    case 'ECONNRESET':
    case 'EPIPE':
      return 'reset'
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'closed'
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timed-out'
    default:
      return 'client-error'
  }
}

/** The failure an HTTP status stands for, or `null` for a success (2xx, 3xx). */
export function classifyStatus(status: number, retryAfter: string | string[] | undefined): FailureKind | null {
  if (status < 400) return null
  if (status === 503 && retryAfter !== undefined) return 'unavailable-retry-after'
  if (status >= 500) return 'server-error'
  return 'other-status'
}

export function errorCode(error: unknown): string {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | undefined
  if (typeof e?.code === 'string') return e.code
  if (typeof e?.cause?.code === 'string') return e.cause.code
  return error instanceof Error ? error.name : 'error'
}

/** What an error was, for a report's detail: its code and, for undici's socket errors, its message. */
export function errorDetail(error: unknown): string {
  const code = errorCode(error)
  const message = error instanceof Error ? error.message : ''
  return code === 'UND_ERR_SOCKET' && message ? `${code} (${message})` : code
}
