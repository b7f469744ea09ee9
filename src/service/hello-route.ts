import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'

export interface HelloBody {
  name?: string
  work_ms?: number
}

export const helloSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 100 },
      work_ms: { type: 'integer', minimum: 0, maximum: 600_000 },
    },
  },
  response: {
    200: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
} as const

class ClientGone extends Error {
  readonly statusCode = 499
  readonly code = 'CLIENT_CLOSED_REQUEST'
}

/** The demo route: `work_ms` of simulated work, so a drain has something to wait for. */
export function helloRoute(fastify: FastifyInstance): void {
  fastify.post<{ Body: HelloBody }>(
    '/hello',
    {
      schema: helloSchema,
      // The body is optional: no body means `{}`.
      preValidation: (request, _reply, done) => {
        request.body ??= {}
        done()
      },
    },
    async (request, reply) => {
      const { name = 'World', work_ms: workMs = 0 } = request.body
      if (workMs > 0) {
        // The work stops with its connection: a client that left, or a request cut at the
        // drain deadline, leaves no timer behind to hold the process open.
        const gone = new AbortController()
        const abort = () => gone.abort()
        reply.raw.once('close', abort)
        try {
          await sleep(workMs, undefined, { signal: gone.signal })
        } catch {
          throw new ClientGone('client closed the connection before the response')
        } finally {
          reply.raw.removeListener('close', abort)
        }
      }
      return { message: `Hello, ${name}!` }
    },
  )
}
