import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { type AddressInfo, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseRehearseOptions } from '../src/rehearse/rehearse-options.ts'
import { fixture, runRehearse } from './support/rehearse-cli.ts'
import { repoRoot } from './support/service-process.ts'

const node = process.execPath
const tempDir = () => mkdtempSync(join(tmpdir(), 'rehearse-input-'))
const write = (name: string, text: string) => {
  const dir = tempDir()
  writeFileSync(join(dir, name), text)
  return { dir, file: join(dir, name) }
}

describe.concurrent('lameduck rehearse refuses bad input with one clear line, exit 2', () => {
  it('a command that exits at once', async () => {
    const run = await runRehearse(['rehearse', '--ready-path', '/ready', '--', node, '-e', 'console.error("no model found"); process.exit(3)'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^lameduck rehearse: instance [AB]: the command exited with code 3 before GET \/ready succeeded \(PORT=\d+\)\nits last output:\n {2}no model found\n$/)
    expect(run.stdout).toBe('')
  })

  it('a command that cannot be started', async () => {
    const run = await runRehearse(['rehearse', '--', '/nonexistent/service'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/instance [AB]: the command could not be started before a TCP connection to port \d+ succeeded \(PORT=\d+\)\nits last output:\n  spawn \/nonexistent\/service ENOENT/)
  })

  it('a port never opened (the command ignores PORT)', async () => {
    const run = await runRehearse(['rehearse', '--startup-timeout', '1s', '--ready-path', '/ready', '--', node, '-e', 'setInterval(() => {}, 1000)'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/instance [AB]: nothing accepted a connection on port \d+ within 1000 ms; does the command listen on \$PORT\?/)
  })

  it('a readiness path that answers 404, named in cerebrium.toml', async () => {
    const { dir } = write('cerebrium.toml', '[cerebrium.runtime.custom]\nport = 8000\nreadycheck_endpoint = "/readyz"\n')
    const run = await runRehearse(['rehearse', '--port', '0', '--', node, fixture('plain-fastify.ts')], {}, dir)
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/instance [AB]: GET \/readyz answered 404, so it is not a readiness path the service serves; set --ready-path \(or readycheck_endpoint in cerebrium.toml\)/)
  })

  it('an unreadable, an invalid and a wrong cerebrium.toml', async () => {
    const missing = await runRehearse(['rehearse', '--cerebrium', '/nonexistent/cerebrium.toml', '--', node, '-v'])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toBe('lameduck rehearse: cannot read /nonexistent/cerebrium.toml (ENOENT)\n')

    const invalid = write('cerebrium.toml', '[cerebrium.runtime.custom\nport = 8000\n')
    const bad = await runRehearse(['rehearse', '--', node, '-v'], {}, invalid.dir)
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^lameduck rehearse: .*cerebrium\.toml is not valid TOML: /)

    const wrong = write('cerebrium.toml', '[cerebrium.runtime.custom]\nport = "eighty"\n')
    expect(() => parseRehearseOptions(['--', 'x'], wrong.dir)).toThrow(`${wrong.dir}/cerebrium.toml: cerebrium.runtime.custom.port must be an integer port from 1 to 65535; received "eighty"`)
  }, 60_000)

  it('a Kubernetes manifest that is an alias bomb: one line naming the file and the limit, exit 2, no stack', async () => {
    const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...'bcdefgh'.split('').map((name, i) => `${name}: &${name} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`)]
    const { file } = write('bomb.yaml', `${rows.join('\n')}\n`)
    const run = await runRehearse(['rehearse', '--kubernetes', file, '--', node, '-v'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`lameduck rehearse: ${file} is not valid YAML: Excessive alias count indicates a resource exhaustion attack (more than 100 aliases expanded)\n`)
  })

  it('a deployment file over 1 MiB is refused by its size, before it is parsed', async () => {
    const { file } = write('huge.yaml', `# ${'x'.repeat(2 * 1024 * 1024)}\n`)
    const run = await runRehearse(['rehearse', '--kubernetes', file, '--', node, '-v'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`lameduck rehearse: cannot read ${file} (2097155 bytes, over the 1048576-byte limit for a deployment file)\n`)
  })

  it('a command that exits at once leaving an escaped process (setsid) on its output: exit 2 promptly all the same', async () => {
    // The escaped sleep outlives the test by far; the rehearsal must not wait for it (it did, for ever).
    const run = await runRehearse(['rehearse', '--startup-timeout', '5s', '--', 'sh', '-c', 'setsid sleep 120 & exit 0'])
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/^lameduck rehearse: instance [AB]: the command exited with code 0 before a TCP connection/)
    expect(run.ms).toBeLessThan(30_000)
  }, 60_000)

  it('flags of the mixed load and of --runs name the flag and the value', () => {
    const dir = tempDir()
    expect(() => parseRehearseOptions(['--ws-sessions', '2', '--', 'x'], dir)).toThrow('--ws-sessions needs --ws PATH')
    expect(() => parseRehearseOptions(['--sse-method', 'POST', '--', 'x'], dir)).toThrow('--sse-method needs --sse PATH')
    expect(() => parseRehearseOptions(['--keepalive-idle', '1s', '--', 'x'], dir)).toThrow('--keepalive-idle needs --keepalive N')
    expect(() => parseRehearseOptions(['--platform', 'both', '--', 'x'], dir)).toThrow('--platform both takes the orders in turn over --runs: give --runs 2 or more')
    expect(() => parseRehearseOptions(['--env', 'aws:X=1', '--', 'x'], dir)).toThrow('--env must be NAME=VALUE, or cerebrium:NAME=VALUE or kubernetes:NAME=VALUE for one order; received "aws:X=1"')
    const options = parseRehearseOptions(['--platform', 'both', '--runs', '4', '--env', 'A=1', '--env', 'kubernetes:SHUTDOWN_DELAY_MS=300', '--sse', '/s', '--sse-method', 'post', '--sse-body', '{}', '--ws', '/ws', '--keepalive', '2', '--', 'x'], dir)
    expect(options).toMatchObject({ platforms: ['cerebrium', 'kubernetes'], runs: 4, env: { A: '1' }, platformEnv: { kubernetes: { SHUTDOWN_DELAY_MS: '300' } }, keepalive: { clients: 2, idleMs: 200 } })
    expect(options.sse).toMatchObject({ method: 'POST', body: '{}', resume: true, headers: { accept: 'text/event-stream', 'content-type': 'application/json' } })
    expect(options.ws).toEqual({ path: '/ws', sessions: 1, messages: 20, intervalMs: 50 })
  })

  it('a port already taken, before anything starts', async () => {
    const holder = createServer().listen(0)
    await once(holder, 'listening')
    const port = (holder.address() as AddressInfo).port
    try {
      const run = await runRehearse(['rehearse', '--port', String(port), '--', node, '-v'])
      expect(run.code).toBe(2)
      expect(run.stderr).toBe(`lameduck rehearse: port ${port} (from --port or the deployment file) is already in use: stop what holds it, or pass --port 0 for a free port\n`)
    } finally {
      holder.close()
    }
  })

  it('bad flags name the flag and the value', async () => {
    const run = await runRehearse(['rehearse', '--platform', 'aws', '--', node, '-v'])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe('lameduck rehearse: --platform must be one of cerebrium, kubernetes, both; received "aws"\n')
    expect(() => parseRehearseOptions(['--duration', 'soon', '--', 'x'], tempDir())).toThrow('--duration must be a duration like 500ms or 2s (a bare number is milliseconds), at least 1 ms; received "soon"')
    expect(() => parseRehearseOptions(['--concurrency', '0', '--', 'x'], tempDir())).toThrow('--concurrency 0 leaves no client: add --keepalive, --fresh, --h2 or --ws clients, or raise it')
    expect(() => parseRehearseOptions(['--ready-path', 'ready', '--', 'x'], tempDir())).toThrow('--ready-path must be a path starting with "/" (or \'\' for none); received "ready"')
    expect(() => parseRehearseOptions(['--header', 'no colon', '--', 'x'], tempDir())).toThrow('--header must be "name: value"; received "no colon"')
    expect(() => parseRehearseOptions([], tempDir())).toThrow('no command: put the command that starts the service after --')
    const unknown = await runRehearse(['deploy'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^lameduck: unknown command "deploy"; the only command is rehearse/)
  })
})

describe('lameduck rehearse reads the deployment files', () => {
  it("the project's cerebrium.toml: port, readiness and liveness endpoints, response_grace_period; flags override", () => {
    const options = parseRehearseOptions(['--', 'node', 'dist/main.js'], repoRoot)
    expect(options).toMatchObject({ platform: 'cerebrium', port: 8000, readyPath: '/ready', healthPath: '/health', gracePeriodMs: 40_000, sources: [`${repoRoot}/cerebrium.toml`] })
    const overridden = parseRehearseOptions(['--port', '0', '--ready-path', '', '--grace-period', '2s', '--', 'node'], repoRoot)
    expect(overridden).toMatchObject({ port: 0, readyPath: null, healthPath: '/health', gracePeriodMs: 2000 })
  })

  it("the project's Kubernetes manifest: containerPort, probe paths and period, terminationGracePeriodSeconds, the container's env; the kubernetes order", () => {
    const options = parseRehearseOptions(['--kubernetes', resolve(repoRoot, 'deploy/k8s/lameduck.yaml'), '--', 'node'], tempDir())
    expect(options).toMatchObject({ platform: 'kubernetes', port: 8000, readyPath: '/ready', healthPath: '/health', gracePeriodMs: 45_000, endpointLagMs: 1000, probeIntervalMs: 2000 })
    expect(options.env).toEqual({ SHUTDOWN_DELAY_MS: '5000', LISTENER_AT_DRAIN: 'close', DRAIN_TIMEOUT_MS: '30000', MAX_CONCURRENCY: '4' })
  })

  it('a cerebrium.toml without endpoints means TCP checks, as on the platform; no file at all means the same', () => {
    const { dir } = write('cerebrium.toml', '[cerebrium.runtime.custom]\nport = 8080\n')
    expect(parseRehearseOptions(['--', 'x'], dir)).toMatchObject({ port: 8080, readyPath: null, healthPath: null, gracePeriodMs: 30_000, probeIntervalMs: 1000, env: {} })
    expect(parseRehearseOptions(['--', 'x'], tempDir())).toMatchObject({ port: 0, readyPath: null, healthPath: null, sources: [] })
  })
})
