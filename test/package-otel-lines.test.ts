import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { freePort } from './support/free-port.ts'
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver.ts'

/**
 * Issue 19, as a user meets it: the packed tarball installed with each set of OpenTelemetry packages
 * the README recommends (its `npm i lameduck ...` lines, run as written but with the tarball), without
 * flags and without an ERESOLVE warning; then an app with `@fastify/websocket` (and `@fastify/otel` where
 * the set has it), started through `lameduck/telemetry/register` against a real OTLP/HTTP endpoint, is
 * stopped with work in flight. What reaches the endpoint before the process exits is what the README and
 * docs/observability.md promise. Needs the npm registry (installs prefer the local cache).
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'lameduck-otel-lines-'))
afterAll(() => rm(work, { recursive: true, force: true }), 120_000)

const readme = readFileSync(join(root, 'README.md'), 'utf8')
/** The README's recommended install lines, each under the comment that names it. */
const sets = [...readme.matchAll(/^# (.+)\nnpm i lameduck (.+)$/gm)].map((match) => ({ name: match[1]!, packages: match[2]!.split(' ') }))

const app = `import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { lameduck } from 'lameduck'

const app = Fastify({ logger: { level: 'warn' } })
if (process.env.WITH_FASTIFY_OTEL === '1') {
  const { FastifyOtelInstrumentation } = await import('@fastify/otel')
  await app.register(new FastifyOtelInstrumentation().plugin())
}
await app.register(lameduck, { maxConcurrency: 8, drainTimeoutMs: 500 })
await app.register(websocket)
app.get('/work', async (request) => {
  await sleep(Number(request.query.ms ?? 0))
  return { done: true }
})
app.get('/stream', async (_request, reply) => {
  const body = new Readable({ read() {} })
  const timer = setInterval(() => body.push('data: tick\\n\\n'), 20)
  body.on('close', () => clearInterval(timer))
  return reply.type('text/event-stream').send(body)
})
app.get('/ws', { websocket: true }, (socket) => {
  socket.on('message', (message) => socket.send(String(message)))
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
`

interface Installed {
  dir: string
  output: string
  versions: Record<string, string>
}
const installed = new Map<string, Installed>()

async function install(set: { name: string; packages: string[] }, tarball: string, index: number): Promise<Installed> {
  const dir = join(work, `set-${index}`)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${index}`, private: true, type: 'module' }))
  writeFileSync(join(dir, 'app.mjs'), app)
  const { stdout, stderr } = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...set.packages, '@fastify/websocket@11'], {
    cwd: dir,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    maxBuffer: 16 * 1024 * 1024,
  })
  const versions: Record<string, string> = {}
  for (const pkg of ['@opentelemetry/api', '@opentelemetry/sdk-node', '@fastify/otel']) {
    const file = join(dir, 'node_modules', pkg, 'package.json')
    if (existsSync(file)) versions[pkg] = (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  }
  return { dir, output: `${stdout}\n${stderr}`, versions }
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root })
  const tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename)
  const results = await Promise.all(sets.map((set, index) => install(set, tarball, index)))
  results.forEach((result, index) => installed.set(sets[index]!.name, result))
}, 300_000)

let receiver: OtlpReceiver | null = null
afterEach(async () => {
  await receiver?.close()
  receiver = null
})

const pathOf = (span: ReceivedSpan) => String(span.attributes['url.path'] ?? span.attributes['http.route'] ?? '').split('?')[0]

describe("the README's OpenTelemetry sets, from the packed tarball (issue 19)", () => {
  it('lists the two lines, current and previous', () => {
    expect(sets.map((set) => set.packages.find((pkg) => pkg.startsWith('@opentelemetry/api@')))).toEqual(['@opentelemetry/api@~1.10.0', '@opentelemetry/api@~1.9.0'])
  })

  for (const [index, name] of ['the current line', 'the previous line, with @fastify/otel'].entries()) {
    it(`${name}: installs without flags or an ERESOLVE warning, and a drain that cuts work is traced truthfully over OTLP before exit`, async () => {
      const set = sets[index]!
      const consumer = installed.get(set.name)!
      expect(consumer.output).not.toMatch(/ERESOLVE|peer dep/i)
      expect(consumer.versions['@opentelemetry/api']).toMatch(index === 0 ? /^1\.10\./ : /^1\.9\./)
      expect(consumer.versions['@opentelemetry/sdk-node']).toMatch(index === 0 ? /^0\.30\d\./ : /^0\.2\d\d\./)
      const withFastifyOtel = set.packages.some((pkg) => pkg.startsWith('@fastify/otel@'))
      expect(withFastifyOtel).toBe(index === 1)

      receiver = await startOtlpReceiver()
      const port = await freePort()
      const child = spawn(process.execPath, ['--import', 'lameduck/telemetry/register', 'app.mjs'], {
        cwd: consumer.dir,
        env: {
          PATH: process.env.PATH ?? '',
          PORT: String(port),
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
          OTEL_METRICS_EXPORTER: 'none',
          WITH_FASTIFY_OTEL: withFastifyOtel ? '1' : '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
      const exited = once(child, 'exit') as Promise<[number | null]>
      const origin = `http://127.0.0.1:${port}`
      for (let i = 0; i < 200 && !/"ready"/.test(await request(`${origin}/ready`).then((r) => r.body.text(), () => '')); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      for (let i = 0; i < 3; i++) for (const probe of ['/ready', '/health']) await (await request(`${origin}${probe}`)).body.text()
      expect((await request(`${origin}/work`)).statusCode).toBe(200)
      // A session the client closes normally.
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
      await once(ws, 'open')
      ws.send('hi')
      await once(ws, 'message')
      ws.close(1000)
      await once(ws, 'close')
      // Work the 500 ms drain deadline will cut.
      const slow = request(`${origin}/work?ms=20000`).then((r) => r.body.text(), (error: Error) => error)
      const stream = await request(`${origin}/stream`)
      stream.body.on('error', () => {})
      stream.body.resume()
      await new Promise((resolve) => setTimeout(resolve, 200))
      child.kill('SIGTERM')
      const [code] = await exited
      await slow
      expect(code, output).toBe(1)
      // No telemetry warning: every export worked (the cut connections are warned about, rightly).
      expect(output.split('\n').filter((line) => line.includes('"level":40') && line.includes('telemetry:'))).toEqual([])

      // Exported before the exit: read what arrived, with a moment for the receiver to finish decoding.
      await receiver.waitFor((r) => r.spans.some((span) => span.name === 'lameduck.drain'), 2_000).catch(() => {})
      const spans = receiver.spans
      const servers = spans.filter((span) => span.kind === 2)
      const summary = JSON.stringify(spans.map((span) => [span.name, span.scope, pathOf(span), span.status.code, span.attributes['error.type']]))
      expect(spans.map((span) => span.name), summary).toContain('lameduck.drain')
      // Probes: not a span, whoever traces.
      expect(spans.filter((span) => JSON.stringify(span.attributes).match(/\/ready|\/health/)), summary).toEqual([])
      // lameduck's own hooks: no span of their own.
      expect(spans.map((span) => span.name).filter((n) => / - (admit|startRequestSpan|joinBeforeSend)$/.test(n)), summary).toEqual([])
      const work = servers.filter((span) => pathOf(span) === '/work')
      expect(work.map((span) => [span.status.code, span.attributes['error.type'] ?? null]).sort(), summary).toEqual([
        [0, null],
        [2, 'abandoned'],
      ])
      const cutStream = servers.filter((span) => pathOf(span) === '/stream')
      expect(cutStream.map((span) => [span.status.code, span.attributes['error.type']]), summary).toEqual([[2, 'abandoned']])
      const sessions = servers.filter((span) => pathOf(span) === '/ws')
      expect(sessions.map((span) => span.attributes), summary).toEqual([
        expect.objectContaining({ 'http.response.status_code': 101, 'lameduck.websocket.close_code': 1000, 'lameduck.websocket.closed_by': 'client' }),
      ])
      expect(sessions[0]!.status.code).not.toBe(2)
      // Every exported span's parent was exported too: nothing orphaned.
      const ids = new Set(spans.map((span) => span.spanId))
      expect(spans.filter((span) => span.parentSpanId !== '' && !ids.has(span.parentSpanId)).map((span) => span.name), summary).toEqual([])
    }, 60_000)
  }
})
