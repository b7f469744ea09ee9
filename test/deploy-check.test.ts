import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkDeploy } from '../src/deploy-check/check-deploy.ts'
import { envProblems } from '../src/deploy-check/service-facts.ts'
import { formatNote, formatProblem } from '../src/deploy-check/deploy-problem.ts'
import { cpuQuantity } from '../src/deploy-check/worker-rules.ts'
import { type DeployFile, deployCopy, type Edit } from './support/deploy-copy.ts'
import { repoRoot } from './support/service-process.ts'

const k8s = 'deploy/k8s/lameduck.yaml'
// The shipped CMD line, whatever flags it carries: the CMD tests rewrite it.
const cmdLine = readFileSync(resolve(repoRoot, 'Dockerfile'), 'utf8').split('\n').find((line) => line.startsWith('CMD '))!
const shellForm = (JSON.parse(cmdLine.slice(4)) as string[]).join(' ')
const container = 'spec.template.spec.containers[0]'
const copies: { remove(): void }[] = []
afterEach(() => {
  for (const copy of copies.splice(0)) copy.remove()
})

/** The problem lines the check prints for a copy of the shipped files with these edits. */
async function problemsWith(edits: Partial<Record<DeployFile, readonly Edit[]>>): Promise<string[]> {
  const copy = deployCopy(edits)
  copies.push(copy)
  const result = await checkDeploy({ dir: copy.dir, cerebrium: 'cerebrium.toml', kubernetes: k8s })
  return result.problems.map(formatProblem)
}

function runCli(args: string[]) {
  return spawnSync(process.execPath, [resolve(repoRoot, 'src/deploy-check/cli.ts'), ...args], { encoding: 'utf8', timeout: 20_000 })
}

describe('check:deploy on the shipped files', () => {
  it('finds no problem in cerebrium.toml, the Dockerfile and the Kubernetes example', async () => {
    const result = await checkDeploy({ dir: repoRoot, cerebrium: 'cerebrium.toml', kubernetes: k8s })
    expect(result.problems.map(formatProblem)).toEqual([])
    expect(result.checked).toEqual(['cerebrium.toml', 'Dockerfile', k8s])
  })

  it('exits 0 from the command line and says what it compared', () => {
    const run = runCli(['--dir', repoRoot])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toBe(
      'check-deploy: ok: cerebrium.toml, Dockerfile, deploy/k8s/lameduck.yaml agree with the service (PORT 8000, MAX_CONCURRENCY 4, SHUTDOWN_DELAY_MS 0, DRAIN_TIMEOUT_MS 30000)\n',
    )
  })
})

describe('check:deploy on broken copies: one precise line per problem', () => {
  it('replica_concurrency differing from the image MAX_CONCURRENCY', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['replica_concurrency = 4', 'replica_concurrency = 2']] })).toEqual([
      "cerebrium.toml: cerebrium.scaling.replica_concurrency = 2: expected 4, the Dockerfile's MAX_CONCURRENCY",
    ])
  })

  it('MAX_CONCURRENCY changed in the Dockerfile but not in cerebrium.toml', async () => {
    expect(await problemsWith({ Dockerfile: [['MAX_CONCURRENCY=4', 'MAX_CONCURRENCY=8']] })).toEqual([
      "cerebrium.toml: cerebrium.scaling.replica_concurrency = 4: expected 8, the Dockerfile's MAX_CONCURRENCY",
    ])
  })

  it('replica_concurrency missing (the platform default would silently apply)', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['replica_concurrency = 4\n', '']] })).toEqual([
      "cerebrium.toml: cerebrium.scaling.replica_concurrency = (missing): expected 4, the Dockerfile's MAX_CONCURRENCY",
    ])
  })

  it('cerebrium port differing from the service PORT', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['port = 8000', 'port = 8080']] })).toEqual([
      "cerebrium.toml: cerebrium.runtime.custom.port = 8080: expected 8000, the Dockerfile's PORT",
    ])
  })

  it('EXPOSE differing from PORT', async () => {
    expect(await problemsWith({ Dockerfile: [['EXPOSE 8000', 'EXPOSE 8080']] })).toEqual([
      'Dockerfile: EXPOSE = "8080": expected 8000, the service\'s PORT',
    ])
  })

  it('PORT changed in the image only: both EXPOSE and cerebrium port are named', async () => {
    expect(await problemsWith({ Dockerfile: [['PORT=8000', 'PORT=9000']] })).toEqual([
      'Dockerfile: EXPOSE = "8000": expected 9000, the service\'s PORT',
      "cerebrium.toml: cerebrium.runtime.custom.port = 8000: expected 9000, the Dockerfile's PORT",
      `${k8s}: ${container}.ports[].containerPort = [8000]: expected 9000, the service's PORT`,
      `${k8s}: ${container}.readinessProbe.httpGet.port = "http": expected 9000 or the name of the container port 9000`,
      `${k8s}: ${container}.livenessProbe.httpGet.port = "http": expected 9000 or the name of the container port 9000`,
      `${k8s}: Service lameduck spec.ports[0].targetPort = "http": expected 9000 or the name of the container port 9000`,
    ])
  })

  it('EXPOSE missing', async () => {
    expect(await problemsWith({ Dockerfile: [['EXPOSE 8000\n', '']] })).toEqual([
      'Dockerfile: EXPOSE = (missing): expected EXPOSE 8000, the port the service listens on',
    ])
  })

  it('readiness check missing: the platform would fall back to a TCP check', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['readycheck_endpoint = "/ready"\n', '']] })).toEqual([
      'cerebrium.toml: cerebrium.runtime.custom.readycheck_endpoint = (missing): expected "/ready", the service\'s readiness probe, which answers 503 while starting, at capacity and draining (without it the platform only checks that the port accepts connections)',
    ])
  })

  it('readiness check pointed at the liveness probe', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['readycheck_endpoint = "/ready"', 'readycheck_endpoint = "/health"']] })).toEqual([
      'cerebrium.toml: cerebrium.runtime.custom.readycheck_endpoint = "/health": expected "/ready", the service\'s readiness probe, which answers 503 while starting, at capacity and draining',
    ])
  })

  it('health check pointed at a path the service does not serve', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['healthcheck_endpoint = "/health"', 'healthcheck_endpoint = "/healthz"']] })).toEqual([
      'cerebrium.toml: cerebrium.runtime.custom.healthcheck_endpoint = "/healthz": expected "/health", the service\'s liveness probe, which stays 200 during a drain; the service does not serve GET /healthz',
    ])
  })

  it('grace period not longer than delay plus drain', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['response_grace_period = 40', 'response_grace_period = 30']] })).toEqual([
      'cerebrium.toml: cerebrium.scaling.response_grace_period = 30: expected more than 30 seconds, SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS (0 + 30000 ms)',
    ])
  })

  it('a longer shutdown delay in the image outgrowing the grace period', async () => {
    expect(await problemsWith({ Dockerfile: [['SHUTDOWN_DELAY_MS=0', 'SHUTDOWN_DELAY_MS=15000']] })).toEqual([
      'cerebrium.toml: cerebrium.scaling.response_grace_period = 40: expected more than 45 seconds, SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS (15000 + 30000 ms)',
    ])
  })

  it('CMD in shell form', async () => {
    expect(await problemsWith({ Dockerfile: [[cmdLine, `CMD ${shellForm}`]] })).toEqual([
      `Dockerfile: CMD = ${JSON.stringify(shellForm)}: expected exec form, e.g. ["node", "dist/main.js"]; shell form runs under /bin/sh -c, which does not pass SIGTERM to node`,
    ])
  })

  it('CMD wrapped in npm', async () => {
    expect(await problemsWith({ Dockerfile: [[cmdLine, 'CMD ["npm", "start"]']] })).toEqual([
      'Dockerfile: CMD[0] = "npm": expected "node", so SIGTERM reaches the service; npm receives SIGTERM instead of node',
    ])
  })

  it('CMD wrapped in sh -c', async () => {
    expect(await problemsWith({ Dockerfile: [[cmdLine, `CMD ["/bin/sh", "-c", ${JSON.stringify(shellForm)}]`]] })).toEqual([
      'Dockerfile: CMD[0] = "/bin/sh": expected "node", so SIGTERM reaches the service; sh receives SIGTERM instead of node',
    ])
  })

  it('CMD missing', async () => {
    expect(await problemsWith({ Dockerfile: [[`${cmdLine}\n`, '']] })).toEqual([
      'Dockerfile: CMD = (missing): expected an exec-form CMD starting node, e.g. ["node", "dist/main.js"]',
    ])
  })

  it('HOST bound to loopback: unreachable from outside the container', async () => {
    expect(await problemsWith({ Dockerfile: [['HOST=0.0.0.0', 'HOST=127.0.0.1']] })).toEqual([
      'Dockerfile: ENV HOST = "127.0.0.1": expected "0.0.0.0" (or "::"): the platform connects from outside the container, not over loopback',
    ])
    expect(
      await problemsWith({ [k8s]: [['            - name: DRAIN_TIMEOUT_MS', '            - name: HOST\n              value: localhost\n            - name: DRAIN_TIMEOUT_MS']] }),
    ).toEqual([
      `${k8s}: ${container}.env.HOST = "localhost": expected "0.0.0.0" (or "::"): the platform connects from outside the container, not over loopback`,
    ])
  })

  it('running as root', async () => {
    expect(await problemsWith({ Dockerfile: [['USER node\n', '']] })).toEqual([
      'Dockerfile: USER = (missing): expected a non-root user (the node images have `node`, uid 1000)',
    ])
  })

  it('LISTENER_AT_DRAIN=close on Cerebrium: its health check would be refused during the drain (issue 19)', async () => {
    expect(await problemsWith({ Dockerfile: [['LISTENER_AT_DRAIN=keep', 'LISTENER_AT_DRAIN=close']] })).toEqual([
      'Dockerfile: ENV LISTENER_AT_DRAIN = "close": expected "keep": with "close" the health check (/health) is refused from the drain on, and Cerebrium restarts a replica whose health check fails',
    ])
  })

  it('an ENV value the service would refuse at start-up (exit 78)', async () => {
    expect(await problemsWith({ Dockerfile: [['MAX_CONCURRENCY=4', 'MAX_CONCURRENCY=four']] })).toEqual([
      'Dockerfile: ENV MAX_CONCURRENCY = "four": expected an integer from 1 to 1000000',
    ])
  })

  it('dockerfile_path naming a missing file', async () => {
    expect(await problemsWith({ 'cerebrium.toml': [['dockerfile_path = "./Dockerfile"', 'dockerfile_path = "./docker/Dockerfile"']] })).toEqual([
      'docker/Dockerfile: (file) = "ENOENT": expected a readable file',
      'cerebrium.toml: cerebrium.runtime.custom.dockerfile_path = "./docker/Dockerfile": expected the path of an existing Dockerfile, relative to the project',
    ])
  })

  it('invalid YAML: one line per parser error', async () => {
    const lines = await problemsWith({ [k8s]: [['      terminationGracePeriodSeconds: 45\n', '    terminationGracePeriodSeconds: 45\n']] })
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line).toMatch(/^deploy\/k8s\/lameduck\.yaml: \(syntax\) = ".+ at line \d+, column \d+:": expected valid YAML$/)
  })

  it('invalid TOML', async () => {
    const lines = await problemsWith({ 'cerebrium.toml': [['name = "lameduck"', 'name = lameduck']] })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^cerebrium\.toml: \(syntax\) = ".+": expected valid TOML$/)
  })

  it('Kubernetes probes pointing at the wrong paths', async () => {
    expect(
      await problemsWith({ [k8s]: [['path: /ready', 'path: /health'], ['path: /health\n              port: http\n            periodSeconds: 10', 'path: /live\n              port: http\n            periodSeconds: 10']] }),
    ).toEqual([
      `${k8s}: ${container}.readinessProbe.httpGet.path = "/health": expected "/ready", the service's readiness probe, which answers 503 while starting, at capacity and draining`,
      `${k8s}: ${container}.livenessProbe.httpGet.path = "/live": expected "/health", the service's liveness probe, which stays 200 during a drain; the service does not serve GET /live`,
    ])
  })

  it('Kubernetes without a shutdown delay for the endpoint race', async () => {
    expect(await problemsWith({ [k8s]: [['value: "5000"', 'value: "0"']] })).toEqual([
      `${k8s}: ${container}.env.SHUTDOWN_DELAY_MS = "0": expected more than 0 (e.g. "5000"): Kubernetes sends SIGTERM while the endpoint is still being removed, and new requests keep arriving for a moment`,
    ])
  })

  it('Kubernetes grace period left at its default of 30 s', async () => {
    expect(await problemsWith({ [k8s]: [['      terminationGracePeriodSeconds: 45\n', '']] })).toEqual([
      `${k8s}: spec.template.spec.terminationGracePeriodSeconds = (missing): expected more than 35 seconds, SHUTDOWN_DELAY_MS + DRAIN_TIMEOUT_MS (5000 + 30000 ms); the default is 30`,
    ])
  })

  it('Kubernetes env value written as a number', async () => {
    expect(await problemsWith({ [k8s]: [['value: "5000"', 'value: 5000']] })).toEqual([
      `${k8s}: ${container}.env.SHUTDOWN_DELAY_MS = 5000: expected a string ("5000"); Kubernetes rejects other types in env values`,
    ])
  })

  it('Kubernetes Service targeting a port the container does not listen on', async () => {
    expect(await problemsWith({ [k8s]: [['targetPort: http', 'targetPort: 8080']] })).toEqual([
      `${k8s}: Service lameduck spec.ports[0].targetPort = 8080: expected 8000 or the name of the container port 8000`,
    ])
  })

  it('exits 1 from the command line, one line per problem on stderr, then a count', () => {
    const copy = deployCopy({
      'cerebrium.toml': [['replica_concurrency = 4', 'replica_concurrency = 1']],
      Dockerfile: [[cmdLine, 'CMD ["npm", "start"]']],
    })
    copies.push(copy)
    const run = runCli(['--dir', copy.dir])
    expect(run.status).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr.split('\n')).toEqual([
      'Dockerfile: CMD[0] = "npm": expected "node", so SIGTERM reaches the service; npm receives SIGTERM instead of node',
      "cerebrium.toml: cerebrium.scaling.replica_concurrency = 1: expected 4, the Dockerfile's MAX_CONCURRENCY",
      'check-deploy: 2 problem(s) in cerebrium.toml, Dockerfile, deploy/k8s/lameduck.yaml',
      '',
    ])
  })

  it('--no-kubernetes leaves the manifests out; --kubernetes names another file', () => {
    const copy = deployCopy({ [k8s]: [['value: "5000"', 'value: "0"']] })
    copies.push(copy)
    const without = runCli(['--dir', copy.dir, '--no-kubernetes'])
    expect(without.status).toBe(0)
    expect(without.stdout).toMatch(/^check-deploy: ok: cerebrium\.toml, Dockerfile agree with the service/)
    const other = runCli(['--dir', copy.dir, '--kubernetes', 'k8s.yaml'])
    expect(other.status).toBe(1)
    expect(other.stderr.split('\n')[0]).toBe('k8s.yaml: (file) = "ENOENT": expected a readable file')
  })

  it('a manifest that is an alias bomb is one problem line, not a stack; a file over 1 MiB is refused by its size', () => {
    const dir = mkdtempSync(join(tmpdir(), 'check-deploy-'))
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefgh'.split('').map((name, i) => `${name}: &${name} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`)]
    writeFileSync(join(dir, 'bomb.yaml'), `${rows.join('\n')}\n`)
    writeFileSync(join(dir, 'huge.yaml'), `# ${'x'.repeat(2 * 1024 * 1024)}\n`)
    const bomb = runCli(['--dir', repoRoot, '--kubernetes', join(dir, 'bomb.yaml')])
    expect(bomb.status).toBe(1)
    const bombFile = relative(repoRoot, join(dir, 'bomb.yaml'))
    expect(bomb.stderr.split('\n')).toEqual([
      `${bombFile}: (syntax) = "Excessive alias count indicates a resource exhaustion attack (more than 100 aliases expanded)": expected valid YAML`,
      `check-deploy: 1 problem(s) in cerebrium.toml, Dockerfile, ${bombFile}`,
      '',
    ])
    const huge = runCli(['--dir', repoRoot, '--kubernetes', join(dir, 'huge.yaml')])
    expect(huge.status).toBe(1)
    expect(huge.stderr.split('\n')[0]).toBe(`${relative(repoRoot, join(dir, 'huge.yaml'))}: (file) = "2097155 bytes, over the 1048576-byte limit for a deployment file": expected a deployment file of at most 1 MiB`)
  }, 60_000)

  it('exits 2 on an unknown option', () => {
    const run = runCli(['--cerebrum', 'x.toml'])
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/^check-deploy: Unknown option '--cerebrum'/)
  })
})

describe('check:deploy on a clustered service (WORKERS, docs/cluster.md)', () => {
  const workers = (value: string): Edit => ['LISTENER_AT_DRAIN=keep', `LISTENER_AT_DRAIN=keep \\\n    WORKERS=${value}`]
  const crowded = "workers beyond the replica's CPUs only take turns on them: each request waits longer and the replica serves no more"
  const limitCpu = (cpu: string): Edit => ['            limits:\n              memory: 256Mi', `            limits:\n              cpu: ${cpu}\n              memory: 256Mi`]
  const envWorkers = (value: string): Edit => ['            - name: MAX_CONCURRENCY', `            - name: WORKERS\n              value: "${value}"\n            - name: MAX_CONCURRENCY`]
  async function findingsWith(edits: Partial<Record<DeployFile, readonly Edit[]>>): Promise<{ problems: string[]; notes: string[] }> {
    const copy = deployCopy(edits)
    copies.push(copy)
    const result = await checkDeploy({ dir: copy.dir, cerebrium: 'cerebrium.toml', kubernetes: k8s })
    return { problems: result.problems.map(formatProblem), notes: result.notes.map(formatNote) }
  }

  it('more workers in the image than cerebrium.toml gives the replica CPUs', async () => {
    expect(await findingsWith({ Dockerfile: [workers('2')] })).toEqual({
      problems: [`Dockerfile: ENV WORKERS = "2": expected at most 1, cerebrium.toml's cerebrium.hardware.cpu (1): ${crowded}`],
      notes: [],
    })
  })

  it('as many workers as CPUs is fine; a fractional cpu counts whole CPUs, as WORKERS=auto does', async () => {
    expect(await findingsWith({ Dockerfile: [workers('2')], 'cerebrium.toml': [['cpu = 1', 'cpu = 2']] })).toEqual({ problems: [], notes: [] })
    expect((await findingsWith({ Dockerfile: [workers('2')], 'cerebrium.toml': [['cpu = 1', 'cpu = 1.5']] })).problems).toEqual([
      `Dockerfile: ENV WORKERS = "2": expected at most 1, cerebrium.toml's cerebrium.hardware.cpu (1.5): ${crowded}`,
    ])
  })

  it('replica_concurrency is still MAX_CONCURRENCY, the replica\'s, not multiplied by the workers', async () => {
    expect(await findingsWith({ Dockerfile: [workers('2')], 'cerebrium.toml': [['cpu = 1', 'cpu = 2'], ['replica_concurrency = 4', 'replica_concurrency = 8']] })).toEqual({
      problems: ["cerebrium.toml: cerebrium.scaling.replica_concurrency = 8: expected 4, the Dockerfile's MAX_CONCURRENCY"],
      notes: [],
    })
  })

  it('WORKERS=auto is a note, not a problem: what it comes to on Cerebrium, and on Kubernetes without a CPU limit', async () => {
    expect(await findingsWith({ Dockerfile: [workers('auto')], 'cerebrium.toml': [['cpu = 1', 'cpu = 2']] })).toEqual({
      problems: [],
      notes: [
        "Dockerfile: ENV WORKERS = \"auto\": the workers are counted at start from the container's CPU set and quota (docs/cluster.md); with cerebrium.toml's cerebrium.hardware.cpu = 2 that is 2 if the platform enforces it as a quota: WORKERS=2 says so in the file",
        `Dockerfile: ENV WORKERS = "auto": ${k8s} sets no ${container}.resources.limits.cpu: as many workers as the node's CPUs in the pod's CPU set, whatever its requests.cpu; set limits.cpu, or WORKERS to a number`,
      ],
    })
  })

  it('Kubernetes: the manifest\'s WORKERS over its CPU limit is a problem on the env; the image\'s, on the limit; auto says what the limit makes of it', async () => {
    expect((await findingsWith({ [k8s]: [limitCpu('500m'), envWorkers('2')] })).problems).toEqual([
      `${k8s}: ${container}.env.WORKERS = "2": expected at most 1, the container's resources.limits.cpu ("500m"): ${crowded}`,
    ])
    expect((await findingsWith({ Dockerfile: [workers('2')], 'cerebrium.toml': [['cpu = 1', 'cpu = 2']], [k8s]: [limitCpu('"1"')] })).problems).toEqual([
      `${k8s}: ${container}.resources.limits.cpu = "1": expected at least 2, the image's WORKERS: ${crowded}`,
    ])
    expect(await findingsWith({ [k8s]: [limitCpu('2'), envWorkers('auto')] })).toEqual({
      problems: [],
      notes: [`${k8s}: ${container}.env.WORKERS = "auto": 2 worker(s) in ${k8s}, from ${container}.resources.limits.cpu = 2 (the container's CPU quota, rounded down)`],
    })
  })

  it('reads CPU quantities as Kubernetes writes them', () => {
    expect([2, '2', '1.5', '500m', '2500m', '0', 'two', undefined, -1].map(cpuQuantity)).toEqual([2, 2, 1.5, 0.5, 2.5, null, null, null, null])
  })

  it('the command line prints the notes on stdout and still exits 0, naming WORKERS in its summary', () => {
    const copy = deployCopy({ Dockerfile: [workers('auto')], 'cerebrium.toml': [['cpu = 1', 'cpu = 2']] })
    copies.push(copy)
    const run = runCli(['--dir', copy.dir, '--no-kubernetes'])
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout.split('\n')).toEqual([
      expect.stringMatching(/^check-deploy: note: Dockerfile: ENV WORKERS = "auto": the workers are counted at start /),
      'check-deploy: ok: cerebrium.toml, Dockerfile agree with the service (PORT 8000, MAX_CONCURRENCY 4, SHUTDOWN_DELAY_MS 0, DRAIN_TIMEOUT_MS 30000, WORKERS auto)',
      '',
    ])
  })
})

describe('check:deploy reads variables that are only valid together as the service does', () => {
  const problems = (env: Record<string, string>) => envProblems(new Map(Object.entries(env)))

  it('DRAIN_NOTICE_MS over the default drain is fine when the file sets a longer DRAIN_TIMEOUT_MS', () => {
    expect(problems({ DRAIN_TIMEOUT_MS: '60000', DRAIN_NOTICE_MS: '40000' })).toEqual([])
  })

  it('DRAIN_NOTICE_MS longer than the DRAIN_TIMEOUT_MS beside it is reported against DRAIN_NOTICE_MS only', () => {
    expect(problems({ DRAIN_TIMEOUT_MS: '3000', DRAIN_NOTICE_MS: '5000' })).toEqual([
      { variable: 'DRAIN_NOTICE_MS', value: '5000', expected: 'an integer from 0 to DRAIN_TIMEOUT_MS (3000)' },
    ])
  })

  it('an invalid DRAIN_TIMEOUT_MS is reported alone, not again through DRAIN_NOTICE_MS', () => {
    expect(problems({ DRAIN_TIMEOUT_MS: '30s', DRAIN_NOTICE_MS: '5000' })).toEqual([
      { variable: 'DRAIN_TIMEOUT_MS', value: '30s', expected: 'an integer from 1 to 2147483647' },
    ])
  })
})
