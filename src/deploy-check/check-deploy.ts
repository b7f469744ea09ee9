import { relative, resolve } from 'node:path'
import { containerEnv, dig, firstLine, readDeployFile, parseCerebriumToml, parseManifests } from '../config/deploy-documents.ts'
import { cerebriumRules } from './cerebrium-rules.ts'
import type { DeployNote, DeployProblem } from './deploy-problem.ts'
import { type DockerfileFacts, readDockerfile } from './dockerfile-facts.ts'
import { dockerfileRules } from './dockerfile-rules.ts'
import { containerPath, kubernetesRules } from './kubernetes-rules.ts'
import { envProblems, type ServiceFacts, serviceFacts } from './service-facts.ts'
import { cerebriumWorkerRules, kubernetesWorkerRules, type WorkerFindings } from './worker-rules.ts'

export interface DeployFiles {
  /** Project root; the other paths are relative to it. */
  readonly dir: string
  readonly cerebrium: string
  /** Defaults to cerebrium.toml's `dockerfile_path`, then `Dockerfile`. */
  readonly dockerfile?: string | undefined
  /** `undefined`: none to check. */
  readonly kubernetes?: string | undefined
}

export interface DeployCheck {
  readonly problems: readonly DeployProblem[]
  /** What the files leave to the platform (WORKERS=auto): said, not a failure. */
  readonly notes: readonly DeployNote[]
  /** The files read, relative to `dir`, and the service settings they were checked against. */
  readonly checked: readonly string[]
  readonly service: ServiceFacts | undefined
}

/** Reads the deployment files with real parsers and checks them against the service and each other. */
export async function checkDeploy(files: DeployFiles): Promise<DeployCheck> {
  const problems: DeployProblem[] = []
  const notes: DeployNote[] = []
  const checked: string[] = []
  const take = (findings: WorkerFindings) => {
    problems.push(...findings.problems)
    notes.push(...findings.notes)
  }
  const name = (path: string) => relative(files.dir, resolve(files.dir, path)) || path

  // cerebrium.toml names the Dockerfile, so it is read first.
  const tomlFile = name(files.cerebrium)
  const tomlText = readText(files.dir, tomlFile, problems)
  let toml: Record<string, unknown> | undefined
  if (tomlText !== undefined) {
    checked.push(tomlFile)
    try {
      toml = parseCerebriumToml(tomlText)
    } catch (error) {
      problems.push({ file: tomlFile, key: '(syntax)', value: firstLine(error), expected: 'valid TOML' })
    }
  }

  const dockerfilePath = dig(toml, ['cerebrium', 'runtime', 'custom', 'dockerfile_path'])
  const dockerfileFile = name(files.dockerfile ?? (typeof dockerfilePath === 'string' ? dockerfilePath : 'Dockerfile'))
  const dockerfileText = readText(files.dir, dockerfileFile, problems)
  if (dockerfileText === undefined && dockerfilePath !== undefined && files.dockerfile === undefined) {
    problems.push({ file: tomlFile, key: 'cerebrium.runtime.custom.dockerfile_path', value: dockerfilePath, expected: 'the path of an existing Dockerfile, relative to the project' })
  }
  let dockerfile: DockerfileFacts | undefined
  let service: ServiceFacts | undefined
  if (dockerfileText !== undefined) {
    checked.push(dockerfileFile)
    dockerfile = readDockerfile(dockerfileText)
    const env = dockerfile.final?.env ?? new Map<string, string>()
    const bad = envProblems(env)
    for (const p of bad) problems.push({ file: dockerfileFile, key: `ENV ${p.variable}`, value: p.value, expected: p.expected })
    if (bad.length === 0) service = await serviceFacts(env)
    problems.push(...dockerfileRules(dockerfileFile, dockerfile, service))
    if (toml && service) {
      problems.push(...cerebriumRules(tomlFile, toml, service, dockerfileFile))
      take(cerebriumWorkerRules(tomlFile, toml, service, dockerfileFile))
    }
  }

  if (files.kubernetes !== undefined) {
    const k8sFile = name(files.kubernetes)
    const k8sText = readText(files.dir, k8sFile, problems)
    if (k8sText !== undefined) {
      checked.push(k8sFile)
      const parsed = parseManifests(k8sText)
      if (!parsed.ok) {
        for (const error of parsed.errors) problems.push({ file: k8sFile, key: '(syntax)', value: error, expected: 'valid YAML' })
      } else {
        const manifests = parsed.manifests
        // The container runs the image: its env overrides the Dockerfile's ENV.
        const env = new Map([...(dockerfile?.final?.env ?? []), ...containerEnv(manifests)])
        const bad = envProblems(env)
        for (const p of bad) problems.push({ file: k8sFile, key: `${containerPath}.env.${p.variable}`, value: p.value, expected: p.expected })
        if (bad.length === 0) {
          const facts = await serviceFacts(env)
          problems.push(...kubernetesRules(k8sFile, manifests, facts))
          take(kubernetesWorkerRules(k8sFile, manifests, facts, containerPath, dockerfileFile))
        }
      }
    }
  }
  return { problems, notes, checked, service }
}

function readText(dir: string, file: string, problems: DeployProblem[]): string | undefined {
  const read = readDeployFile(resolve(dir, file))
  if (read.ok) return read.text
  problems.push({ file, key: '(file)', value: read.reason, expected: read.code === 'EFBIG' ? 'a deployment file of at most 1 MiB' : 'a readable file' })
  return undefined
}
