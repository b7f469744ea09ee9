import type { FastifyInstance, onRequestHookHandler, onSendHookHandler } from 'fastify'

/**
 * `@fastify/otel` registered before lameduck replaces the instance's `addHook` with one that wraps every
 * hook in an INTERNAL span named after the function (`onRequest - admit`): two spans of lameduck's own per
 * request (issue 19). It keeps Fastify's own `addHook` on the instance under a symbol of its own; lameduck's
 * hooks go through that one, so they run as they would without it. Without `@fastify/otel` (or if a
 * later version keeps it elsewhere) this is plain `addHook`; test/telemetry-instrumentation-matrix.test.ts
 * fails if the spans come back.
 */
const originalAddHookName = 'fastify otel addhook original'

type Hooks = { onRequest: onRequestHookHandler; onSend: onSendHookHandler }
type AddHook = (this: FastifyInstance, name: keyof Hooks, hook: Hooks[keyof Hooks]) => FastifyInstance

export function addUntracedHook<Name extends keyof Hooks>(fastify: FastifyInstance, name: Name, hook: Hooks[Name]): void {
  const original = originalAddHook(fastify) ?? (fastify.addHook as AddHook)
  original.call(fastify, name, hook)
}

function originalAddHook(fastify: FastifyInstance): AddHook | null {
  for (let holder: object | null = fastify; holder !== null; holder = Object.getPrototypeOf(holder)) {
    for (const symbol of Object.getOwnPropertySymbols(holder)) {
      if (symbol.description !== originalAddHookName) continue
      const value = (fastify as unknown as Record<symbol, unknown>)[symbol]
      if (typeof value === 'function') return value as AddHook
    }
  }
  return null
}
