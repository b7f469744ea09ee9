import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from './support/free-port.ts'

/**
 * The proof of issue 12: the package as a user gets it. `npm pack`, then two fresh apps that
 * install the tarball beside their own Fastify and OpenTelemetry: the oldest versions lameduck's
 * peer ranges allow (ESM) and the latest (CommonJS). In each, the README's example is type-checked
 * with `tsc --strict`, compiled, run with an SDK exporting to memory, and its spans read back.
 * Needs the npm registry (installs prefer the local cache).
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'lameduck-pack-'))
// Two installed apps: removing them took over the hook's default 30 s on a loaded machine.
afterAll(() => rm(work, { recursive: true, force: true }), 120_000)

const readme = readFileSync(join(root, 'README.md'), 'utf8')
/** The README's plugin example, the first TypeScript block of its section. */
const example = (() => {
  const section = readme.slice(readme.indexOf('## Use the plugin in your own Fastify app'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)
  if (block === null) throw new Error('README: no ts block under "Use the plugin in your own Fastify app"')
  return block[1]!
})()

/** The example as an app: the user's own `loadModel` and `predict`, and the port from the test. */
function exampleApp(format: 'esm' | 'cjs'): string {
  const port = 'await app.listen({ port: 8000, host: '
  if (!example.includes(port)) throw new Error(`README example changed: expected "${port}"`)
  const body = example.replace(port, 'await app.listen({ port: Number(process.env.PORT), host: ')
  const userCode = `async function loadModel(_: { signal: AbortSignal }): Promise<void> {}
async function predict(body: unknown): Promise<{ echo: unknown }> { return { echo: body } }
`
  if (format === 'esm') return `${userCode}${body}`
  // CommonJS has no top-level await: the same imports, the rest inside an async main.
  const lines = body.split('\n')
  const imports = lines.filter((line) => line.startsWith('import '))
  const rest = lines.filter((line) => !line.startsWith('import '))
  return `${imports.join('\n')}\n${userCode}async function main() {\n${rest.join('\n')}}\nvoid main()\n`
}

/** Registers an SDK exporting to memory, and writes the finished spans to SPANS_FILE at exit. */
function preload(sdk: 'sdk-trace-base' | 'sdk-trace', format: 'esm' | 'cjs'): string {
  const provider =
    sdk === 'sdk-trace-base'
      ? `new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })`
      : `new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] })`
  const names = sdk === 'sdk-trace-base' ? 'BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor' : 'TracerProvider, InMemorySpanExporter, SimpleSpanProcessor'
  const imports =
    format === 'esm'
      ? `import { writeFileSync } from 'node:fs'
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { ${names} } from '@opentelemetry/${sdk}'`
      : `const { writeFileSync } = require('node:fs')
const { context, trace } = require('@opentelemetry/api')
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks')
const { ${names} } = require('@opentelemetry/${sdk}')`
  return `${imports}
const exporter = new InMemorySpanExporter()
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
trace.setGlobalTracerProvider(${provider})
process.on('exit', () => {
  const spans = exporter.getFinishedSpans().map((s) => ({ name: s.name, kind: s.kind, traceId: s.spanContext().traceId, attributes: s.attributes }))
  writeFileSync(process.env.SPANS_FILE, JSON.stringify(spans))
})
`
}

interface Consumer {
  dir: string
  format: 'esm' | 'cjs'
  versions: Record<string, string>
}

let tarball = ''
const consumers = {
  oldest: { format: 'esm', sdk: 'sdk-trace-base', packages: ['fastify@5.0.0', '@opentelemetry/api@1.9.0', '@opentelemetry/sdk-trace-base@2', '@opentelemetry/context-async-hooks@2'] },
  latest: { format: 'cjs', sdk: 'sdk-trace', packages: ['fastify@5', '@opentelemetry/api@1', '@opentelemetry/sdk-trace@3', '@opentelemetry/context-async-hooks@3'] },
} as const
const installed: Partial<Record<keyof typeof consumers, Consumer>> = {}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

async function install(name: keyof typeof consumers): Promise<Consumer> {
  const { format, sdk, packages } = consumers[name]
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: format === 'esm' ? 'module' : 'commonjs' }))
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...packages], dir)
  // A strict type check of the README's example against the consumer's own Fastify types.
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: 'nodenext',
        target: 'es2022',
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        skipLibCheck: true,
        outDir: 'out',
      },
      files: ['app.ts'],
    }),
  )
  writeFileSync(join(dir, 'app.ts'), exampleApp(format))
  writeFileSync(join(dir, format === 'esm' ? 'otel.mjs' : 'otel.cjs'), preload(sdk, format))
  const versions: Record<string, string> = {}
  for (const pkg of ['fastify', '@opentelemetry/api', 'lameduck']) {
    versions[pkg] = (JSON.parse(readFileSync(join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
  }
  return { dir, format, versions }
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], root)) as { filename: string }[]
  tarball = join(work, packed[0]!.filename)
  const [oldest, latest] = await Promise.all([install('oldest'), install('latest')])
  installed.oldest = oldest
  installed.latest = latest
}, 240_000)

/** Runs the compiled example with the in-memory SDK, sends two requests, SIGTERM; returns its spans and output. */
async function runExample(consumer: Consumer) {
  const port = await freePort()
  const spansFile = join(consumer.dir, `spans-${port}.json`)
  const preloadFlag = consumer.format === 'esm' ? ['--import', './otel.mjs'] : ['--require', './otel.cjs']
  const child = spawn(process.execPath, [...preloadFlag, 'out/app.js'], {
    cwd: consumer.dir,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), SPANS_FILE: spansFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(child, 'exit') as Promise<[number | null]>
  const origin = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100 && !/"ready"/.test(await request(`${origin}/ready`).then((r) => r.body.text(), () => '')); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const answers = []
  for (const name of ['a', 'b']) {
    const res = await request(`${origin}/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
    answers.push({ status: res.statusCode, body: await res.body.json() })
  }
  child.kill('SIGTERM')
  const [code] = await exited
  const spans = existsSync(spansFile) ? (JSON.parse(readFileSync(spansFile, 'utf8')) as { name: string; kind: number; traceId: string; attributes: Record<string, unknown> }[]) : []
  return { code, answers, spans, output }
}

describe('the packed tarball in a fresh app', () => {
  it('holds the compiled code, its types, the docs the README links, LICENSE, and no source maps', async () => {
    const listing = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter(Boolean).map((path) => path.replace(/^package\//, ''))
    expect(listing).toContain('LICENSE')
    expect(listing).toContain('dist/index.d.ts')
    expect(listing.filter((path) => path.endsWith('.map'))).toEqual([])
    for (const [, link] of readme.matchAll(/\]\((docs\/[^)#]+)/g)) expect(listing, `README links ${link}`).toContain(link)
    expect(listing.some((path) => path.startsWith('src/') || path.startsWith('test/'))).toBe(false)
    const pkg = JSON.parse(readFileSync(join(installed.latest!.dir, 'node_modules/lameduck/package.json'), 'utf8')) as Record<string, unknown>
    expect(pkg).toMatchObject({ license: 'MIT', repository: { type: 'git' }, homepage: expect.any(String), bugs: { url: expect.any(String) } })
  })

  for (const name of ['oldest', 'latest'] as const) {
    it(`${name} peers (${consumers[name].packages.slice(0, 2).join(', ')}, ${consumers[name].format.toUpperCase()}): one copy of each, the README example passes tsc --strict, runs, and traces`, async () => {
      const consumer = installed[name]!
      // The app's own Fastify and API are lameduck's: nothing nested under it.
      expect(existsSync(join(consumer.dir, 'node_modules/lameduck/node_modules'))).toBe(false)
      if (name === 'oldest') expect(consumer.versions).toMatchObject({ fastify: '5.0.0', '@opentelemetry/api': '1.9.0' })
      // The SDK, exporters and inspector are optional peers: not installed for an app that did not ask.
      for (const optional of ['@opentelemetry/sdk-node', '@statelyai/inspect']) expect(existsSync(join(consumer.dir, 'node_modules', optional))).toBe(false)

      await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: consumer.dir }).catch((error: { stdout?: string }) => {
        throw new Error(`tsc --strict failed on the README example:\n${error.stdout}`)
      })

      const { code, answers, spans, output } = await runExample(consumer)
      expect(answers).toEqual([
        { status: 200, body: { echo: { name: 'a' } } },
        { status: 200, body: { echo: { name: 'b' } } },
      ])
      expect(code, output).toBe(0)
      const servers = spans.filter((span) => span.kind === 1)
      expect(servers.map((span) => span.name)).toEqual(['POST /predict', 'POST /predict'])
      expect(new Set(servers.map((span) => span.traceId)).size).toBe(2)
      expect(servers.every((span) => span.attributes['lameduck.lifecycle.state'] === 'running')).toBe(true)
      expect(spans.map((span) => span.name)).toEqual(expect.arrayContaining(['lameduck.startup', 'lameduck.drain']))
      expect(output).not.toContain('"level":40')
    }, 120_000)
  }

  it('the telemetry entry without @opentelemetry/sdk-node installed: exit 78, naming the package', async () => {
    const { dir } = installed.oldest!
    const child = spawn(process.execPath, ['--import', 'lameduck/telemetry/register', '-e', ''], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const [code] = (await once(child, 'exit')) as [number | null]
    expect(code).toBe(78)
    expect(stderr).toContain('@opentelemetry/sdk-node is not installed')
  })

  it('an SDK behind an API copy lameduck cannot see (the old nested dependency): one warning naming both versions', async () => {
    const consumer = installed.oldest!
    // What npm did when lameduck depended on the API itself: a newer copy nested under lameduck.
    const nested = join(consumer.dir, 'node_modules/lameduck/node_modules/@opentelemetry/api')
    mkdirSync(dirname(nested), { recursive: true })
    cpSync(join(root, 'node_modules/@opentelemetry/api'), nested, { recursive: true })
    try {
      const { code, spans, output } = await runExample(consumer)
      expect(code).toBe(0)
      expect(spans.filter((span) => span.name.startsWith('lameduck.') || span.kind === 1)).toEqual([])
      const warnings = output.split('\n').filter((line) => line.includes('"level":40') && line.includes('telemetry:'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain('"registered_api_version":"1.9.0"')
      expect(warnings[0]).toContain('"lameduck_api_version":"1.10.0"')
    } finally {
      rmSync(join(consumer.dir, 'node_modules/lameduck/node_modules'), { recursive: true, force: true })
    }
    expect(readdirSync(join(consumer.dir, 'node_modules/lameduck'))).not.toContain('node_modules')
  })
})
