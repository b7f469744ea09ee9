/**
 * Every error lameduck raises on purpose, with a stable code. Options and
 * configuration errors name the field and the value received, so a bad
 * deployment fails at start with one readable line.
 *
 * A test (`test/errors.test.ts`) keeps this list, `docs/errors.md` and the
 * exported `LameduckErrorCode` type in sync.
 */
export const errorCodes = {
  LAMEDUCK_INVALID_OPTION: 'invalid plugin option',
  LAMEDUCK_INVALID_ENV: 'invalid environment variable',
  LAMEDUCK_ALREADY_REGISTERED: 'plugin registered twice on one server',
  LAMEDUCK_DRAINING: 'the abort reason of drainSignal: the drain proper has begun',
  LAMEDUCK_DRAIN_NOTICE: 'the abort reason of noticeSignal: the drain deadline is near',
} as const

export type LameduckErrorCode = keyof typeof errorCodes

export class LameduckError extends Error {
  readonly code: LameduckErrorCode

  constructor(code: LameduckErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'LameduckError'
    this.code = code
  }
}

/** Renders a received value for a message: strings quoted, the rest as JSON. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (value === undefined) return 'undefined'
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'bigint') return `${value}n`
  // JSON writes NaN and Infinity as null, which names the wrong value.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

export function invalidOption(name: string, value: unknown, expected: string): LameduckError {
  return new LameduckError(
    'LAMEDUCK_INVALID_OPTION',
    `lameduck option "${name}" must be ${expected}; received ${describeValue(value)}`,
  )
}

export function invalidEnv(name: string, value: string, expected: string): LameduckError {
  return new LameduckError(
    'LAMEDUCK_INVALID_ENV',
    `environment variable ${name} must be ${expected}; received ${describeValue(value)}`,
  )
}
