import { dig, type Table } from '../config/deploy-documents.ts'
import type { DeployProblem } from './deploy-problem.ts'
import { probeProblems } from './probe-rules.ts'
import type { ServiceFacts } from './service-facts.ts'

/** cerebrium.toml against the service the Dockerfile runs. */
export function cerebriumRules(file: string, toml: Table, service: ServiceFacts, dockerfileName: string): DeployProblem[] {
  const problems: DeployProblem[] = []
  const at = (path: string): unknown => dig(toml, path.split('.'))
  const { config } = service

  const name = at('cerebrium.deployment.name')
  if (typeof name !== 'string' || name.trim() === '') {
    problems.push({ file, key: 'cerebrium.deployment.name', value: name, expected: 'a non-empty app name' })
  }

  const port = at('cerebrium.runtime.custom.port')
  if (port !== config.port) {
    problems.push({ file, key: 'cerebrium.runtime.custom.port', value: port, expected: `${config.port}, the ${dockerfileName}'s PORT` })
  }

  const concurrency = at('cerebrium.scaling.replica_concurrency')
  if (concurrency !== config.maxConcurrency) {
    problems.push({
      file,
      key: 'cerebrium.scaling.replica_concurrency',
      value: concurrency,
      expected: `${config.maxConcurrency}, the ${dockerfileName}'s MAX_CONCURRENCY`,
    })
  }

  const stopMs = config.shutdownDelayMs + config.drainTimeoutMs
  const grace = at('cerebrium.scaling.response_grace_period')
  if (typeof grace !== 'number' || grace * 1000 <= stopMs) {
    problems.push({
      file,
      key: 'cerebrium.scaling.response_grace_period',
      value: grace,
      expected: `more than ${stopMs / 1000} seconds, SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS (${config.shutdownDelayMs} + ${config.drainTimeoutMs} ms)`,
    })
  }

  // Cerebrium restarts a replica whose health check fails and does not say whether it checks during
  // response_grace_period; with the listener closed at the drain, the check (HTTP or, without an
  // endpoint, TCP) fails from then on, and a restart would kill the work being drained.
  if (config.listenerAtDrain === 'close') {
    problems.push({
      file: dockerfileName,
      key: 'ENV LISTENER_AT_DRAIN',
      value: config.listenerAtDrain,
      expected: `"keep": with "close" the health check (${String(at('cerebrium.runtime.custom.healthcheck_endpoint') || 'a TCP connect')}) is refused from the drain on, and Cerebrium restarts a replica whose health check fails`,
    })
  }

  problems.push(
    ...probeProblems(service, 'health', at('cerebrium.runtime.custom.healthcheck_endpoint')).map((p) => ({
      file,
      key: 'cerebrium.runtime.custom.healthcheck_endpoint',
      ...p,
    })),
    ...probeProblems(service, 'ready', at('cerebrium.runtime.custom.readycheck_endpoint')).map((p) => ({
      file,
      key: 'cerebrium.runtime.custom.readycheck_endpoint',
      ...p,
    })),
  )
  return problems
}
