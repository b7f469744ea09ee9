import type { RejectReason } from '../machine/lifecycle-names.ts'
import { admissionOf, type LifecycleSnapshot } from '../machine/snapshot-views.ts'
import { firstRequestGrace } from '../transport/http1-drain.ts'

/**
 * The 503 reason for a request on `socket`, or null to serve it: the snapshot's answer, except for the first
 * request on a connection accepted before the drain began (http1-drain.ts, `firstRequestGrace`). The
 * admission hook `use`s that grace; the request span, made first, only looks.
 */
export function refusalOf(snapshot: LifecycleSnapshot, socket: object | null | undefined, use: boolean): RejectReason | null {
  const reason = admissionOf(snapshot)
  return reason === 'draining' && firstRequestGrace(socket, use) ? null : reason
}
