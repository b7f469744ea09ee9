import type { FastifyInstance } from 'fastify'
import { probeRouteConfig } from '../admission/probe-route.ts'
import { type LifecycleSnapshot, type Readiness, readinessOf } from '../machine/snapshot-views.ts'

const probeReplySchema = {
  200: {
    type: 'object',
    properties: {
      status: { type: 'string' },
      active_requests: { type: 'integer' },
      max_concurrency: { type: 'integer' },
      open_streams: { type: 'integer' },
      open_sessions: { type: 'integer' },
      workers: {
        type: 'object',
        properties: { running: { type: 'integer' }, expected: { type: 'integer' } },
      },
    },
  },
} as const

export function registerProbeRoutes(
  fastify: FastifyInstance,
  paths: { health: string | false; ready: string | false },
  getSnapshot: () => LifecycleSnapshot,
): void {
  // Probes run every few hundred milliseconds: log them only when something is wrong.
  const common = { config: probeRouteConfig, logLevel: 'warn' } as const

  if (paths.health !== false) {
    // Liveness: the process is up and its event loop turns. It stays 200 through
    // the drain, or the platform would restart a replica mid-drain.
    fastify.get(paths.health, common, async (_request, reply) => {
      reply.header('cache-control', 'no-store')
      return { status: 'healthy' }
    })
  }

  if (paths.ready !== false) {
    fastify.get(paths.ready, { ...common, schema: { response: { ...probeReplySchema, 503: probeReplySchema[200] } } }, async (_request, reply) => {
      const readiness = readinessReport(getSnapshot())
      reply.code(readiness.ready ? 200 : 503).header('cache-control', 'no-store')
      return {
        status: readiness.status,
        active_requests: readiness.activeRequests,
        max_concurrency: readiness.maxConcurrency,
        open_streams: readiness.openStreams,
        open_sessions: readiness.openSessions,
        ...(readiness.workers === undefined ? {} : { workers: readiness.workers }),
      }
    })
  }
}

/** What `/ready` answers and `app.lameduck.readiness()` returns: one reading of one snapshot (issue 19). */
export interface LameduckReadiness extends Readiness {
  /** How many of `activeRequests` are Server-Sent Events streams. */
  readonly openStreams: number
}

export function readinessReport(snapshot: LifecycleSnapshot): LameduckReadiness {
  return { ...readinessOf(snapshot), openStreams: openStreams(snapshot) + (snapshot.context.replica?.peers.streams ?? 0) }
}

/**
 * Server-Sent Events responses in flight. They are requests (the platform's `replica_concurrency` counts
 * them, and so does `at_capacity`); this says how many of `active_requests` are long-lived streams.
 */
const eventStreamHead = /\r\ncontent-type:[ \t]*text\/event-stream/i

/** This process's event streams (a cluster worker reports them to its primary). */
export function openStreams(snapshot: LifecycleSnapshot): number {
  let streams = 0
  for (const item of snapshot.context.requests.items()) {
    // The head as sent: `writeHead(status, headers)` (Fastify's way, and most SSE code's) keeps no
    // headers for getHeader() to read. A stream whose head is not out yet is not streaming yet.
    const head = (item as { _header?: unknown })._header
    if (typeof head === 'string' && eventStreamHead.test(head)) streams++
    // HTTP/2 has no head as text: the headers its stream sent (issue 21).
    else if (String((item as { stream?: { sentHeaders?: Record<string, unknown> } }).stream?.sentHeaders?.['content-type']).startsWith('text/event-stream')) streams++
  }
  return streams
}
