import type { ListenerGate } from '../transport/connection-drains.ts'
import type { LifecycleActor } from '../streams/lifecycle-streams.ts'
import { exitCodeOf, type LifecycleSnapshot, phaseName, stateOf } from '../machine/snapshot-views.ts'
import { openStreams } from '../http/probe-routes.ts'
import { isLameduckMessage, type PrimaryMessage, type WorkerReport, workerIdEnv } from './replica-messages.ts'

export interface WorkerLinkOptions {
  readonly actor: LifecycleActor
  /**
   * A signal the primary passed on; `lateByMs`: how long ago the replica got it; `traceparent`: the replica's
   * drain span; `n`: which of the replica's signals it is (absent for a retirement).
   */
  readonly onSignal: (signal: string, lateByMs: number, traceparent?: string, n?: number) => void
  readonly timing: WorkerReport['timing']
  /** Longest a change in this worker's counts waits before the primary hears of it. */
  readonly reportMs: number
}

export interface WorkerLink {
  /** This worker's id in the replica. */
  readonly id: string
  /** For the transport: resolves when the primary holds no connection for this worker. */
  readonly gate: ListenerGate
  /** Sends the last report and lets go of the IPC channel, which would otherwise hold the exit. */
  close(): void
}

/** Without a report for this long, the primary hears one anyway: a silent worker is a blocked one. */
const heartbeatMs = 1_000
/** Sync rounds a listener close waits at most: past it, the worker leaves anyway. */
const gateLimitMs = 1_000

/** The worker's id when this process is a worker of lameduck's primary (lameduck/cluster); null otherwise. */
export function replicaWorkerId(env: NodeJS.ProcessEnv = process.env): string | null {
  const id = env[workerIdEnv]
  return typeof id === 'string' && id !== '' && typeof process.send === 'function' ? id : null
}

/**
 * The worker's side of the replica: reports this lifecycle to the primary (at once when its state changes,
 * within `reportMs` when a count does, every second regardless), takes the primary's view of the replica
 * into the machine, and passes the primary's signals on. Nothing here decides anything: the machine does.
 */
export function joinReplica(id: string, options: WorkerLinkOptions): WorkerLink {
  const { actor, timing } = options
  let last: WorkerReport | null = null
  let lastSentAt = 0
  let closed = false
  let syncN = 0
  const waiting = new Map<number, () => void>()

  const reportOf = (snapshot: LifecycleSnapshot): WorkerReport => {
    const { requests, sessions, outcome } = snapshot.context
    return {
      lameduck: 'report',
      state: stateOf(snapshot),
      phase: phaseName(snapshot),
      inFlight: requests.inFlight,
      sessions: sessions.inFlight,
      streams: openStreams(snapshot),
      outcome,
      exitCode: exitCodeOf(snapshot),
      timing,
    }
  }
  const send = (message: unknown, done?: () => void): void => {
    if (!process.connected) return done?.()
    // A channel closing under us (the primary died) is not this worker's failure.
    process.send!(message, undefined, undefined, () => done?.())
  }
  const report = (force: boolean): void => {
    if (closed) return
    const next = reportOf(actor.getSnapshot())
    const changed =
      last === null ||
      next.phase !== last.phase ||
      next.inFlight !== last.inFlight ||
      next.sessions !== last.sessions ||
      next.streams !== last.streams ||
      next.outcome !== last.outcome
    if (!changed && !force && Date.now() - lastSentAt < heartbeatMs) return
    last = next
    lastSentAt = Date.now()
    send(next)
  }

  const onMessage = (message: unknown): void => {
    if (!isLameduckMessage(message)) return
    const m = message as PrimaryMessage
    if (m.lameduck === 'view') {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'replica.viewed', view: m.view })
    } else if (m.lameduck === 'signal') {
      options.onSignal(m.signal, Math.max(0, Date.now() - m.sentAt), m.traceparent, m.n)
    } else if (m.lameduck === 'synced') {
      waiting.get(m.n)?.()
      waiting.delete(m.n)
    }
  }
  process.on('message', onMessage)

  // State changes go at once; counts are looked at every `reportMs` (cheaper than a message per request).
  let lastPhase = ''
  const subscription = actor.subscribe((snapshot) => {
    const phase = phaseName(snapshot)
    if (phase !== lastPhase) {
      lastPhase = phase
      report(true)
    }
  })
  const poll = setInterval(() => report(false), options.reportMs)
  poll.unref()
  report(true)

  const sync = (): Promise<void> =>
    new Promise((resolve) => {
      const n = ++syncN
      const timer = setTimeout(resolve, gateLimitMs)
      timer.unref()
      waiting.set(n, () => {
        clearTimeout(timer)
        resolve()
      })
      send({ lameduck: 'sync', n }, () => {
        if (!process.connected) resolve()
      })
    })

  // The primary answers a sync after handling every message this worker sent before it, its connection
  // acknowledgements included; each acknowledgement makes it hand this worker its next queued connection,
  // and those travel ahead of the answer. No connection between asking and the answer: nothing was
  // queued for this worker when the primary answered (docs/cluster.md, "The round-robin queue").
  const gate: ListenerGate = async (accepted) => {
    const until = Date.now() + gateLimitMs
    while (process.connected && Date.now() < until) {
      const before = accepted()
      await sync()
      if (accepted() === before) return
    }
  }

  return {
    id,
    gate,
    close() {
      if (closed) return
      clearInterval(poll)
      subscription.unsubscribe()
      const final = reportOf(actor.getSnapshot())
      closed = true
      const letGo = () => {
        process.removeListener('message', onMessage)
        // Cluster's own `disconnect` listener keeps the channel referenced: unreferenced, an emptied
        // event loop ends the process with its exit code, as it would outside a cluster.
        ;(process.channel as { unref?: () => void } | undefined)?.unref?.()
      }
      send(final, letGo)
    },
  }
}
