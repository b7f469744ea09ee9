declare module 'fastify' {
  // Declared, so routes carrying it type-check however other plugins extend the route config (e.g. @fastify/otel).
  interface FastifyContextConfig {
    /** Marks a route as a lameduck probe: never counted as work, never rejected. */
    lameduck?: 'probe'
  }
}

/**
 * Route config marking lameduck's own routes (the probes, the live view): never counted as work nor
 * rejected, never traced. `otel: false` is `@fastify/otel`'s per-route switch: without it each `/ready`
 * poll made six spans (issue 19). Not declared in Fastify's route config type here: `@fastify/otel`
 * declares `otel` itself, and two declarations of one property must agree to the letter.
 */
export const probeRouteConfig = { lameduck: 'probe', otel: false } as const

export function isProbeRoute(config: unknown): boolean {
  return (config as { lameduck?: unknown } | undefined)?.lameduck === probeRouteConfig.lameduck
}
