import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * What lameduck keeps on a request, in slots declared once so that every request is built with
 * them (null) and its shape never changes; a slot is cheaper than a WeakMap entry, which the
 * collector must revisit for every short-lived request.
 *
 * - The response it is answered on. Node gives a response its request (`res.req`) but not the other
 *   way round, and a request's own `close` is no sign that its client left: a request emits it as soon
 *   as its body has been read, so a signal tied to it (as Fastify's `request.signal` is) aborts at once
 *   in any handler of a request with a body.
 * - Its drain notice, made on first use.
 */
const responseSlot = Symbol('lameduck.response')
const noticeSlot = Symbol('lameduck.notice')

/** HTTP/1 or, on an `http2: true` server, HTTP/2's compatibility response. */
export type RawResponse = ServerResponse | Http2ServerResponse

type Slotted = FastifyRequest & { [responseSlot]: RawResponse | null; [noticeSlot]: object | null }

export function declareRequestSlots(fastify: FastifyInstance): void {
  fastify.decorateRequest(responseSlot as unknown as string, null)
  fastify.decorateRequest(noticeSlot as unknown as string, null)
}

export function keepResponse(request: FastifyRequest, response: RawResponse): void {
  ;(request as Slotted)[responseSlot] = response
}

/** The response kept for it, or null for a request lameduck's hook has not seen. */
export function responseOf(request: FastifyRequest): RawResponse | null {
  return (request as Slotted)[responseSlot] ?? null
}

/** The request's notice, made by `make` the first time it is asked for. */
export function noticeOf<Notice extends object>(request: FastifyRequest, make: () => Notice): Notice {
  const slotted = request as Slotted
  return ((slotted[noticeSlot] as Notice | null) ??= make())
}
