import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { waitUntil } from './plugin-harness.ts'

export const repoRoot = resolve(import.meta.dirname, '../..')
export const builtEntry = resolve(repoRoot, 'dist/main.js')

export interface ServiceProcess {
  child: ChildProcess
  port: number
  origin: string
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>
  stderr: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
  waitForLog(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>
  kill(): void
}

/** Starts the built reference service (`node dist/main.js`) on a free port, as the Dockerfile would. */
export async function startService(env: Record<string, string> = {}, entry = builtEntry): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: Array<Record<string, unknown>> = []
  let stdoutRest = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (stdoutRest + chunk).split('\n')
    stdoutRest = lines.pop() ?? ''
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        logs.push({ raw: line })
      }
    }
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
    at: performance.now(),
  }))

  const waitForLog = async (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    let exitedEarly = false
    void exited.then(() => (exitedEarly = true))
    await waitUntil(() => logs.some(predicate) || exitedEarly, timeoutMs)
    const found = logs.find(predicate)
    if (!found) throw new Error(`service exited before the expected log line; stderr: ${stderr}; stdout: ${JSON.stringify(logs).slice(-1500)}`)
    return found
  }

  const service: ServiceProcess = {
    child,
    port: 0,
    origin: '',
    logs,
    stderr: () => stderr,
    exited,
    waitForLog,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    },
  }
  if (env.EXPECT_NO_LISTEN) return service
  // Generous: on a CI machine shared with other suites a start has been seen to take over 10 s.
  // It bounds a hang; it measures nothing (start-up time is a benchmark figure).
  const listening = await waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('Server listening at http://127.0.0.1:'), 30_000)
  service.port = Number(String(listening.msg).split(':').pop())
  service.origin = `http://127.0.0.1:${service.port}`
  return service
}
