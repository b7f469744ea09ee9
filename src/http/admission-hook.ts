import type { ServerResponse } from 'node:http'
import type { onRequestHookHandler } from 'fastify'
import type { RejectReason } from '../machine/lifecycle-names.ts'
import type { LifecycleSnapshot } from '../machine/snapshot-views.ts'
import { admissionOf } from '../machine/snapshot-views.ts'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { firstRequestGrace } from '../transport/http1-drain.ts'
import { trackUpgradedSocket } from '../transport/upgraded-sessions.ts'
import { isProbeRoute } from './probe-routes.ts'
import { keepResponse } from './request-slots.ts'
import { sendRejection } from './rejection.ts'

/**
 * The per-request hot path: one snapshot read, one list insert, one listener.
 * The response's `close` event fires exactly once whether it finished, was
 * aborted by the client, or its socket was destroyed, and the ledger ignores a
 * second release, so the in-flight count cannot drift.
 */
/**
 * The 503 reason for a request on `socket`, or null to serve it: the snapshot's answer, except for the first
 * request on a connection accepted before the drain began (http1-drain.ts, `firstRequestGrace`). The
 * admission hook `use`s that grace; the request span, made first, only looks.
 */
export function refusalOf(snapshot: LifecycleSnapshot, socket: object | null | undefined, use: boolean): RejectReason | null {
  const reason = admissionOf(snapshot)
  return reason === 'draining' && firstRequestGrace(socket, use) ? null : reason
}

export function admissionHook(
  getSnapshot: () => LifecycleSnapshot,
  ledger: RequestLedger<ServerResponse>,
  sessions: RequestLedger,
  retryAfterSeconds: number,
): onRequestHookHandler {
  function release(this: ServerResponse): void {
    ledger.end(this, this.writableFinished)
  }

  return function admit(request, reply, done) {
    // For the request's drain notice: its response says when the request is over.
    keepResponse(request, reply.raw)
    // Probes are never counted nor rejected (the route config read costs about 30 ns).
    if (isProbeRoute(request.routeOptions.config)) {
      done()
      return
    }
    const snapshot = getSnapshot()
    const reason = refusalOf(snapshot, request.raw.socket, true)
    if (reason === null) {
      const raw = request.raw
      // An upgrade (a WebSocket) is a session, not a request: its stand-in response never ends,
      // and counted as a request it held every drain to the deadline.
      if ((raw as { upgrade?: boolean }).upgrade === true) trackUpgradedSocket(sessions, raw.socket)
      else {
        const res = reply.raw
        ledger.begin(res)
        res.on('close', release)
      }
      done()
      return
    }
    ledger.reject(reason)
    sendRejection(reply, reason, snapshot, retryAfterSeconds)
  }
}
