/**
 * Soak: the reference service (with the fault routes of test/fixtures/faulty-service.ts)
 * under sustained mixed traffic: valid work, invalid bodies, throwing and rejecting
 * handlers, client aborts, raw garbage and stalled bodies. Afterwards the in-flight
 * count must be exactly 0, /ready 200, the drain clean (exit 0), and RSS flat.
 *
 *   npm run soak                                  # 20 s, for CI
 *   npm run soak -- --duration=600 --concurrency=32
 *   npm run soak -- --otlp=http://127.0.0.1:9   # with telemetry on, exporting to a dead collector
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export interface SoakOptions {
  durationS: number
  concurrency: number
  /** Print progress lines. */
  verbose: boolean
  /** OTLP endpoint: load the telemetry entry and export there (a dead one tests the exporter's queues). */
  otlpEndpoint?: string
}

export interface SoakResult {
  durationS: number
  requests: number
  outcomes: Record<string, number>
  /** Answers the mix did not expect (a 5xx from a valid request, a 200 for garbage...). */
  unexpected: string[]
  rssMb: { start: number; middle: number; end: number }
  /** V8 heap in use right after a full collection, at the same three moments. */
  heapAfterGcMb: { start: number; middle: number; end: number }
  finalReady: { status: number; active_requests: number }
  exitCode: number | null
  stoppedLog: Record<string, unknown> | null
  /** The collected heap grew from the middle to the end beyond noise (20% + 5 MB). */
  leakSuspected: boolean
}

const fixture = fileURLToPath(new URL('../test/fixtures/faulty-service.ts', import.meta.url))

export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const telemetry = options.otlpEndpoint ? ['--import', fileURLToPath(new URL('../src/telemetry/register.ts', import.meta.url))] : []
  const child = spawn(process.execPath, ['--expose-gc', ...telemetry, fixture], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      MAX_CONCURRENCY: '1000',
      DRAIN_TIMEOUT_MS: '10000',
      SOAK_MEMORY: '1',
      ...(options.otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: options.otlpEndpoint } : {}),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: Record<string, unknown>[] = []
  let partial = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) {
      // Per-request error lines are expected by the thousand: keep only lifecycle and startup lines.
      if (line.includes('"lifecycle') || line.includes('listening at')) lines.push(JSON.parse(line) as Record<string, unknown>)
    }
  })
  const exited = once(child, 'exit')
  try {
    const port = await waitForPort(lines)
    const origin = `http://127.0.0.1:${port}`
    const outcomes: Record<string, number> = {}
    const unexpected: string[] = []
    const count = (key: string) => (outcomes[key] = (outcomes[key] ?? 0) + 1)
    const expectStatus = (kind: string, status: number, allowed: number[]) => {
      count(`${kind} ${status}`)
      if (!allowed.includes(status) && unexpected.length < 20) unexpected.push(`${kind}: ${status}`)
    }

    const traffic = trafficMix(origin, port, expectStatus, count)
    const memory = async () => {
      const { rss, heapUsed } = (await (await fetch(`${origin}/soak/memory`)).json()) as { rss: number; heapUsed: number }
      return { rss: mb(rss), heap: mb(heapUsed) }
    }
    // Warm up (JIT, pools) before the first reading.
    await runFor(Math.min(3, options.durationS / 5), options.concurrency, traffic)
    const start = await memory()
    const half = options.durationS / 2
    await runFor(half, options.concurrency, traffic)
    const middle = await memory()
    if (options.verbose) process.stdout.write(`soak: half way, RSS ${middle.rss} MB, heap after GC ${middle.heap} MB\n`)
    await runFor(half, options.concurrency, traffic)
    const end = await memory()

    // Every request is over from the client's side; the server's count must reach 0.
    const deadline = Date.now() + 15_000
    let finalReady = { status: 0, active_requests: -1 }
    while (Date.now() < deadline) {
      const response = await fetch(`${origin}/ready`)
      finalReady = { status: response.status, active_requests: ((await response.json()) as { active_requests: number }).active_requests }
      if (finalReady.active_requests === 0 && finalReady.status === 200) break
      await sleep(50)
    }
    child.kill('SIGTERM')
    const [exitCode] = (await exited) as [number | null]
    const requests = Object.values(outcomes).reduce((a, b) => a + b, 0)
    return {
      durationS: options.durationS,
      requests,
      outcomes,
      unexpected,
      rssMb: { start: start.rss, middle: middle.rss, end: end.rss },
      heapAfterGcMb: { start: start.heap, middle: middle.heap, end: end.heap },
      finalReady,
      exitCode,
      stoppedLog: lines.find((line) => line.lifecycle === 'stopped') ?? null,
      leakSuspected: end.heap > middle.heap * 1.2 + 5,
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

type Check = (kind: string, status: number, allowed: number[]) => void

/** One random request from the mix. */
function trafficMix(origin: string, port: number, check: Check, count: (key: string) => void): () => Promise<void> {
  const post = (body: string, signal?: AbortSignal) =>
    fetch(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...(signal ? { signal } : {}) })
  return async () => {
    const roll = Math.random()
    try {
      if (roll < 0.45) {
        const response = await post(JSON.stringify({ name: `soak${Math.floor(roll * 1000)}`, work_ms: Math.floor(Math.random() * 20) }))
        await response.arrayBuffer()
        check('valid', response.status, [200])
      } else if (roll < 0.55) {
        const response = await post(JSON.stringify({ name: 42, work_ms: 'slow' }))
        await response.arrayBuffer()
        check('invalid', response.status, [400])
      } else if (roll < 0.6) {
        const response = await fetch(`${origin}/throw`)
        await response.arrayBuffer()
        check('throw', response.status, [500])
      } else if (roll < 0.65) {
        const response = await fetch(`${origin}/reject`)
        await response.arrayBuffer()
        check('reject', response.status, [500])
      } else if (roll < 0.75) {
        const controller = new AbortController()
        setTimeout(() => controller.abort(), Math.random() * 15)
        await post(JSON.stringify({ work_ms: 30 }), controller.signal).then(
          async (response) => {
            await response.arrayBuffer()
            check('aborted-late', response.status, [200])
          },
          () => count('aborted'),
        )
      } else if (roll < 0.8) {
        await rawThenClose(port, 'GARBAGE / HTTP/1.1\r\n\r\n', 0)
        count('garbage')
      } else if (roll < 0.85) {
        await rawThenClose(port, 'POST /hello HTTP/1.1\r\nHost: s\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"na', 10)
        count('stalled-body')
      } else {
        const path = roll < 0.93 ? '/ready' : '/health'
        const response = await fetch(`${origin}${path}`)
        await response.arrayBuffer()
        check(path, response.status, [200, 503])
      }
    } catch (error) {
      check(`client error ${(error as Error).message}`, 0, [])
    }
  }
}

function rawThenClose(port: number, bytes: string, holdMs: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' })
    socket.on('error', () => {})
    socket.on('close', () => resolve())
    socket.on('connect', () => {
      socket.write(bytes)
      setTimeout(() => socket.destroy(), holdMs)
    })
  })
}

async function runFor(seconds: number, concurrency: number, once: () => Promise<void>): Promise<void> {
  const until = Date.now() + seconds * 1_000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) await once()
    }),
  )
}

function mb(bytes: number): number {
  return Math.round(bytes / 104_857.6) / 10
}

async function waitForPort(lines: Record<string, unknown>[]): Promise<number> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    const running = lines.some((line) => line.lifecycle === 'running')
    const listening = lines.find((line) => typeof line.msg === 'string' && /listening at http:\/\/127\.0\.0\.1:\d+/.test(line.msg))
    if (running && listening) return Number(/:(\d+)$/.exec(String(listening.msg))?.[1])
    await sleep(20)
  }
  throw new Error('service did not start within 15 s')
}

function parseArgs(argv: string[]): SoakOptions {
  const options: SoakOptions = { durationS: 20, concurrency: 16, verbose: true }
  for (const arg of argv) {
    const [key, value] = arg.replace(/^--/, '').split('=') as [string, string | undefined]
    const n = Number(value)
    if (key === 'duration' && Number.isInteger(n) && n >= 4) options.durationS = n
    else if (key === 'concurrency' && Number.isInteger(n) && n >= 1 && n <= 512) options.concurrency = n
    else if (key === 'otlp' && value !== undefined && URL.canParse(value)) options.otlpEndpoint = value
    else throw new Error(`soak: unknown or invalid argument ${JSON.stringify(arg)} (--duration=<seconds >= 4>, --concurrency=<1..512>, --otlp=<url>)`)
  }
  return options
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = parseArgs(process.argv.slice(2))
  process.stdout.write(`soak: ${options.durationS} s, concurrency ${options.concurrency}${options.otlpEndpoint ? `, OTLP to ${options.otlpEndpoint}` : ''}\n`)
  const result = await runSoak(options)
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  const ok =
    result.unexpected.length === 0 &&
    result.finalReady.status === 200 &&
    result.finalReady.active_requests === 0 &&
    result.exitCode === 0 &&
    result.stoppedLog?.in_flight === 0 &&
    !result.leakSuspected
  process.stdout.write(`soak: ${ok ? 'PASS' : 'FAIL'}\n`)
  process.exitCode = ok ? 0 : 1
}
