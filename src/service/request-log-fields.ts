import type { FastifyRequest } from 'fastify'
import { redactQuerySecrets } from '../redact-secrets.ts'

/**
 * The `req` of `incoming request` log lines: Fastify's own fields, with credential-like query
 * parameters (`?token=` of the live view) redacted from `url`. Fastify logs the URL of every request,
 * before routing, so a token sent to a mistyped path would otherwise land in the log.
 */
export function requestLogFields(request: FastifyRequest) {
  const version = request.headers['accept-version']
  return {
    method: request.method,
    url: redactQuerySecrets(request.url),
    version: typeof version === 'string' ? version : undefined,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}
