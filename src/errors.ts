/**
 * Every error lameduck raises on purpose, with a stable code. Options and
 * configuration errors name the field and the value received, so a bad
 * deployment fails at start with one readable line.
 *
 * A test (`test/errors.test.ts`) keeps this list, `docs/errors.md` and the
 * exported `LameduckErrorCode` type in sync.
 */
import { describeValue } from './describe-value.ts'

export { describeValue, quotedValueLimit } from './describe-value.ts'

export const errorCodes = {
  LAMEDUCK_INVALID_OPTION: "invalid plugin option, or a route's lameduck setting",
  LAMEDUCK_INVALID_ENV: 'invalid environment variable',
  LAMEDUCK_ALREADY_REGISTERED: 'plugin registered twice on one server',
  LAMEDUCK_DRAINING: 'the abort reason of drainSignal: the drain proper has begun',
  LAMEDUCK_DRAIN_NOTICE: 'the abort reason of noticeSignal: the drain deadline is near',
  LAMEDUCK_INVALID_LAST_EVENT_ID: 'a 400: an event stream was asked to resume from a Last-Event-ID it never sends',
  LAMEDUCK_REQUEST_CLOSED: "the abort reason of a request's signals when its response closed: its client went away, or it was answered",
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
