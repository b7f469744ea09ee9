import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { type BuiltImage, buildContext, buildDockerfile, cleanCopy, hostEnv, openToAll, stopRunningSteps } from './support/deploy-dockerfile-steps.ts'
import { repoRoot } from './support/service-process.ts'
import { freePort } from './support/free-port.ts'

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
    expect(readdirSync(context).sort()).toEqual(['package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json'])
    image = await buildDockerfile(context, readFileSync(join(source, 'Dockerfile'), 'utf8'), {
      path: basePath,
      env: hostEnv(),
      stepTimeoutMs: 120_000,
    })
    cleanup.push(() => image.remove())

    expect(image.ran).toEqual([
      'build: npm ci --no-audit --no-fund',
      'build: npm run build',
      'runtime: npm ci --omit=dev --no-audit --no-fund && npm cache clean --force',
    ])
    // What the image holds: compiled code and production dependencies, nothing else.
    expect(existsSync(join(image.workdir, 'dist/main.js'))).toBe(true)
    expect(existsSync(join(image.workdir, 'node_modules/fastify/package.json'))).toBe(true)
    for (const devOnly of ['typescript', 'vitest', 'node', 'dockerfile-ast']) {
      expect(existsSync(join(image.workdir, 'node_modules', devOnly)), `devDependency ${devOnly} in the runtime stage`).toBe(false)
    }
    // The package's `lameduck rehearse` command ships its client and parsers as dependencies (the service never loads them).
    for (const cliOnly of ['undici', 'smol-toml', 'yaml']) expect(existsSync(join(image.workdir, 'node_modules', cliOnly)), cliOnly).toBe(true)
    expect(existsSync(join(image.workdir, 'src'))).toBe(false)
    // node itself first (check:deploy insists), the entry last; flags between are the Dockerfile's business.
    expect(image.cmd[0]).toBe('node')
    expect(image.cmd.at(-1)).toBe('dist/main.js')
    expect(image.env['NODE_ENV']).toBe('production')
  }, 180_000)

  it('starts with its CMD from its WORKDIR, is ready, and on SIGTERM finishes the request in flight and exits 0', async () => {
    expect(image, 'the build step above must pass first').toBeDefined()
    const port = await freePort()
    // Running as root here: take the image's USER (`node`, uid 1000 in the node images) as far as the OS allows.
    const asUser = process.getuid?.() === 0 && image.user === 'node' ? { uid: 1000, gid: 1000 } : {}
    if ('uid' in asUser) openToAll(image.workdir)
    // The image's ENV, with the port moved off 8000 and the address kept on loopback for the test.
    service = spawn(image.cmd[0]!, image.cmd.slice(1), {
      cwd: image.workdir,
      env: { ...hostEnv(), PATH: basePath, ...image.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...asUser,
    })
    let stderr = ''
    service.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
    service.stdout!.resume()
    const exited = once(service, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
    const origin = `http://127.0.0.1:${port}`

    let ready: { statusCode: number; body: unknown } | undefined
    for (let attempt = 0; attempt < 100 && ready?.statusCode !== 200; attempt++) {
      if (service.exitCode !== null) throw new Error(`the CMD exited ${service.exitCode}: ${stderr}`)
      try {
        const response = await request(`${origin}/ready`)
        ready = { statusCode: response.statusCode, body: await response.body.json() }
      } catch {
        await new Promise((r) => setTimeout(r, 100))
      }
    }
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
    service.kill('SIGTERM')
    const response = await inFlight
    expect(response.statusCode).toBe(200)
    expect(response.headers['connection']).toBe('close')
    expect(await response.body.json()).toEqual({ message: 'Hello, image!' })
    const [code, signal] = await exited
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' })
  }, 30_000)
})
