import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from './support/free-port.ts'
import { waitUntil } from './support/plugin-harness.ts'

/**
 * Issue 21's proof, from the package as a user gets it: `npm pack`, a fresh ESM app that installs the
 * tarball beside Fastify, `@fastify/sse` (the release lameduck is tested with), `@fastify/websocket` and `ws`.
 * Every code block of docs/long-lived.md passes `tsc --strict` there, and its SSE examples run and hand
 * over. Then an app on the API (test/fixtures/sse-package-app.ts: plain and `@fastify/sse`, GET and POST)
 * is drained under each policy while its clients follow their streams to a second instance.
 * Needs the npm registry (installs prefer the local cache).
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'lameduck-sse-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const docs = readFileSync(join(root, 'docs/long-lived.md'), 'utf8')
const blocks = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)
const version = (name: string) => (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies[name]!

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

/** The SSE examples listen where the test says. */
const onTestPort = (block: string) => block.replace('port: 8000', 'port: Number(process.env.PORT)')
const docFile = (index: number) => `doc-${index + 1}.ts`

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/sse/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], root)) as { filename: string }[]
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer-sse', private: true, type: 'module' }))
  await npm(
    ['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed[0]!.filename), 'fastify@5', `@fastify/sse@${version('@fastify/sse')}`, `@fastify/websocket@${version('@fastify/websocket')}`, 'ws@8', '@types/ws@8'],
    work,
  )
  blocks.forEach((block, index) => writeFileSync(join(work, docFile(index)), onTestPort(block)))
  copyFileSync(join(root, 'test/fixtures/sse-package-app.ts'), join(work, 'app.ts'))
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', types: ['node'], typeRoots: [join(root, 'node_modules/@types')], skipLibCheck: true, outDir: 'out' },
      files: ['app.ts', ...blocks.map((_, index) => docFile(index))],
    }),
  )
}, 240_000)

let children: ReturnType<typeof spawn>[] = []
afterEach(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  children = []
})

interface Instance {
  origin: string
  exited: Promise<{ code: number | null; at: number }>
  output: () => string
  kill: (signal: NodeJS.Signals) => void
}

async function launch(file: string, env: Record<string, string> = {}): Promise<Instance> {
  const port = await freePort()
  const child = spawn(process.execPath, [file], { cwd: work, env: { PATH: process.env.PATH ?? '', PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = once(child, 'exit').then(([code]) => ({ code: code as number | null, at: performance.now() }))
  const origin = `http://127.0.0.1:${port}`
  for (let tries = 0; (await request(`${origin}/ready`).then((r) => r.statusCode, () => 0)) !== 200; tries++) {
    if (tries > 300) throw new Error(`${file} not ready within 15 s:\n${output}`)
    await sleep(50)
  }
  return { origin, exited, output: () => output, kill: (signal) => child.kill(signal) }
}

interface Route {
  name: string
  method: 'GET' | 'POST'
  path: string
}

/** What one client saw of one stream, across its reconnections. */
interface Following {
  tokens: number[]
  /** The `id:` of each token event; the API's numbering, which must be the token's index. */
  ids: string[]
  handovers: number
  /** When each reconnect event arrived. */
  handoverAt: number[]
  /** Connections that ended with neither a reconnect event nor `done`, or with an error: cuts. */
  cuts: number
  done: boolean
  failure: string | null
}

/**
 * A client as an LLM SDK is written (fetch, no EventSource: the only way to stream a POST): reads
 * the stream; when it ends without `done`, waits `retry:` and sends the same request to the next
 * replica with `Last-Event-ID`.
 */
async function follow(route: Route, count: number, origins: string[], seen: Following): Promise<Following> {
  let lastId: string | null = null
  for (let hop = 0; hop < origins.length && !seen.done; hop++) {
    const query = route.method === 'GET' ? `?tokens=${count}` : ''
    const response = await request(`${origins[hop]}${route.path}${query}`, {
      method: route.method,
      headers: { accept: 'text/event-stream', ...(lastId === null ? {} : { 'last-event-id': lastId }), ...(route.method === 'POST' ? { 'content-type': 'application/json' } : {}) },
      ...(route.method === 'POST' ? { body: JSON.stringify({ tokens: count }) } : {}),
    })
    if (response.statusCode !== 200) {
      seen.failure = `${route.name}: ${response.statusCode} ${await response.body.text()}`
      return seen
    }
    let buffer = ''
    let retry: number | null = null
    try {
      for await (const chunk of response.body) {
        buffer += String(chunk)
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const fields: Record<string, string> = {}
          for (const line of buffer.slice(0, end).split('\n')) {
            const colon = line.indexOf(':')
            if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2)
          }
          buffer = buffer.slice(end + 2)
          if (fields.event === 'token') {
            seen.tokens.push((JSON.parse(fields.data!) as { index: number }).index)
            seen.ids.push(fields.id!)
            lastId = fields.id!
          } else if (fields.event === 'reconnect') {
            seen.handovers++
            seen.handoverAt.push(performance.now())
            retry = Number(fields.retry)
          } else if (fields.event === 'done') seen.done = true
        }
      }
    } catch {
      retry = null
    }
    if (seen.done) break
    if (retry === null) {
      seen.cuts++
      retry = 1_000
    }
    await sleep(retry)
  }
  return seen
}

const routes: Route[] = [
  { name: 'plain GET', method: 'GET', path: '/plain' },
  { name: 'plain POST', method: 'POST', path: '/plain' },
  { name: '@fastify/sse GET', method: 'GET', path: '/sse' },
  { name: '@fastify/sse POST', method: 'POST', path: '/sse' },
]

describe('lameduck/sse from the packed tarball', () => {
  it('every code block of docs/long-lived.md, and an app on the API, pass tsc --strict', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5)
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: work }).catch((error: { stdout?: string }) => {
      throw new Error(`tsc --strict failed:\n${error.stdout}`)
    })
  }, 120_000)

  it('the SSE examples of docs/long-lived.md run: a stream, then at SIGTERM event: reconnect and exit 0', async () => {
    const examples = blocks.map((block, index) => ({ block, file: `out/doc-${index + 1}.js` })).filter(({ block }) => block.includes("from 'lameduck/sse'"))
    expect(examples.length).toBe(2)
    for (const { block, file } of examples) {
      const [, method, path] = /app\.(get|post)(?:<[^>]*>)?\('([^']+)'/.exec(block)!
      const instance = await launch(file)
      const response = await request(`${instance.origin}${path}`, {
        method: method!.toUpperCase() as 'GET' | 'POST',
        headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
        ...(method === 'post' ? { body: '{"prompt":"p"}' } : {}),
      })
      expect(response.statusCode, path).toBe(200)
      let text = ''
      let signalled = false
      for await (const chunk of response.body) {
        text += String(chunk)
        if (!signalled && text.includes('id: 3\n')) {
          signalled = true
          instance.kill('SIGTERM')
        }
      }
      const last = text.trimEnd().split('\n\n').at(-1)!
      expect(last, path).toMatch(/^event: reconnect\n/m)
      expect((await instance.exited).code, instance.output()).toBe(0)
    }
  }, 60_000)

  for (const policy of ['at-notice', 'at-drain', 'finish'] as const) {
    it(`STREAM_HANDOVER=${policy}: plain and @fastify/sse, GET and POST, drained; every client gets every event once, in order, no cut; exit 0`, async () => {
      // The notice comes 1000 ms into a 3000 ms drain.
      const env = { DRAIN_TIMEOUT_MS: '3000', DRAIN_NOTICE_MS: '2000', STREAM_HANDOVER: policy }
      const [a, b] = await Promise.all([launch('out/app.js', env), launch('out/app.js', env)])
      // Streams that finish are shorter than the drain; the others would outlive it.
      const count = policy === 'finish' ? 60 : 150
      const following = routes.map(() => ({ tokens: [], ids: [], handovers: 0, handoverAt: [], cuts: 0, done: false, failure: null }) as Following)
      const reading = Promise.all(routes.map((route, index) => follow(route, count, [a!.origin, b!.origin], following[index]!)))
      await waitUntil(() => following.every((f) => f.tokens.length >= 5), 10_000)
      const sigtermAt = performance.now()
      a!.kill('SIGTERM')
      const results = await reading
      const exit = await a!.exited
      b!.kill('SIGTERM')

      expect(exit.code, a!.output()).toBe(0)
      for (const [index, seen] of results.entries()) {
        const name = routes[index]!.name
        expect(seen.failure, name).toBeNull()
        expect(seen.done, name).toBe(true)
        expect(seen.cuts, name).toBe(0)
        expect(seen.tokens, name).toEqual(Array.from({ length: count }, (_, k) => k + 1))
        expect(seen.ids, name).toEqual(seen.tokens.map(String))
        if (policy === 'finish') {
          expect(seen.handovers, name).toBe(0)
          continue
        }
        expect(seen.handovers, name).toBe(1)
        const after = seen.handoverAt[0]! - sigtermAt
        if (policy === 'at-drain') expect(after, name).toBeLessThan(900)
        else expect(after, name).toBeGreaterThanOrEqual(900)
      }
      // Under finish the drain waited for the streams; otherwise it ended once they were handed over.
      expect(exit.at - sigtermAt).toBeLessThan(3_000)
    }, 60_000)
  }
})
