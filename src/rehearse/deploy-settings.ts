import { containerEnv, dig, readDeployFile, findDeployment, firstLine, isTable, parseCerebriumToml, parseManifests, type Table } from '../config/deploy-documents.ts'
import { RehearseError } from './rehearse-error.ts'

/** What a deployment file says about how the platform runs the service; each field only when the file sets it. */
export interface DeploySettings {
  /** The file read, as given. */
  readonly file: string
  readonly port?: number
  /** `null`: the file configures no HTTP check, so the platform checks TCP only. */
  readonly readyPath?: string | null
  readonly healthPath?: string | null
  readonly gracePeriodSeconds?: number
  /** The readiness probe's period (Kubernetes periodSeconds). */
  readonly probeIntervalSeconds?: number
  /** Environment the platform gives the container (Kubernetes: the container's literal env values). */
  readonly env?: ReadonlyMap<string, string>
}

/** `[cerebrium.runtime.custom]` port, readycheck_endpoint, healthcheck_endpoint; `[cerebrium.scaling]` response_grace_period. */
export function readCerebriumSettings(file: string): DeploySettings {
  const text = readText(file)
  let toml: Table
  try {
    toml = parseCerebriumToml(text)
  } catch (error) {
    throw new RehearseError(`${file} is not valid TOML: ${firstLine(error)}`)
  }
  const custom = ['cerebrium', 'runtime', 'custom']
  const at = (keys: string[]) => ({ key: keys.join('.'), value: dig(toml, keys) })
  return {
    file,
    ...optional('port', port(file, at([...custom, 'port']))),
    // An empty endpoint is how cerebrium.toml asks for the TCP check, as is leaving it out.
    readyPath: endpoint(file, at([...custom, 'readycheck_endpoint'])) ?? null,
    healthPath: endpoint(file, at([...custom, 'healthcheck_endpoint'])) ?? null,
    ...optional('gracePeriodSeconds', seconds(file, at(['cerebrium', 'scaling', 'response_grace_period']))),
  }
}

/** The Deployment's first container: its first containerPort, readiness and liveness httpGet paths; the pod's terminationGracePeriodSeconds. */
export function readKubernetesSettings(file: string): DeploySettings {
  const parsed = parseManifests(readText(file))
  if (!parsed.ok) throw new RehearseError(`${file} is not valid YAML: ${parsed.errors[0]}`)
  const deployment = findDeployment(parsed.manifests)
  if (!deployment) throw new RehearseError(`${file} has no Deployment manifest (kind: Deployment) to read the container from`)
  const podKeys = ['spec', 'template', 'spec']
  const containers = dig(deployment, [...podKeys, 'containers'])
  const container = Array.isArray(containers) ? containers[0] : undefined
  if (!isTable(container)) throw new RehearseError(`${file}: spec.template.spec.containers[0] is missing`)
  const containerKey = 'spec.template.spec.containers[0]'
  const ports = Array.isArray(container['ports']) ? container['ports'] : []
  const firstPort = isTable(ports[0]) ? ports[0]['containerPort'] : undefined
  const probePath = (probe: string) => {
    // A tcpSocket or exec probe, or none: no HTTP path to poll.
    if (!isTable(dig(container, [probe, 'httpGet']))) return null
    return endpoint(file, { key: `${containerKey}.${probe}.httpGet.path`, value: dig(container, [probe, 'httpGet', 'path']) ?? '/' }) ?? null
  }
  return {
    file,
    ...optional('port', port(file, { key: `${containerKey}.ports[0].containerPort`, value: firstPort })),
    readyPath: probePath('readinessProbe'),
    healthPath: probePath('livenessProbe'),
    ...optional('probeIntervalSeconds', positiveSeconds(file, { key: `${containerKey}.readinessProbe.periodSeconds`, value: dig(container, ['readinessProbe', 'periodSeconds']) })),
    env: containerEnv(parsed.manifests),
    // Kubernetes' default when the pod spec leaves it out.
    gracePeriodSeconds: seconds(file, { key: 'spec.template.spec.terminationGracePeriodSeconds', value: dig(deployment, [...podKeys, 'terminationGracePeriodSeconds']) }) ?? 30,
  }
}

interface Entry {
  readonly key: string
  readonly value: unknown
}

function readText(file: string): string {
  const read = readDeployFile(file)
  if (!read.ok) throw new RehearseError(`cannot read ${file} (${read.reason})`)
  return read.text
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }
}

function invalid(file: string, { key, value }: Entry, expected: string): RehearseError {
  return new RehearseError(`${file}: ${key} must be ${expected}; received ${JSON.stringify(value) ?? String(value)}`)
}

function port(file: string, entry: Entry): number | undefined {
  if (entry.value === undefined) return undefined
  if (!Number.isInteger(entry.value) || (entry.value as number) < 1 || (entry.value as number) > 65_535) {
    throw invalid(file, entry, 'an integer port from 1 to 65535')
  }
  return entry.value as number
}

/** A path to poll; `undefined` when absent or empty (TCP check). */
function endpoint(file: string, entry: Entry): string | undefined {
  if (entry.value === undefined || entry.value === '') return undefined
  if (typeof entry.value !== 'string' || !entry.value.startsWith('/')) throw invalid(file, entry, 'a path starting with "/", or empty for a TCP check')
  return entry.value
}

function seconds(file: string, entry: Entry): number | undefined {
  if (entry.value === undefined) return undefined
  if (typeof entry.value !== 'number' || !Number.isFinite(entry.value) || entry.value < 0) throw invalid(file, entry, 'a number of seconds, 0 or more')
  return entry.value
}

function positiveSeconds(file: string, entry: Entry): number | undefined {
  const value = seconds(file, entry)
  if (value === 0) throw invalid(file, entry, 'a number of seconds above 0')
  return value
}
