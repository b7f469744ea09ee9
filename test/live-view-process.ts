import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'

const mainPath = fileURLToPath(new URL('../src/main.ts', import.meta.url))

export interface ServiceProcess {
  readonly child: ChildProcess
  /** The http://127.0.0.1:PORT the service listens on. */
  readonly origin: string
  stdout(): string
  stderr(): string
  /** Resolves with the exit code (or signal name) and how long after `since` it came. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>
}

const running = new Set<ChildProcess>()

/** Starts the reference service (src/main.ts on this Node) on a free loopback port with `env` added. */
export async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [mainPath], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  running.add(child)
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exit = once(child, 'exit').then(([code, signal]) => {
    running.delete(child)
    return { code: code as number | null, signal: signal as NodeJS.Signals | null, at: performance.now() }
  })
  const origin = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start: ${out}${err}`)), 15_000)
    const look = () => {
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (match?.[1]) {
        clearTimeout(timer)
        child.stdout.off('data', look)
        resolve(match[1])
      }
    }
    child.stdout.on('data', look)
    void exit.then(() => reject(new Error(`service exited before listening: ${out}${err}`)))
  })
  return { child, origin, stdout: () => out, stderr: () => err, exited: () => exit }
}

/** For afterEach: no test leaves a service behind. */
export function killServices(): void {
  for (const child of running) child.kill('SIGKILL')
  running.clear()
}

/** Parsed pino lines of the service's stdout. */
export function logLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
