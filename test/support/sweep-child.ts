import { get as httpGet } from 'node:http'
import { connect as h2Connect } from 'node:http2'
import { get as httpsGet } from 'node:https'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChildService, fixturesDir } from './reliability-child.ts'

export type SweepTransport = 'http' | 'https' | 'h2c' | 'h2'

export interface SweepChildOptions {
  transport?: SweepTransport
  env?: Record<string, string>
  /** PEM files, for the TLS transports. */
  tls?: { certFile: string; keyFile: string; ca: string }
}

/** Thrown when the machine was too slow for a cell's timing precondition: the cell is run again. */
export class SlowMachine extends Error {}

const graceBudgetMs = 175

/** How long to wait for a log line: it bounds a hang, and a machine shared with other suites can be very slow. */
const waitMs = 30_000

/** Small limits, so every cell is fast and a stuck one ends at a near deadline. */
const sweepEnv = { DRAIN_TIMEOUT_MS: '3000', MAX_CONCURRENCY: '8', LOG_LEVEL: 'info' }

/**
 * One child process of test/fixtures/phase-sweep-service.ts for one cell: one SIGTERM, one exit.
 * Its exit time is taken when the `exit` event fires, to compare with the client's last answer.
 */
export class SweepChild {
  readonly service: ChildService
  readonly transport: SweepTransport
  readonly tls: SweepChildOptions['tls']
  port = 0
  sigtermAt = 0
  exitAt = 0

  constructor(options: SweepChildOptions) {
    this.transport = options.transport ?? 'http'
    this.tls = options.tls
    const tlsEnv: Record<string, string> = options.tls ? { SWEEP_CERT_FILE: options.tls.certFile, SWEEP_KEY_FILE: options.tls.keyFile } : {}
    this.service = new ChildService(`${fixturesDir}phase-sweep-service.ts`, {
      ...sweepEnv,
      SWEEP_TRANSPORT: this.transport,
      ...tlsEnv,
      ...options.env,
    })
    this.service.child.once('exit', () => (this.exitAt = performance.now()))
  }

  /** Every child not yet exited, for `stopAll` after a cell that timed out before its own cleanup. */
  static readonly running = new Set<SweepChild>()

  static async stopAll(): Promise<void> {
    await Promise.all([...SweepChild.running].map((child) => child.stop()))
  }

  static async start(options: SweepChildOptions = {}): Promise<SweepChild> {
    const child = new SweepChild(options)
    SweepChild.running.add(child)
    child.service.child.once('exit', () => SweepChild.running.delete(child))
    const line = await child.service.waitForLog((l) => typeof l.msg === 'string' && /listening at https?:\/\//.test(l.msg), 30_000)
    child.port = Number(/:(\d+)$/.exec(String(line.msg))?.[1])
    await child.service.waitForPhase('running', 30_000)
    return child
  }

  get origin(): string {
    return `${this.transport === 'http' || this.transport === 'h2c' ? 'http' : 'https'}://127.0.0.1:${this.port}`
  }

  sigterm(): void {
    this.sigtermAt = performance.now()
    this.service.signal('SIGTERM')
  }

  /**
   * The drain proper has begun: listeners closed, connections told (the plugin logs after it acted).
   * With nothing in flight the lifecycle passes through it in one step and logs only `stopped`.
   */
  draining(): Promise<unknown> {
    return this.service.waitForLog((l) => String(l.msg).startsWith('lifecycle:') && (l.lifecycle === 'draining.drain' || l.lifecycle === 'stopped'), waitMs)
  }

  /** SIGTERM, then the drain proper's log line, then `ms` more. */
  async sigtermAndDrain(ms = 20): Promise<void> {
    this.sigterm()
    await this.draining()
    if (ms > 0) await sleep(ms)
  }

  /**
   * For a cell whose client must act within the first-request grace (250 ms from the drain's start,
   * src/transport/http1-drain.ts): fails with SlowMachine if 175 ms have passed since SIGTERM, so the
   * cell is run again rather than judged at a phase it did not reach.
   */
  inGrace(): void {
    const elapsed = performance.now() - this.sigtermAt
    if (elapsed > graceBudgetMs) throw new SlowMachine(`the client acted ${Math.round(elapsed)} ms after SIGTERM, past the ${graceBudgetMs} ms budget`)
  }

  /** Waits for the fixture's `sweep: <stage>` line, for the request tagged `tag` if given. */
  waitStage(stage: string, tag?: string): Promise<unknown> {
    return this.service.waitForLog((l) => l.sweep === stage && (tag === undefined || l.tag === tag), waitMs)
  }

  /** Waits for Fastify's `incoming request` line for `url`: the head was read, the onRequest hooks run. */
  waitForRequest(url: string): Promise<unknown> {
    return this.service.waitForLog((l) => l.msg === 'incoming request' && (l.req as { url?: string } | undefined)?.url === url, waitMs)
  }

  /** Waits until the server has accepted the connection from `localPort` and read at least `bytes` of it. */
  async awaitRead(localPort: number, bytes: number): Promise<void> {
    const deadline = Date.now() + waitMs
    for (;;) {
      const seen = await this.probe(`/sweep/conn?port=${localPort}`)
      if (seen.accepted && seen.bytes_read >= bytes) return
      if (Date.now() > deadline) throw new Error(`server read ${seen.bytes_read} of ${bytes} bytes from port ${localPort} (accepted: ${seen.accepted})`)
      // Each look is a connection and a request: on a loaded machine, looking often slows what it waits for.
      await sleep(15)
    }
  }

  async exit(): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> {
    const result = await this.service.exit(20_000)
    return { code: result.code, signal: result.signal, at: this.exitAt }
  }

  stop(): Promise<void> {
    return this.service.stop()
  }

  /** A probe request on a connection of its own, closed after the answer (so none is left for the drain). */
  async probe(path: string): Promise<{ accepted: boolean; bytes_read: number }> {
    if (this.transport === 'h2c') {
      const session = h2Connect(this.origin)
      try {
        const stream = session.request({ ':path': path })
        stream.setEncoding('utf8')
        let body = ''
        for await (const chunk of stream) body += chunk
        return JSON.parse(body)
      } finally {
        session.close()
      }
    }
    const get = this.transport === 'http' ? httpGet : httpsGet
    return new Promise((resolve, reject) => {
      const request = get(`${this.origin}${path}`, { agent: false, headers: { connection: 'close' }, ...(this.tls ? { ca: this.tls.ca } : {}) }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve(JSON.parse(body)))
      })
      request.on('error', reject)
    })
  }
}
