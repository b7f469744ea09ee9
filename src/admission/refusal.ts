import type { IncomingMessage } from 'node:http'
import type { RejectReason } from '../machine/lifecycle-names.ts'
import { admissionOf, type LifecycleSnapshot } from '../machine/snapshot-views.ts'

/**
 * The 503 reason for `raw`, or null to serve it: the snapshot's answer, except for a request that was on
 * its way when the drain began (the connection is one of the lifecycle's `arrivals`): the balancer
 * routed it before it stopped routing, so it is served, with `Connection: close`. Not an upgrade: a
 * WebSocket opened during the drain proper would only get its goodbye, after the goodbye already ran.
 */
export function refusalOf(snapshot: LifecycleSnapshot, raw: IncomingMessage): RejectReason | null {
  const reason = admissionOf(snapshot)
  if (reason !== 'draining' || (raw as { upgrade?: boolean }).upgrade === true) return reason
  // A cluster worker leaving while its replica keeps serving (a reload, a fault): the balancer routes here
  // rightly, and a 503 would be a failure of a replica that is ready. Served, with `Connection: close`.
  const replica = snapshot.context.replica
  if (replica !== null && replica.state !== 'draining') return null
  return snapshot.context.arrivals.has(raw.socket) ? null : reason
}
