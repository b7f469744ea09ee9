/** Milliseconds since the rehearsal started: every time in the report is on this one clock. */
export type Clock = () => number

export function startClock(): Clock {
  const start = performance.now()
  return () => Math.round((performance.now() - start) * 10) / 10
}
