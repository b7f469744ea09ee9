import { connect } from 'node:net'
import { Agent, request } from 'undici'
import type { Clock } from './clock.ts'

export type ProbeState = 'ready' | 'not-ready' | 'unreachable'

/** One change of a probe's answer: the readiness timeline is a list of these. */
export interface ProbeChange {
  readonly at: number
  readonly instance: string
  readonly probe: 'ready' | 'health'
  readonly state: ProbeState
  /** `200`, `503`, `ECONNREFUSED`, `tcp open`, ... */
  readonly detail: string
}

export interface ProbePoller {
  state(): ProbeState | undefined
  /** The HTTP status of the last answer, if it was HTTP. */
  lastStatus(): number | undefined
  /** The start of the last answer's body, for error messages. */
  lastBody(): string
  /** Whether anything ever accepted a connection. */
  everConnected(): boolean
  /** Resolves after the next probe answers. */
  nextAnswer(): Promise<void>
  stop(): void
}

// Kubernetes' default timeoutSeconds; a probe that takes longer counts as failed, as there.
const probeTimeoutMs = 1000
// Until the first ready answer the poll is quick, so the rehearsal does not wait a whole period for startup.
const startupPollMs = 50

/**
 * Polls one instance's probe the way a platform does: a fresh connection per check (`Connection: close`),
 * 200 is ready, any other answer or no answer is not. Records every change on the timeline.
 */
export function pollProbe(
  instance: string,
  probe: 'ready' | 'health',
  port: number,
  path: string | null,
  intervalMs: number,
  clock: Clock,
  timeline: ProbeChange[],
): ProbePoller {
  const agent = new Agent({ connections: 1, pipelining: 0 })
  let state: ProbeState | undefined
  let status: number | undefined
  let body = ''
  let connected = false
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let waiters: Array<() => void> = []

  const record = (next: ProbeState, detail: string) => {
    const last = timeline.findLast((c) => c.instance === instance && c.probe === probe)
    if (last?.state !== next || last.detail !== detail) timeline.push({ at: clock(), instance, probe, state: next, detail })
    state = next
  }

  const check = async () => {
    if (path === null) {
      const code = await tcpCheck(port)
      if (code === null) connected = true
      record(code === null ? 'ready' : 'unreachable', code ?? 'tcp open')
      return
    }
    try {
      const response = await request(`http://127.0.0.1:${port}${path}`, {
        dispatcher: agent,
        reset: true,
        headersTimeout: probeTimeoutMs,
        bodyTimeout: probeTimeoutMs,
      })
      body = (await response.body.text()).slice(0, 200)
      connected = true
      status = response.statusCode
      record(response.statusCode === 200 ? 'ready' : 'not-ready', String(response.statusCode))
    } catch (error) {
      status = undefined
      record('unreachable', (error as { code?: string }).code ?? 'error')
    }
  }

  const loop = async () => {
    if (stopped) return
    await check()
    const current = waiters
    waiters = []
    for (const wake of current) wake()
    if (stopped) return
    // Before the first ready answer the poll stays quick, even once connected (a 503 while starting).
    const everReady = timeline.some((c) => c.instance === instance && c.probe === probe && c.state === 'ready')
    timer = setTimeout(loop, everReady ? intervalMs : startupPollMs)
    timer.unref()
  }
  void loop()

  return {
    state: () => state,
    lastStatus: () => status,
    lastBody: () => body,
    everConnected: () => connected,
    nextAnswer: () => new Promise<void>((resolve) => waiters.push(resolve)),
    stop: () => {
      if (stopped) return
      stopped = true
      clearTimeout(timer)
      for (const wake of waiters) wake()
      waiters = []
      void agent.close()
    },
  }
}

/** `null` when the port accepts a connection, else the error code. */
function tcpCheck(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', timeout: probeTimeoutMs })
    socket.once('connect', () => {
      socket.destroy()
      resolve(null)
    })
    socket.once('timeout', () => {
      socket.destroy()
      resolve('ETIMEDOUT')
    })
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'))
  })
}
