import { spawn, spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface LoadSettings {
  readonly connections: number
  readonly threads: number
  readonly durationSeconds: number
  readonly timeoutSeconds: number
}

export interface LoadResult {
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly requests: number
  /** Connect, read, write errors, timeouts and non-2xx answers: any of them invalidates the run. */
  readonly errors: number
}

const script = fileURLToPath(new URL('./post-hello.lua', import.meta.url))

/** Why wrk cannot be used here, or null if it can. */
export function wrkMissing(): string | null {
  const probe = spawnSync('wrk', ['--version'], { encoding: 'utf8' })
  if (probe.error) return 'wrk is not installed (Debian: apt-get install wrk)'
  return null
}

export function wrkCommand(url: string, settings: LoadSettings): string[] {
  return [
    'wrk',
    `-t${settings.threads}`,
    `-c${settings.connections}`,
    `-d${settings.durationSeconds}s`,
    `--timeout`,
    `${settings.timeoutSeconds}s`,
    '-s',
    script,
    url,
  ]
}

/** Runs wrk in its own process against `url` (POST /hello) and parses the line its script prints. */
export function runWrk(url: string, settings: LoadSettings): Promise<LoadResult> {
  const [command, ...args] = wrkCommand(url, settings)
  return new Promise((resolve, reject) => {
    const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('BENCH_JSON '))
      if (code !== 0 || !line) {
        reject(new Error(`wrk exited ${code}: ${out.trim().slice(-500)}`))
        return
      }
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>
      const n = (k: string) => r[k] ?? 0
      resolve({
        requestsPerSecond: n('requests') / (n('duration_us') / 1e6),
        p50Ms: n('p50_us') / 1000,
        p99Ms: n('p99_us') / 1000,
        maxMs: n('max_us') / 1000,
        requests: n('requests'),
        errors: n('connect_errors') + n('read_errors') + n('write_errors') + n('status_errors') + n('timeouts'),
      })
    })
  })
}
