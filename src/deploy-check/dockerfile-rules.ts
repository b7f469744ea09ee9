import type { DeployProblem } from './deploy-problem.ts'
import type { DockerfileFacts } from './dockerfile-facts.ts'
import type { ServiceFacts } from './service-facts.ts'

// Launchers that receive SIGTERM themselves and do not (reliably) hand it to node.
const wrappers = new Set(['sh', 'bash', 'dash', 'ash', 'npm', 'npx', 'yarn', 'pnpm', 'corepack', 'env'])

// Inside a container the platform's probes and traffic arrive on the container's own interface, not loopback.
export const anyAddress = new Set(['0.0.0.0', '::'])
export const hostExpectation = '"0.0.0.0" (or "::"): the platform connects from outside the container, not over loopback'

/** The image's final stage: how it starts, what it exposes, who it runs as. */
export function dockerfileRules(file: string, dockerfile: DockerfileFacts, service: ServiceFacts | undefined): DeployProblem[] {
  const stage = dockerfile.final
  if (!stage) return [{ file, key: 'FROM', value: undefined, expected: 'at least one stage' }]
  const problems: DeployProblem[] = []
  const example = '["node", "dist/main.js"]'

  if (stage.entrypoint?.form === 'shell') {
    problems.push({ file, key: 'ENTRYPOINT', value: stage.entrypoint.text, expected: `exec form (a JSON array); shell form runs under /bin/sh -c, which does not pass SIGTERM to node` })
  }
  if (!stage.cmd && !stage.entrypoint) {
    problems.push({ file, key: 'CMD', value: undefined, expected: `an exec-form CMD starting node, e.g. ${example}` })
  } else if (stage.cmd?.form === 'shell') {
    problems.push({ file, key: 'CMD', value: stage.cmd.text, expected: `exec form, e.g. ${example}; shell form runs under /bin/sh -c, which does not pass SIGTERM to node` })
  } else if (stage.entrypoint?.form !== 'shell') {
    const argv = [...(stage.entrypoint?.argv ?? []), ...(stage.cmd?.argv ?? [])]
    const program = argv[0]?.split('/').at(-1) ?? ''
    if (program !== 'node') {
      const why = wrappers.has(program) ? `; ${program} receives SIGTERM instead of node` : ''
      const key = stage.entrypoint ? 'ENTRYPOINT' : 'CMD'
      problems.push({ file, key: `${key}[0]`, value: argv[0], expected: `"node", so SIGTERM reaches the service${why}` })
    }
  }

  if (stage.expose.length === 0) {
    const port = service ? ` ${service.config.port}` : ''
    problems.push({ file, key: 'EXPOSE', value: undefined, expected: `EXPOSE${port}, the port the service listens on` })
  } else if (service) {
    const ports = stage.expose.map((p) => p.replace(/\/tcp$/i, ''))
    if (!ports.includes(String(service.config.port))) {
      problems.push({ file, key: 'EXPOSE', value: stage.expose.join(' '), expected: `${service.config.port}, the service's PORT` })
    }
  }

  if (service && !anyAddress.has(service.config.host)) {
    problems.push({ file, key: 'ENV HOST', value: service.config.host, expected: hostExpectation })
  }

  const user = stage.user?.split(':')[0]
  if (user === undefined || user === 'root' || user === '0') {
    problems.push({ file, key: 'USER', value: stage.user, expected: 'a non-root user (the node images have `node`, uid 1000)' })
  }
  return problems
}
