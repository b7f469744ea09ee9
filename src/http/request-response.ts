import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * The response a counted request is answered on, kept on its request. Node gives a response its
 * request (`res.req`) but not the other way round, and a request's own `close` is no sign that its
 * client left: a request emits it as soon as its body has been read, so a signal tied to it (as
 * Fastify's `request.signal` is) aborts at once in any handler of a request with a body.
 */
const responseSlot = Symbol('lameduck.response')

type WithResponse = FastifyRequest & { [responseSlot]: ServerResponse | null }

/** Declared once so that every request is built with the slot (null): its shape never changes. */
export function declareResponseSlot(fastify: FastifyInstance): void {
  fastify.decorateRequest(responseSlot as unknown as string, null)
}

export function keepResponse(request: FastifyRequest, response: ServerResponse): void {
  ;(request as WithResponse)[responseSlot] = response
}

/** The response kept for it, or null for a request lameduck does not count (a probe, an upgrade). */
export function responseOf(request: FastifyRequest): ServerResponse | null {
  return (request as WithResponse)[responseSlot] ?? null
}
