import { RehearseError } from './rehearse-error.ts'

const pattern = /^(\d+(?:\.\d+)?)(ms|s)?$/

/**
 * A time flag in milliseconds: `250ms`, `1.5s`, or a bare number in `bareUnit` (milliseconds for the
 * rehearsal's own timings, seconds for the grace period, as the deployment files write it).
 */
export function parseDuration(flag: string, value: string, bareUnit: 'ms' | 's', min = 0): number {
  const match = pattern.exec(value.trim())
  const ms = match ? Number(match[1]) * ((match[2] ?? bareUnit) === 's' ? 1000 : 1) : Number.NaN
  if (!Number.isFinite(ms) || ms < min || ms > 2_147_483_647) {
    throw new RehearseError(
      `--${flag} must be a duration like 500ms or 2s (a bare number is ${bareUnit === 's' ? 'seconds' : 'milliseconds'})${min > 0 ? `, at least ${min} ms` : ''}; received ${JSON.stringify(value)}`,
    )
  }
  return Math.round(ms)
}

export function parseCount(flag: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new RehearseError(`--${flag} must be an integer from ${min} to ${max}; received ${JSON.stringify(value)}`)
  }
  return n
}
