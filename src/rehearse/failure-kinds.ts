/** Every way a request or stream can fail, as a client behind the platform's router would see it. */
export const failureKinds = {
  refused: 'refused before accept (retryable)',
  reset: 'reset or closed after the request was sent',
  'server-error': '5xx',
  'unavailable-retry-after': '503 with Retry-After',
  'timed-out': 'timed out',
  'stream-cut': 'stream cut mid-event',
  'stream-unterminated': 'stream ended without its end event',
  'other-status': 'other non-2xx status',
  'no-route': 'no ready instance to route to',
  'client-error': 'other client error',
} as const

export type FailureKind = keyof typeof failureKinds

/** A connection refused before accept never reached the service: a router may send it elsewhere. */
export function isRetryable(kind: FailureKind): boolean {
  return kind === 'refused'
}

/** The failure an undici error stands for. */
export function classifyError(error: unknown): FailureKind {
  const code = errorCode(error)
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused'
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return 'reset'
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
