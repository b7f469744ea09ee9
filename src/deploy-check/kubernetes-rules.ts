import { dig, findDeployment, isTable, type Table } from '../config/deploy-documents.ts'
import type { DeployProblem } from './deploy-problem.ts'
import { anyAddress, hostExpectation } from './dockerfile-rules.ts'
import { probeProblems } from './probe-rules.ts'
import type { ServiceFacts } from './service-facts.ts'

/** The container the check reads: the Deployment's first. */
export const containerPath = 'spec.template.spec.containers[0]'

/** The Deployment and Service manifests against the service their container runs. */
export function kubernetesRules(file: string, manifests: readonly unknown[], service: ServiceFacts): DeployProblem[] {
  const deployment = findDeployment(manifests)
  if (!deployment) return [{ file, key: 'kind', value: undefined, expected: 'a Deployment manifest' }]
  const podSpec = dig(deployment, ['spec', 'template', 'spec'])
  const container = (isTable(podSpec) && Array.isArray(podSpec['containers']) ? podSpec['containers'][0] : undefined) as Table | undefined
  if (!isTable(podSpec) || !isTable(container)) {
    return [{ file, key: containerPath, value: undefined, expected: 'a container running the image' }]
  }
  const problems: DeployProblem[] = []
  const { config } = service
  const ports = (Array.isArray(container['ports']) ? container['ports'] : []).filter(isTable)
  const portNumbers = ports.map((p) => p['containerPort'])
  const servesPort = (port: unknown): boolean =>
    port === config.port || ports.some((p) => p['name'] === port && p['containerPort'] === config.port)

  if (!portNumbers.includes(config.port)) {
    problems.push({ file, key: `${containerPath}.ports[].containerPort`, value: portNumbers.length ? portNumbers : undefined, expected: `${config.port}, the service's PORT` })
  }

  for (const [probe, role] of [['readinessProbe', 'ready'], ['livenessProbe', 'health']] as const) {
    const httpGet = dig(container, [probe, 'httpGet'])
    const key = `${containerPath}.${probe}.httpGet`
    for (const p of probeProblems(service, role, isTable(httpGet) ? httpGet['path'] : undefined)) problems.push({ file, key: `${key}.path`, ...p })
    if (isTable(httpGet) && !servesPort(httpGet['port'])) {
      problems.push({ file, key: `${key}.port`, value: httpGet['port'], expected: `${config.port} or the name of the container port ${config.port}` })
    }
  }

  for (const entry of Array.isArray(container['env']) ? container['env'] : []) {
    if (isTable(entry) && entry['value'] !== undefined && typeof entry['value'] !== 'string') {
      problems.push({ file, key: `${containerPath}.env.${String(entry['name'])}`, value: entry['value'], expected: `a string ("${String(entry['value'])}"); Kubernetes rejects other types in env values` })
    }
  }

  // Only when the manifest sets it: an image's own HOST is the Dockerfile's problem, reported there.
  const host = envValue(container, 'HOST')
  if (host !== undefined && !anyAddress.has(config.host)) {
    problems.push({ file, key: `${containerPath}.env.HOST`, value: host, expected: hostExpectation })
  }

  if (config.shutdownDelayMs === 0) {
    problems.push({
      file,
      key: `${containerPath}.env.SHUTDOWN_DELAY_MS`,
      value: envValue(container, 'SHUTDOWN_DELAY_MS'),
      expected: 'more than 0 (e.g. "5000"): Kubernetes sends SIGTERM while the endpoint is still being removed, and new requests keep arriving for a moment',
    })
  }

  const stopMs = config.shutdownDelayMs + config.drainTimeoutMs
  const grace = podSpec['terminationGracePeriodSeconds']
  const graceSeconds = grace === undefined ? 30 : grace
  if (typeof graceSeconds !== 'number' || graceSeconds * 1000 <= stopMs) {
    problems.push({
      file,
      key: 'spec.template.spec.terminationGracePeriodSeconds',
      value: grace,
      expected: `more than ${stopMs / 1000} seconds, SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS (${config.shutdownDelayMs} + ${config.drainTimeoutMs} ms)${grace === undefined ? '; the default is 30' : ''}`,
    })
  }

  for (const manifest of manifests) {
    if (!isTable(manifest) || manifest['kind'] !== 'Service') continue
    const servicePorts = (dig(manifest, ['spec', 'ports']) ?? []) as unknown[]
    servicePorts.filter(isTable).forEach((port, index) => {
      const target = port['targetPort'] ?? port['port']
      if (!servesPort(target)) {
        problems.push({ file, key: `Service ${String(dig(manifest, ['metadata', 'name']))} spec.ports[${index}].targetPort`, value: target, expected: `${config.port} or the name of the container port ${config.port}` })
      }
    })
  }
  return problems
}

function envValue(container: Table, name: string): unknown {
  const env = Array.isArray(container['env']) ? container['env'] : []
  return (env.find((e) => isTable(e) && e['name'] === name) as Table | undefined)?.['value']
}
