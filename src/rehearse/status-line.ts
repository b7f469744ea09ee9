import type { Progress } from './rehearsal.ts'

/** One line, rewritten in place on a terminal while the rehearsal runs: phase, time, counts. */
export function statusLine({ phase, at, tally }: Progress): string {
  const failed = [...tally.failures.values()].reduce((n, f) => n + f.count, 0)
  const streams = tally.streams.sent ? `, streams ${tally.streams.answered}/${tally.streams.sent}` : ''
  return `rehearse ${phase.padEnd(11)} ${(at / 1000).toFixed(1).padStart(6)} s  requests ${tally.requests.sent} sent, ${tally.requests.answered} answered, ${tally.inFlight} in flight${streams}, ${failed} failed attempts`
}

/** Writes the status line on a TTY (cleared before anything else is printed); nothing otherwise. */
export function statusWriter(stream: NodeJS.WriteStream): { update(progress: Progress): void; clear(): void } {
  if (!stream.isTTY) return { update: () => {}, clear: () => {} }
  return {
    update: (progress) => stream.write(`\r\x1b[2K${statusLine(progress).slice(0, Math.max(20, (stream.columns || 120) - 1))}`),
    clear: () => stream.write('\r\x1b[2K'),
  }
}
