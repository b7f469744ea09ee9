/**
 * Export failures are logged once, not once per batch: a dead collector would
 * otherwise write a line every few seconds for the life of the replica
 * (issue 4). Later failures are only counted, and the count is written when
 * telemetry is flushed at shutdown.
 */
export interface ExportErrorLog {
  /** The OpenTelemetry global error handler. */
  readonly report: (error: unknown) => void
  /** Writes how many failures were not logged, if any, and resets the count. */
  readonly summarize: () => void
  readonly suppressed: () => number
}

export type LogLine = (fields: Record<string, unknown>, message: string) => void

export function exportErrorLog(warn: LogLine): ExportErrorLog {
  let logged = false
  let suppressed = 0
  return {
    report(error) {
      if (logged) {
        suppressed++
        return
      }
      logged = true
      warn(
        { err: describe(error) },
        'telemetry: export to the OpenTelemetry collector failed; further failures are counted, not logged',
      )
    },
    summarize() {
      if (suppressed === 0) return
      warn({ suppressed_errors: suppressed }, 'telemetry: more exports failed after the first logged failure')
      suppressed = 0
    },
    suppressed: () => suppressed,
  }
}

function describe(error: unknown): { type: string; message: string; code?: string } {
  // The SDK's error handler passes exceptions on as JSON text (core's stringifyException).
  if (typeof error === 'string' && error.startsWith('{')) {
    try {
      const parsed = JSON.parse(error) as { name?: unknown; message?: unknown; code?: unknown }
      if (typeof parsed.message === 'string') {
        return {
          type: typeof parsed.name === 'string' ? parsed.name : 'Error',
          message: parsed.message,
          ...(typeof parsed.code === 'string' ? { code: parsed.code } : {}),
        }
      }
    } catch {}
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return { type: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) }
  }
  return { type: typeof error, message: String(error) }
}
