import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { type BuiltImage, buildContext, buildDockerfile, cleanCopy, hostEnv, openToAll, stopRunningSteps } from './support/deploy-dockerfile-steps.ts'
import { repoRoot } from './support/service-process.ts'
import { freePort } from './support/free-port.ts'
import { startOtlpReceiver } from './support/otlp-receiver.ts'

// No Docker engine here: the Dockerfile's own steps are carried out in a clean copy of the repository
// (see support/deploy-dockerfile-steps.ts). The base image's `node` is the test's own Node 24, put first
// on PATH; the repository's node_modules/.bin is left off PATH so nothing leaks in from the dev install.
const imageNodeDir = dirname(process.execPath)
const basePath = [imageNodeDir, ...(process.env.PATH ?? '').split(':').filter((p) => !p.includes('node_modules'))].join(':')

const cleanup: (() => void)[] = []
let service: ChildProcess | undefined
afterAll(() => {
  stopRunningSteps()
  if (service && service.exitCode === null && service.signalCode === null) service.kill('SIGKILL')
  for (const step of cleanup.splice(0).reverse()) step()
})


describe('the Dockerfile, carried out step by step without a Docker engine', () => {
  let image: BuiltImage

  it('builds: dev dependencies in the build stage, production dependencies only in the runtime stage', async () => {
    const source = cleanCopy(repoRoot)
    cleanup.push(() => rmSync(source, { recursive: true, force: true }))
    const context = buildContext(source)
    cleanup.push(() => rmSync(context, { recursive: true, force: true }))
    // .dockerignore leaves only what the Dockerfile copies (the Dockerfile itself travels apart).
    expect(readdirSync(context).sort()).toEqual(['deploy', 'package-lock.json', 'package.json', 'scripts', 'src', 'tsconfig.json'])
    expect(readdirSync(join(context, 'deploy/image')).sort()).toEqual(['package-lock.json', 'package.json'])
    expect(readdirSync(join(context, 'scripts'))).toEqual(['build-image.ts'])
    image = await buildDockerfile(context, readFileSync(join(source, 'Dockerfile'), 'utf8'), {
      path: basePath,
      env: hostEnv(),
      stepTimeoutMs: 120_000,
    })
    cleanup.push(() => image.remove())

    expect(image.ran).toEqual([
      'build: npm ci --no-audit --no-fund',
      'build: node scripts/build-image.ts dist',
      'runtime: npm ci --omit=dev --no-audit --no-fund && npm cache clean --force',
    ])
    // What the image holds: the bundle, and in node_modules only what the bundle leaves there (deploy/image):
    // the OpenTelemetry SDK and the inspector, optional peers of the library.
    expect(existsSync(join(image.workdir, 'dist/main.js'))).toBe(true)
    for (const opted of ['@opentelemetry/sdk-node', '@opentelemetry/api', '@statelyai/inspect']) {
      expect(existsSync(join(image.workdir, 'node_modules', opted, 'package.json')), opted).toBe(true)
    }
    // Bundled: Fastify and the rest are not in node_modules; nor is anything only the build or the tests need,
    // nor the `lameduck rehearse` command's client and parsers.
    for (const absent of ['fastify', 'typescript', 'vitest', 'node', 'dockerfile-ast', 'undici', 'smol-toml']) {
      expect(existsSync(join(image.workdir, 'node_modules', absent)), `${absent} in the runtime stage`).toBe(false)
    }
    expect(existsSync(join(image.workdir, 'src'))).toBe(false)
    // node itself first (check:deploy insists), the entry last; flags between are the Dockerfile's business.
    expect(image.cmd[0]).toBe('node')
    expect(image.cmd.at(-1)).toBe('dist/main.js')
    expect(image.env['NODE_ENV']).toBe('production')
  }, 180_000)

  /** The image's CMD from its WORKDIR with its ENV (port moved off 8000, loopback only), `before` put ahead of its flags. */
  async function startImage(extraEnv: Record<string, string> = {}, before: string[] = [], stdoutTo: number | 'pipe' = 'pipe') {
    const port = await freePort()
    // Running as root here: take the image's USER (`node`, uid 1000 in the node images) as far as the OS allows.
    const asUser = process.getuid?.() === 0 && image.user === 'node' ? { uid: 1000, gid: 1000 } : {}
    if ('uid' in asUser) openToAll(image.workdir)
    const child = spawn(image.cmd[0]!, [...before, ...image.cmd.slice(1)], {
      cwd: image.workdir,
      env: { ...hostEnv(), PATH: basePath, ...image.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...extraEnv },
      stdio: ['ignore', stdoutTo, 'pipe'],
      ...asUser,
    })
    service = child
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    child.stdout?.resume()
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const origin = `http://127.0.0.1:${port}`

    let ready: { statusCode: number; body: unknown } | undefined
    for (let attempt = 0; attempt < 100 && ready?.statusCode !== 200; attempt++) {
      if (child.exitCode !== null) throw new Error(`the CMD exited ${child.exitCode}: ${stderr}`)
      try {
        const response = await request(`${origin}/ready`)
        ready = { statusCode: response.statusCode, body: await response.body.json() }
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    return { child, origin, exited, ready, stderr: () => stderr }
  }

  it('starts with its CMD from its WORKDIR, is ready, and on SIGTERM finishes the request in flight and exits 0', async () => {
    expect(image, 'the build step above must pass first').toBeDefined()
    // The CMD's flags (--disable-sigusr1 included) must leave the drain as it is.
    expect(image.cmd).toContain('--disable-sigusr1')
    const { child, origin, exited, ready, stderr: stderrOf } = await startImage()
    expect(ready).toEqual({ statusCode: 200, body: { status: 'ready', active_requests: 0, max_concurrency: 4, open_streams: 0, open_sessions: 0 } })

    const inFlight = request(`${origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'image', work_ms: 1500 }),
    })
    for (let attempt = 0; attempt < 100; attempt++) {
      const body = (await (await request(`${origin}/ready`)).body.json()) as { active_requests: number }
      if (body.active_requests === 1) break
      await new Promise((r) => setTimeout(r, 20))
    }
    child.kill('SIGTERM')
    const response = await inFlight
    expect(response.statusCode).toBe(200)
    expect(response.headers['connection']).toBe('close')
    expect(await response.body.json()).toEqual({ message: 'Hello, image!' })
    const [code, signal] = await exited
    expect({ code, signal, stderr: stderrOf() }).toEqual({ code: 0, signal: null, stderr: '' })
  }, 30_000)

  // The bundle (scripts/build-image.ts) is what makes the image start as quickly as bare Fastify (bench/findings.md).
  it('loads its code from the bundle, nothing from node_modules but the OpenTelemetry API, when nothing is exported', async () => {
    expect(image, 'the build step above must pass first').toBeDefined()
    // Somewhere the image's user may write (the WORKDIR belongs to root).
    const loadsDir = mkdtempSync(join(tmpdir(), 'lameduck-loads-'))
    chmodSync(loadsDir, 0o777)
    cleanup.push(() => rmSync(loadsDir, { recursive: true, force: true }))
    const loadsFile = join(loadsDir, 'loaded-urls.json')
    // Loaded ahead of the CMD's own --import: records every module URL, ES modules and CommonJS alike.
    const recordLoads = `import { registerHooks } from 'node:module'
import { writeFileSync } from 'node:fs'
const urls = []
registerHooks({ load(url, context, next) { urls.push(url); return next(url, context) } })
process.once('exit', () => writeFileSync(process.env.LOADS_FILE, JSON.stringify(urls)))`
    const { child, exited, ready } = await startImage({ LOADS_FILE: loadsFile }, ['--import', `data:text/javascript,${encodeURIComponent(recordLoads)}`])
    expect(ready?.statusCode).toBe(200)
    child.kill('SIGTERM')
    expect((await exited)[0]).toBe(0)
    const urls = JSON.parse(readFileSync(loadsFile, 'utf8')) as string[]
    const files = urls.filter((url) => url.startsWith('file:'))
    expect(files.some((url) => url.endsWith('/dist/main.js'))).toBe(true)
    // The API stays in node_modules on purpose (scripts/build-image.ts): one copy, shared with the SDK.
    expect(files.filter((url) => url.includes('/node_modules/') && !url.includes('/node_modules/@opentelemetry/api/'))).toEqual([])
  }, 30_000)

  // src/tick-shape-anchor.ts. A full GC while idle is the case that always left the caches megamorphic without it
  // (bench/findings.md). V8 prints the feedback of process.nextTick (%DebugPrint); the five computed keys of the
  // tick object literal are its DefineKeyedOwnPropertyInLiteral slots.
  it("keeps process.nextTick's tick literal monomorphic through a full GC while idle", async () => {
    expect(image, 'the build step above must pass first').toBeDefined()
    const probe = `const debugPrint = new Function('f', '%DebugPrint(f)')
let signals = 0
process.on('SIGUSR2', () => (signals++ === 0 ? globalThis.gc() : debugPrint(process.nextTick)))`
    // V8 prints through C's stdio, which drops output on a non-blocking pipe: stdout goes to a file.
    const dumpDir = mkdtempSync(join(tmpdir(), 'lameduck-tick-'))
    cleanup.push(() => rmSync(dumpDir, { recursive: true, force: true }))
    const dumpFile = join(dumpDir, 'stdout.txt')
    const dumpFd = openSync(dumpFile, 'w')
    cleanup.push(() => closeSync(dumpFd))
    const { child, origin, exited, ready } = await startImage(
      {},
      ['--expose-gc', '--allow-natives-syntax', '--import', `data:text/javascript,${encodeURIComponent(probe)}`],
      dumpFd,
    )
    expect(ready?.statusCode).toBe(200)
    child.kill('SIGUSR2') // the full GC, idle
    await new Promise((r) => setTimeout(r, 200))
    for (let i = 0; i < 200; i++) {
      const response = await request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      await response.body.text()
    }
    child.kill('SIGUSR2') // the dump
    await new Promise((r) => setTimeout(r, 200))
    child.kill('SIGTERM')
    expect((await exited)[0]).toBe(0)
    // What V8's stdio still buffered is written when the process exits.
    const slots = readFileSync(dumpFile, 'utf8').match(/DefineKeyedOwnPropertyInLiteral \w+/g) ?? []
    expect(slots.length, 'no tick literal slots in the dump: has Node changed how it builds tick objects?').toBeGreaterThan(0)
    expect(slots.filter((slot) => !slot.endsWith('MONOMORPHIC'))).toEqual([])
  }, 30_000)

  // OpenTelemetry stays in node_modules, the code that uses it is in the bundle: the bundle's request spans must
  // reach the SDK that register.js starts.
  it('with an OTLP endpoint, the bundle traces a request and the drain, exported before exit', async () => {
    expect(image, 'the build step above must pass first').toBeDefined()
    const receiver = await startOtlpReceiver()
    cleanup.push(() => void receiver.close())
    const { child, origin, exited, ready, stderr } = await startImage({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_SERVICE_NAME: 'lameduck-image',
    })
    expect(ready?.statusCode).toBe(200)
    const response = await request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"traced"}' })
    expect(response.statusCode).toBe(200)
    await response.body.text()
    child.kill('SIGTERM')
    const [code] = await exited
    expect({ code, stderr: stderr() }).toEqual({ code: 0, stderr: '' })
    const hello = receiver.spans.find((span) => span.kind === 2 && span.attributes['http.route'] === '/hello')
    expect(hello, `spans received: ${receiver.spans.map((span) => span.name).join(', ')}`).toBeDefined()
    expect(hello!.resource['service.name']).toBe('lameduck-image')
  }, 30_000)
})
