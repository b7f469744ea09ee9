export type FaultOrigin = 'uncaughtException' | 'unhandledRejection'

/**
 * Routes uncaught exceptions and unhandled rejections to `onFault` until the
 * returned function removes them. Without a listener Node dies on the spot:
 * in-flight requests are cut and the drain never runs. With one, the
 * lifecycle drains and exits non-zero; the process state may be damaged, so
 * the drain is the last thing it does, bounded by the drain deadline.
 */
export function listenForFaults(onFault: (error: unknown, origin: FaultOrigin) => void): () => void {
  const onException = (error: Error) => onFault(error, 'uncaughtException')
  const onRejection = (reason: unknown) => onFault(reason, 'unhandledRejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.removeListener('uncaughtException', onException)
    process.removeListener('unhandledRejection', onRejection)
  }
}
