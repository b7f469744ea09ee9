import { exitProcess, urgentBackstopMs } from './exit-process.ts'

/** One lifecycle's share of the process exit. */
export interface ExitClaim {
  /** This lifecycle has stopped with `code`; the process exits once every claim is settled. */
  exit(code: number, urgent?: boolean): void
  /** This lifecycle ends without a say in the exit (stopped by `fastify.close()`). */
  release(): void
}

const pending = new Set<object>()
let worstCode = 0
let urgent = false
let requested = false

/**
 * Several Fastify apps with lameduck in one process each drain on the same signal; the process
 * exits once every one of them has stopped, with the worst exit code. The first to finish must
 * not end the others' in-flight work.
 */
export function claimProcessExit(): ExitClaim {
  const claim = {}
  pending.add(claim)
  const settle = (code: number | null, isUrgent: boolean) => {
    if (!pending.delete(claim)) return
    if (code !== null) {
      worstCode = Math.max(worstCode, code)
      urgent ||= isUrgent
      requested = true
    }
    if (pending.size === 0 && requested) {
      exitProcess(worstCode, urgent ? urgentBackstopMs : undefined)
    }
  }
  return {
    exit: (code, isUrgent = false) => settle(code, isUrgent),
    release: () => settle(null, false),
  }
}
