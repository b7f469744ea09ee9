/**
 * Routes process signals to `onSignal` until the returned function removes them.
 * Installing a listener replaces Node's default of dying on the spot, so the
 * lifecycle decides what each signal means (first: drain; second: force).
 */
export function listenForSignals(signals: readonly NodeJS.Signals[], onSignal: (signal: NodeJS.Signals) => void): () => void {
  const listeners = signals.map((signal) => {
    const listener = () => onSignal(signal)
    process.on(signal, listener)
    return [signal, listener] as const
  })
  return () => {
    for (const [signal, listener] of listeners) process.removeListener(signal, listener)
  }
}
