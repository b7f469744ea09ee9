import { dig, findDeployment, isTable, type Table } from '../config/deploy-documents.ts'
import type { DeployNote, DeployProblem } from './deploy-problem.ts'
import type { ServiceFacts } from './service-facts.ts'

/**
 * `WORKERS` (docs/cluster.md) against the CPUs the platform gives a replica. More workers than whole CPUs
 * only take turns on them: each request waits longer and the replica serves no more. `MAX_CONCURRENCY` is
 * the replica's whatever the workers, so `replica_concurrency` is checked against it unchanged
 * (cerebrium-rules.ts). `WORKERS=auto` is decided at start from the container's CPU set and quota: a note
 * says what it will come to, since the file does not fix it.
 */
export interface WorkerFindings {
  readonly problems: DeployProblem[]
  readonly notes: DeployNote[]
}

/** Whole CPUs, as the service's `WORKERS=auto` rounds a quota down (1.5 CPUs run one busy worker, not two); at least 1. */
const wholeCpus = (cpus: number): number => Math.max(1, Math.floor(cpus))

const crowded = 'workers beyond the replica\'s CPUs only take turns on them: each request waits longer and the replica serves no more'

export function cerebriumWorkerRules(file: string, toml: Table, service: ServiceFacts, dockerfileName: string): WorkerFindings {
  const { workers } = service.config
  const cpu = dig(toml, ['cerebrium', 'hardware', 'cpu'])
  const findings: WorkerFindings = { problems: [], notes: [] }
  if (typeof cpu !== 'number' || !(cpu > 0)) return findings
  if (workers === 'auto') {
    findings.notes.push({
      file: dockerfileName,
      key: 'ENV WORKERS',
      value: 'auto',
      note: `the workers are counted at start from the container's CPU set and quota (docs/cluster.md); with ${file}'s cerebrium.hardware.cpu = ${cpu} that is ${wholeCpus(cpu)} if the platform enforces it as a quota: WORKERS=${wholeCpus(cpu)} says so in the file`,
    })
  } else if (workers > wholeCpus(cpu)) {
    findings.problems.push({
      file: dockerfileName,
      key: 'ENV WORKERS',
      value: String(workers),
      expected: `at most ${wholeCpus(cpu)}, ${file}'s cerebrium.hardware.cpu (${cpu}): ${crowded}`,
    })
  }
  return findings
}

/** `imageFile`: the Dockerfile, where WORKERS comes from when the manifest does not set it. */
export function kubernetesWorkerRules(file: string, manifests: readonly unknown[], service: ServiceFacts, containerPath: string, imageFile: string): WorkerFindings {
  const { workers } = service.config
  const findings: WorkerFindings = { problems: [], notes: [] }
  const deployment = findDeployment(manifests)
  const containers = dig(deployment, ['spec', 'template', 'spec', 'containers'])
  const container = Array.isArray(containers) && isTable(containers[0]) ? containers[0] : undefined
  if (container === undefined) return findings
  const limit = dig(container, ['resources', 'limits', 'cpu'])
  const cpus = cpuQuantity(limit)
  const setHere = envValue(container, 'WORKERS')
  if (workers === 'auto') {
    const where = setHere === undefined ? { file: imageFile, key: 'ENV WORKERS' } : { file, key: `${containerPath}.env.WORKERS` }
    findings.notes.push({
      ...where,
      value: 'auto',
      note:
        cpus === null
          ? `${file} sets no ${containerPath}.resources.limits.cpu: as many workers as the node's CPUs in the pod's CPU set, whatever its requests.cpu; set limits.cpu, or WORKERS to a number`
          : `${wholeCpus(cpus)} worker(s) in ${file}, from ${containerPath}.resources.limits.cpu = ${JSON.stringify(limit)} (the container's CPU quota, rounded down)`,
    })
  } else if (cpus !== null && workers > wholeCpus(cpus)) {
    findings.problems.push(
      setHere === undefined
        ? { file, key: `${containerPath}.resources.limits.cpu`, value: limit, expected: `at least ${workers}, the image's WORKERS: ${crowded}` }
        : { file, key: `${containerPath}.env.WORKERS`, value: setHere, expected: `at most ${wholeCpus(cpus)}, the container's resources.limits.cpu (${JSON.stringify(limit)}): ${crowded}` },
    )
  }
  return findings
}

/** A Kubernetes CPU quantity (`2`, `"1.5"`, `"500m"`) in CPUs; null when absent or not one. */
export function cpuQuantity(value: unknown): number | null {
  if (typeof value === 'number') return value > 0 ? value : null
  if (typeof value !== 'string') return null
  const match = /^([0-9]+(?:\.[0-9]+)?)(m?)$/.exec(value.trim())
  if (!match) return null
  const n = Number(match[1]) / (match[2] === 'm' ? 1000 : 1)
  return n > 0 ? n : null
}

function envValue(container: Table, name: string): unknown {
  const env = Array.isArray(container['env']) ? container['env'] : []
  return (env.find((e) => isTable(e) && e['name'] === name) as Table | undefined)?.['value']
}
