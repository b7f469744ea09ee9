import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { checkDeploy } from './check-deploy.ts'
import { formatNote, formatProblem } from './deploy-problem.ts'

// `npm run check:deploy`: exit 0 when the files agree with the service, 1 with one line per problem, 2 on bad usage.
const usage = `usage: check-deploy [--dir DIR] [--cerebrium FILE] [--dockerfile FILE] [--kubernetes FILE | --no-kubernetes]
  --dir          project root (default: the current directory)
  --cerebrium    cerebrium.toml to check (default: cerebrium.toml)
  --dockerfile   Dockerfile (default: cerebrium.toml's dockerfile_path, then Dockerfile)
  --kubernetes   Kubernetes manifests (default: deploy/k8s/lameduck.yaml when it exists)
  --no-kubernetes  check no Kubernetes manifests`

const defaultKubernetes = 'deploy/k8s/lameduck.yaml'

let values
try {
  ;({ values } = parseArgs({
    options: {
      dir: { type: 'string', default: '.' },
      cerebrium: { type: 'string', default: 'cerebrium.toml' },
      dockerfile: { type: 'string' },
      kubernetes: { type: 'string' },
      'no-kubernetes': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }))
} catch (error) {
  process.stderr.write(`check-deploy: ${(error as Error).message}\n${usage}\n`)
  process.exit(2)
}
if (values.help) {
  process.stdout.write(`${usage}\n`)
  process.exit(0)
}

const dir = resolve(values.dir)
const kubernetes =
  values['no-kubernetes'] ? undefined
  : values.kubernetes !== undefined ? values.kubernetes
  : existsSync(resolve(dir, defaultKubernetes)) ? defaultKubernetes
  : undefined

const result = await checkDeploy({ dir, cerebrium: values.cerebrium, dockerfile: values.dockerfile, kubernetes })
// Notes (WORKERS=auto) never fail the check: they say what the platform will decide.
for (const note of result.notes) process.stdout.write(`check-deploy: note: ${formatNote(note)}\n`)
for (const problem of result.problems) process.stderr.write(`${formatProblem(problem)}\n`)
if (result.problems.length > 0) {
  process.stderr.write(`check-deploy: ${result.problems.length} problem(s) in ${result.checked.join(', ') || 'no readable file'}\n`)
  process.exitCode = 1
} else {
  const config = result.service?.config
  // WORKERS only when it is not the default single process: the shipped files' line stays as it was.
  const workers = config && config.workers !== 1 ? `, WORKERS ${config.workers}` : ''
  const settings = config ? ` (PORT ${config.port}, MAX_CONCURRENCY ${config.maxConcurrency}, SHUTDOWN_DELAY_MS ${config.shutdownDelayMs}, DRAIN_TIMEOUT_MS ${config.drainTimeoutMs}${workers})` : ''
  process.stdout.write(`check-deploy: ok: ${result.checked.join(', ')} agree with the service${settings}\n`)
}
