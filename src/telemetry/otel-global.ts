/** The name lameduck's tracer and meter carry. */
export const instrumentationScope = 'lameduck'

/** What a copy of `@opentelemetry/api` 1.x keeps in the one global all 1.x copies share. */
export interface RegisteredApi {
  version?: string
  trace?: unknown
  metrics?: unknown
}

/** The global an SDK's registration writes, whichever API copy it went through; undefined until one does. */
export function registeredOtel(): RegisteredApi | undefined {
  return (globalThis as Record<symbol, RegisteredApi | undefined>)[Symbol.for('opentelemetry.js.api.1')]
}

/**
 * Whether an SDK registered a tracer or meter provider. Read off the global rather than through the API,
 * so that a service without telemetry never loads the API (51 modules; with RxJS's index it was most of
 * lameduck's idle RSS over bare Fastify, bench/findings.md).
 */
export function otelSdkRegistered(): boolean {
  const registered = registeredOtel()
  return registered !== undefined && (registered.trace !== undefined || registered.metrics !== undefined)
}
