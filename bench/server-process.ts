import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import { createServer } from 'node:net'
import { performance } from 'node:perf_hooks'

export interface LaunchSpec {
  readonly command: string
  readonly args: readonly string[]
  readonly env: Readonly<Record<string, string>>
  readonly cwd?: string
  /** A file descriptor for the server's stdout instead of a pipe (V8's own printing drops output on a non-blocking pipe). */
  readonly stdout?: number
}

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** performance.now() when the orchestrator saw the exit. */
  readonly at: number
}

export interface ServerProcess {
  readonly child: ChildProcess
  readonly pid: number
  readonly origin: string
  /** performance.now() just before spawn. */
  readonly spawnedAt: number
  readonly exited: Promise<Exit>
  output(): string
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

export function launch(spec: LaunchSpec, port: number): ServerProcess {
  const spawnedAt = performance.now()
  const child = spawn(spec.command, [...spec.args], {
    cwd: spec.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...spec.env },
    stdio: ['ignore', spec.stdout ?? 'pipe', 'pipe'],
  })
  let output = ''
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }))
  })
  if (child.pid === undefined) throw new Error(`could not start ${spec.command}`)
  return { child, pid: child.pid, origin: `http://127.0.0.1:${port}`, spawnedAt, exited, output: () => output }
}

/** GET `url` on a fresh connection; resolves with the status, or null when refused or reset. */
export function probe(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? null))
      res.on('error', () => resolve(null))
    })
    req.on('error', () => resolve(null))
  })
}

/** Polls `url` every `everyMs` until it answers 200; resolves with performance.now() of that answer. */
export async function waitFor200(server: ServerProcess, url: string, timeoutMs: number, everyMs = 2): Promise<number> {
  const deadline = performance.now() + timeoutMs
  let exited = false
  void server.exited.then(() => (exited = true))
  for (;;) {
    if ((await probe(url)) === 200) return performance.now()
    if (exited) throw new Error(`server exited before ${url} answered 200: ${server.output().trim().slice(-800)}`)
    if (performance.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms: ${server.output().trim().slice(-800)}`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}

/** Resident set size now and its peak over the process's life (VmHWM), in MB. */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN)
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 }
}

/** CPU time (user + system) the process has used so far, in ms (/proc/PID/stat, clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  // After the command name: state is field 3, so utime (14) and stime (15) are at 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** SIGTERM, then SIGKILL if still there after `graceMs`. */
export async function stop(server: ServerProcess, graceMs = 3000): Promise<Exit> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGTERM')
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs)
  const exit = await server.exited
  clearTimeout(timer)
  return exit
}
