import type { ServerResponse } from 'node:http'
import type { onRequestHookHandler } from 'fastify'
import { isProbeRoute } from '../admission/probe-route.ts'
import { refusalOf } from '../admission/refusal.ts'
import type { LifecycleSnapshot } from '../machine/snapshot-views.ts'
import type { RequestLedger } from '../machine/request-ledger.ts'
import { closeAfterRefusal, trackUpgradedSocket } from '../transport/upgraded-sessions.ts'
import { keepResponse } from './request-slots.ts'
import { sendRejection } from './rejection.ts'

/**
 * The per-request hot path: one snapshot read, one list insert, one listener.
 * The response's `close` event fires exactly once whether it finished, was
 * aborted by the client, or its socket was destroyed, and the ledger ignores a
 * second release, so the in-flight count cannot drift.
 */
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
    const raw = request.raw
    const reason = refusalOf(snapshot, raw)
    if (reason === null) {
      // An upgrade (a WebSocket) is a session, not a request: its stand-in response never ends,
      // and counted as a request it held every drain to the deadline.
      if ((raw as { upgrade?: boolean }).upgrade === true) trackUpgradedSocket(sessions, raw.socket)
      else {
        const res = reply.raw
        ledger.begin(res)
        res.on('close', release)
      }
      // Begun before the arrival ends, so the drain never sees a moment with nothing in flight.
      if (snapshot.context.arrivals.inFlight > 0) snapshot.context.arrivals.end(raw.socket, true)
      done()
      return
    }
    // A refused request ends its connection's arrival too: it is answered, then the connection closes.
    if (snapshot.context.arrivals.inFlight > 0) snapshot.context.arrivals.end(raw.socket, false)
    ledger.reject(reason)
    if ((raw as { upgrade?: boolean }).upgrade === true) closeAfterRefusal(reply.raw, raw.socket)
    sendRejection(reply, reason, snapshot, retryAfterSeconds)
  }
}
