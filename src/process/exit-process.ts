/**
 * Ends the process with `code` the gentle way: set the exit code and let the
 * event loop empty, so buffered logs and exporters flush. If something still
 * holds the loop open after `backstopMs`, say what it is and exit anyway:
 * the platform would SIGKILL us later, and losing the exit code helps no one.
 */
export function exitProcess(code: number, backstopMs = 1_000): void {
  // Called again (a fault while closing, then the drain's own code): a failure is never lowered.
  code = Math.max(code, Number(process.exitCode ?? 0))
  process.exitCode = code
  // Until the loop empties, a late SIGTERM/SIGINT would kill the process by signal and lose
  // the code. Signal handlers do not hold the loop open, so these cost nothing.
  for (const signal of lateSignals) {
    if (!process.listeners(signal).includes(ignoreLateSignal)) process.on(signal, ignoreLateSignal)
  }
  // Once the loop is empty, Node tears the environment down, and closing its signal handles restores
  // the default action: a signal in those milliseconds killed the process (13 of 20 runs with a SIGTERM
  // 0-9 ms after a clean stop). process.exit() leaves them in place until the process is gone.
  if (!process.listeners('beforeExit').includes(exitOnEmptyLoop)) process.once('beforeExit', exitOnEmptyLoop)
  const backstop = setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'Timeout')
    if (backstopMs >= urgentBackstopMs * 2) {
      process.stderr.write(
        `${JSON.stringify({ level: 40, time: Date.now(), msg: 'lameduck: event loop still busy after stop, exiting anyway', left })}\n`,
      )
    }
    process.exit(code)
  }, backstopMs)
  backstop.unref()
}

/**
 * After a deadline (second signal, drain deadline, close timeout) the decision is made and work was
 * abandoned on purpose: application timers still pending (a handler's `sleep(5000)`) must not delay
 * the exit by the full backstop. A few milliseconds still let synchronous logs and the span flush go.
 */
export const urgentBackstopMs = 50

// Every signal a lifecycle listens to by default (plugin-options.ts): SIGHUP's default action kills too.
const lateSignals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

function exitOnEmptyLoop(): void {
  process.exit()
}

function ignoreLateSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: 'lameduck: signal after stop, ignored', signal })}\n`)
}
