/** What the primary logs through: pino's shape, so an application can pass its own logger. */
export interface PrimaryLog {
  info(fields: object, message: string): void
  warn(fields: object, message: string): void
  error(fields: object, message: string): void
}

const levels = { info: 30, warn: 40, error: 50 } as const

/** One JSON line per entry on stdout, with pino's level numbers: the workers' Fastify logs look the same. */
export function jsonLinesLog(stream: NodeJS.WritableStream = process.stdout): PrimaryLog {
  // A reader gone (a closed pipe) must not crash the primary mid-drain: its workers would die with it.
  stream.on('error', () => {})
  const line = (level: keyof typeof levels) => (fields: object, msg: string) => {
    stream.write(`${JSON.stringify({ level: levels[level], time: Date.now(), pid: process.pid, role: 'primary', ...fields, msg })}\n`)
  }
  return { info: line('info'), warn: line('warn'), error: line('error') }
}
