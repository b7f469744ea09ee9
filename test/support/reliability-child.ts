import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

export const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url))
export const repoDir = fileURLToPath(new URL('../../', import.meta.url))

export interface LogLine {
  level?: number
  msg?: string
  [key: string]: unknown
}

export interface ExitResult {
  code: number | null
  signal: NodeJS.Signals | null
  elapsedMs: number
}

/**
 * A Node 24 child process running a `.ts` file (types stripped), with its
 * pino lines parsed as they arrive. Every child a test starts is killed in
 * `stop()` if it is still running, so no test leaves one behind.
 */
export class ChildService {
  readonly child: ChildProcess
  readonly logs: LogLine[] = []
  stdout = ''
  stderr = ''
  readonly exited: Promise<ExitResult>
  port = 0
  readonly #started = Date.now()

  constructor(script: string, env: Record<string, string> = {}, nodeArgs: readonly string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, script], {
      cwd: repoDir,
      env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let partial = ''
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk
      partial += chunk
      const lines = partial.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) this.#parse(line)
    })
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk))
    this.exited = once(this.child, 'exit').then(([code, signal]) => ({
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      elapsedMs: Date.now() - this.#started,
    }))
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  #parse(line: string): void {
    if (!line.startsWith('{')) return
    try {
      const entry = JSON.parse(line) as LogLine
      this.logs.push(entry)
      const match = typeof entry.msg === 'string' ? /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(entry.msg) : null
      if (match) this.port = Number(match[1])
    } catch {
      // Not a log line.
    }
  }

  /** Waits for a log line matching `predicate`, or fails with what the child said so far. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.logs.find(predicate)
      if (found) return found
      if (this.child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`log line not seen (exit ${this.child.exitCode}).\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  /** Waits for a lifecycle transition log line (`lifecycle: running`, `lifecycle: draining.delay`...). */
  waitForPhase(phase: string, timeoutMs?: number): Promise<LogLine> {
    return this.waitForLog((line) => line.lifecycle === phase && String(line.msg).startsWith('lifecycle:'), timeoutMs)
  }

  async listening(timeoutMs = 10_000): Promise<void> {
    await this.waitForLog((line) => typeof line.msg === 'string' && line.msg.includes('listening at'), timeoutMs)
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
  }

  /** The exit, or a failure if it takes longer than `timeoutMs` (the child is killed then). */
  async exit(timeoutMs = 10_000): Promise<ExitResult> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL')
        reject(new Error(`child still running after ${timeoutMs} ms.\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`))
      }, timeoutMs)
    })
    try {
      return await Promise.race([this.exited, late])
    } finally {
      clearTimeout(timer)
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}
