/**
 * Until a lifecycle installs its own handlers (the plugin does it as it loads), a SIGTERM would kill the
 * process by Node's default. Nothing has started yet: these stop it cleanly, as `interrupted`, exit 0.
 * The returned function removes them; the entry calls it once the lifecycle listens, so that a signal
 * after the lifecycle stopped (its handlers gone) never reaches them: they would log a second, false
 * `stopped` line and exit 0 over the lifecycle's code (issue 18).
 */
export function listenEarly(signals: readonly NodeJS.Signals[]): () => void {
  const onEarlySignal = (signal: NodeJS.Signals) => {
    // A lifecycle's handler is installed too: it decides.
    if (process.listenerCount(signal) > 1) return
    process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), msg: 'lifecycle: stopped', outcome: 'interrupted', signal, exit_code: 0 })}\n`)
    process.exit(0)
  }
  for (const signal of signals) process.on(signal, onEarlySignal)
  return () => {
    for (const signal of signals) process.removeListener(signal, onEarlySignal)
  }
}
