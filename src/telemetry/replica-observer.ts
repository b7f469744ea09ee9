import type { Actor } from 'xstate'
import type { PrimaryLog } from '../cluster/primary-log.ts'
import type { ReplicaMachine } from '../cluster/replica-machine.ts'
import { otelSdkRegistered } from './otel-global.ts'
import type { ReplicaTelemetry } from './replica-telemetry.ts'

export type { ReplicaTelemetry }

const none: ReplicaTelemetry = { drainTraceparent: () => undefined, reloadTraceparent: () => undefined, close: async () => {} }

/**
 * The primary's telemetry (src/telemetry/replica-telemetry.ts), loaded only when an SDK is registered
 * (lameduck's `register` entry runs in the primary too: a fork inherits `--import`): without one, neither
 * the API nor lameduck's telemetry is imported, as in a worker (otel-global.ts). The import takes some
 * milliseconds, and the workers hundreds to start; a signal before it resolves drains untraced.
 */
export function replicaTelemetry(actor: Actor<ReplicaMachine>, log: PrimaryLog): ReplicaTelemetry {
  if (!otelSdkRegistered()) return none
  let loaded: ReplicaTelemetry | null = null
  const loading = Promise.all([import('./active-providers.ts'), import('./replica-telemetry.ts')]).then(
    ([{ activeProviders }, { observeReplica }]) => {
      loaded = observeReplica(actor, activeProviders())
    },
    (error: unknown) => log.warn({ err: String(error) }, 'replica: telemetry could not load; the replica is not traced'),
  )
  return {
    drainTraceparent: () => loaded?.drainTraceparent(),
    reloadTraceparent: () => loaded?.reloadTraceparent(),
    async close() {
      await loading
      await loaded?.close()
    },
  }
}
