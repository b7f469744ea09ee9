import type { SnapshotFrom } from 'xstate'
import type { ReplicaView } from '../machine/lifecycle-machine.ts'
import { replicaCanServe, type ReplicaMachine, servingWorkers } from './replica-machine.ts'

export type ReplicaSnapshot = SnapshotFrom<ReplicaMachine>

/** The replica's state as its workers' probes answer it: `starting` whenever the readiness rule does not hold. */
export function replicaStateOf(snapshot: ReplicaSnapshot): ReplicaView['state'] {
  if (snapshot.matches('draining')) return 'draining'
  if (snapshot.matches('stopped')) return 'stopped'
  return replicaCanServe(snapshot.context) ? 'running' : 'starting'
}

/** What worker `id` is told of the rest of the replica: every other live worker's counts, summed. */
export function replicaViewFor(snapshot: ReplicaSnapshot, id: string): ReplicaView {
  let inFlight = 0
  let sessions = 0
  let streams = 0
  const members: { id: string; phase: string; self: boolean }[] = []
  for (const worker of Object.values(snapshot.context.workers)) {
    if (worker.state !== 'exited') members.push({ id: worker.id, phase: worker.phase, self: worker.id === id })
    if (worker.id === id || worker.state === 'exited') continue
    inFlight += worker.inFlight
    sessions += worker.sessions
    streams += worker.streams
  }
  return {
    state: replicaStateOf(snapshot),
    peers: { inFlight, sessions, streams },
    workers: { running: servingWorkers(snapshot.context), expected: snapshot.context.settings.workers },
    members,
  }
}

export function sameView(a: ReplicaView | undefined, b: ReplicaView): boolean {
  return (
    a !== undefined &&
    a.state === b.state &&
    a.peers.inFlight === b.peers.inFlight &&
    a.peers.sessions === b.peers.sessions &&
    a.peers.streams === b.peers.streams &&
    a.workers.running === b.workers.running &&
    a.workers.expected === b.workers.expected &&
    sameMembers(a.members, b.members)
  )
}

/** Phases change seldom (a worker's state, not its counts): a view goes out for them as for the counts. */
function sameMembers(a: ReplicaView['members'], b: ReplicaView['members']): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.length === b.length && a.every((m, i) => m.id === b[i]!.id && m.phase === b[i]!.phase && m.self === b[i]!.self)
}
