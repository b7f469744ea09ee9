import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

/** The image's command, through the instrumentation entry; answers the exit code, how long it took, and stderr. */
async function startWith(env: Record<string, string>) {
  const began = Date.now()
  const child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  let stdout = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(timer)
  return { code, ms: Date.now() - began, stderr, stdout }
}

describe('an OTEL_* value the SDK cannot use stops the service at start (exit 78), naming the variable', () => {
  // Issue 10: the SDK took any endpoint, started, and failed at every export.
  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'garbage'],
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'ftp://collector:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'collector:4318/v1/traces'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'http'],
    ['OTEL_PROPAGATORS', 'xray'],
  ])('%s=%s', async (name, value) => {
    const { code, stderr, stdout } = await startWith({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', [name]: value })
    expect(code).toBe(78)
    expect(stderr).toContain(`environment variable ${name} must be`)
    expect(stderr).toContain(`received "${value}"`)
    // Stopped before the service did anything: no listening line.
    expect(stdout).not.toContain('Server listening')
  })
})
