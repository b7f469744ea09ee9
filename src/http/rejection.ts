import type { FastifyReply } from 'fastify'
import type { RejectReason } from '../machine/lifecycle-names.ts'
import type { LifecycleSnapshot } from '../machine/snapshot-views.ts'

const messages: Record<RejectReason, string> = {
  starting: 'The service is starting and not ready for requests yet.',
  draining: 'The service is shutting down; retry on another replica.',
  at_capacity: 'The service is at its concurrency limit; retry shortly.',
  stopped: 'The service has stopped.',
}

/**
 * Answers a request lameduck will not serve: 503 JSON with Retry-After.
 * Once the service is leaving, the connection is closed after the answer too,
 * so a load balancer opens its next one to a replica that is staying.
 */
export function sendRejection(
  reply: FastifyReply,
  reason: RejectReason,
  snapshot: LifecycleSnapshot,
  retryAfterSeconds: number,
): void {
  const requests = snapshot.context.requests
  // No `Connection: close` header here: while draining, the transport marks the last answer on each
  // HTTP/1.1 socket (a pipelined request behind this one must still be answered), and HTTP/2 forbids it.
  reply.code(503).header('retry-after', String(retryAfterSeconds))
  reply.send({
    statusCode: 503,
    error: 'Service Unavailable',
    status: reason,
    message: messages[reason],
    active_requests: requests.inFlight,
    max_concurrency: requests.maxConcurrency,
  })
}
