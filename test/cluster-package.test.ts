import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { alive } from './support/cluster-client.ts'
import { freePort } from './support/free-port.ts'

/**
 * docs/cluster.md's example, from the package as a user gets it: `npm pack`, a fresh ESM app with the
 * tarball and Fastify; every code block passes `tsc --strict`, and the example runs as a replica of two
 * workers: one /ready for the replica, one SIGTERM, exit 0, no worker left. Needs the npm registry (installs
 * prefer the local cache).
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const run = promisify(execFile)
const work = mkdtempSync(join(tmpdir(), 'lameduck-cluster-'))
afterAll(() => rmSync(work, { recursive: true, force: true }))

const docs = readFileSync(join(root, 'docs/cluster.md'), 'utf8')
const blocks = [...docs.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!)

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: { ...process.env, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 })
  return stdout
}

beforeAll(async () => {
  if (!existsSync(join(root, 'dist/cluster/index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)')
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', work], root)) as { filename: string }[]
  writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'consumer-cluster', private: true, type: 'module' }))
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', join(work, packed[0]!.filename), 'fastify@5'], work)
  blocks.forEach((block, index) => writeFileSync(join(work, `doc-${index + 1}.ts`), block.replace('port: 8000', 'port: Number(process.env.PORT)')))
  writeFileSync(
    join(work, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', types: ['node'], typeRoots: [join(root, 'node_modules/@types')], skipLibCheck: true, outDir: 'out' },
      files: blocks.map((_, index) => `doc-${index + 1}.ts`),
    }),
  )
}, 240_000)

describe('docs/cluster.md from the packed tarball', () => {
  it('every code block passes tsc --strict', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(1)
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', work], { cwd: work }).catch((error: { stdout?: string }) => {
      throw new Error(`tsc failed:\n${error.stdout ?? String(error)}`)
    })
  }, 120_000)

  it('the example runs as one replica of two workers and stops on one SIGTERM', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ['out/doc-1.js'], { cwd: work, env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const exited = once(child, 'exit')
    try {
      let body: { status?: string; workers?: { running: number; expected: number } } = {}
      for (let tries = 0; body.status !== 'ready'; tries++) {
        if (tries > 400) throw new Error(`not ready within 20 s:\n${output}`)
        await sleep(50)
        body = await request(`http://127.0.0.1:${port}/ready`).then((r) => r.body.json() as Promise<typeof body>, () => ({}))
      }
      // autoWorkerCount() on this machine: the workers the replica expects, every one serving.
      expect(body.workers!.running).toBe(body.workers!.expected)
      expect((await request(`http://127.0.0.1:${port}/work`)).statusCode).toBe(200)
      const pids = [...output.matchAll(/"worker_pid":(\d+)/g)].map((m) => Number(m[1]))
      child.kill('SIGTERM')
      const [code] = await exited
      expect(code).toBe(0)
      expect(output).toContain('"msg":"replica: stopped"')
      for (const pid of pids) expect(alive(pid)).toBe(false)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 60_000)
})
