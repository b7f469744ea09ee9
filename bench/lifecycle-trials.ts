import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Client } from 'undici'
import { freePort, launch, memoryOf, type ServerProcess, stop, waitFor200 } from './server-process.ts'
import type { Variant } from './variants.ts'

/** How long a trial waits for an exit before it SIGKILLs and records "did not exit". */
export const exitCapMs = 3000
const workMs = 300
const signalAfterMs = 100
/** SHUTDOWN_DELAY_MS in the /ready trial, for the variants that have a delay. */
export const readyTrialDelayMs = 300

export interface StartTrial {
  startToReadyMs: number
  idleRssMb: number
  /** SIGTERM with nothing in flight (an idle keep-alive connection open) to exit; null if killed at the cap. */
  idleExitMs: number | null
  idleExitCode: number | null
}

export interface InFlightTrial {
  /** Status of the request that was in flight at SIGTERM (null: it failed). */
  status: number | null
  connectionHeader: string | null
  /** Last in-flight response received to exit; null if killed at the cap. */
  responseToExitMs: number | null
  exitCode: number | null
}

export interface ReadyTrial {
  /** What the GET /ready written right after kill() got: a status, or the error. */
  firstAfterSignal: string
  /** SIGTERM to the first /ready answer that was not 200 (503, refused or reset), and what it was. */
  notReadyMs: number | null
  notReadyAs: string | null
  /** /ready answers of 200 after SIGTERM (0, or 1 when the first request reached the process before the signal did). */
  okAfterSignal: number
  /** A 200 after a not-200: readiness went back (must never happen). */
  flapped: boolean
  /** /ready before the signal (the seed's never says 200). */
  before: string
}

type Launcher = (variant: Variant, extraDelayMs: number) => Promise<{ server: ServerProcess; readyAt: number }>

export function lifecycleTrials(makeSpec: (variant: Variant, port: number, delayMs: number) => Parameters<typeof launch>[0]) {
  const start: Launcher = async (variant, delayMs) => {
    const port = await freePort()
    const server = launch(makeSpec(variant, port, delayMs), port)
    try {
      const readyAt = await waitFor200(server, `${server.origin}${variant.readyPath}`, 20_000)
      return { server, readyAt }
    } catch (error) {
      await stop(server, 500)
      throw error
    }
  }

  async function exitWithin(server: ServerProcess, from: () => number): Promise<{ ms: number | null; code: number | null }> {
    const timer = setTimeout(() => server.child.kill('SIGKILL'), exitCapMs)
    const exit = await server.exited
    clearTimeout(timer)
    return exit.signal === 'SIGKILL' ? { ms: null, code: null } : { ms: exit.at - from(), code: exit.code }
  }

  async function startTrial(variant: Variant): Promise<StartTrial> {
    const { server, readyAt } = await start(variant, 0)
    await sleep(300)
    const idleRssMb = memoryOf(server.pid).rssMb
    const client = new Client(server.origin)
    try {
      for (let i = 0; i < 3; i++) {
        const res = await client.request({ method: 'POST', path: '/hello', headers: { 'content-type': 'application/json' }, body: '{}' })
        await res.body.text()
      }
      await sleep(20)
      const signalAt = performance.now()
      server.child.kill('SIGTERM')
      const exit = await exitWithin(server, () => signalAt)
      return { startToReadyMs: readyAt - server.spawnedAt, idleRssMb, idleExitMs: exit.ms, idleExitCode: exit.code }
    } finally {
      await client.destroy().catch(() => {})
    }
  }

  async function inFlightTrial(variant: Variant): Promise<InFlightTrial> {
    const { server } = await start(variant, 0)
    const client = new Client(server.origin)
    try {
      const pending = client.request({
        method: 'POST',
        path: '/hello',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ work_ms: workMs }),
      })
      await sleep(signalAfterMs)
      server.child.kill('SIGTERM')
      let status: number | null = null
      let connectionHeader: string | null = null
      let respondedAt = performance.now()
      try {
        const res = await pending
        await res.body.text()
        respondedAt = performance.now()
        status = res.statusCode
        connectionHeader = String(res.headers.connection ?? '')
      } catch {
        respondedAt = performance.now()
      }
      const exit = await exitWithin(server, () => respondedAt)
      return { status, connectionHeader, responseToExitMs: exit.ms, exitCode: exit.code }
    } finally {
      await client.destroy().catch(() => {})
    }
  }

  async function readyTrial(variant: Variant): Promise<ReadyTrial> {
    const { server } = await start(variant, readyTrialDelayMs)
    const client = new Client(server.origin)
    const ask = async (): Promise<string> => {
      try {
        const res = await client.request({ method: 'GET', path: '/ready' })
        await res.body.text()
        return String(res.statusCode)
      } catch (error) {
        const code = (error as { code?: string }).code ?? ''
        return code.includes('ECONNREFUSED') ? 'refused' : code.includes('SOCKET') || code.includes('RESET') ? 'reset' : code || 'error'
      }
    }
    try {
      const before = await ask()
      const signalAt = performance.now()
      server.child.kill('SIGTERM')
      const firstAfterSignal = await ask()
      // Then keep asking on the same connection for a while: the answer must turn and stay not-200.
      const answers: { answer: string; at: number }[] = [{ answer: firstAfterSignal, at: performance.now() - signalAt }]
      while (performance.now() - signalAt < 100) {
        await sleep(1)
        answers.push({ answer: await ask(), at: performance.now() - signalAt })
      }
      const firstNot200 = answers.find((a) => a.answer !== '200')
      const notReadyMs = firstNot200?.at ?? null
      const notReadyAs = firstNot200?.answer ?? null
      const okAfterSignal = answers.filter((a) => a.answer === '200').length
      const flapped = firstNot200 !== undefined && answers.slice(answers.indexOf(firstNot200)).some((a) => a.answer === '200')
      await exitWithin(server, () => signalAt)
      return { firstAfterSignal, notReadyMs, notReadyAs, okAfterSignal, flapped, before }
    } finally {
      await client.destroy().catch(() => {})
    }
  }

  return { startTrial, inFlightTrial, readyTrial }
}
