import { frameworkErrorReply, schemaErrorFormatter } from './error-replies.ts'
import type { ServerLimits } from './server-limits.ts'

/**
 * The service's Fastify options apart from the logger: server limits and strict validation.
 * Shared with the benchmark's baseline, so both do the same work; a module of its own so the
 * baseline loads none of lameduck.
 */
export function serviceFastifyOptions(limits: ServerLimits) {
  return {
    bodyLimit: limits.bodyLimitBytes,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
    },
    // Wrong types are rejected, not coerced ({"name": 42} is a 400), and unknown
    // fields are an error rather than silently dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true } },
    schemaErrorFormatter,
    frameworkErrors: frameworkErrorReply,
  }
}

