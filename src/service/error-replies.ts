import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import { describeProblem } from '../config/schema-check.ts'
import { redactQuerySecrets } from '../redact-secrets.ts'
import { describeValue, quotedValueLimit } from '../errors.ts'

/**
 * Longest client error message, in characters. Our own messages stay well below it (field and value
 * are each cut at `quotedValueLimit`); it bounds the messages of Fastify's errors that we pass on.
 */
export const clientMessageLimit = 300

/**
 * Every error answers JSON. Client errors say what was wrong, naming the field
 * and the value; server errors say nothing about the inside (no message, no
 * stack, no paths), and the details go to the log instead.
 */
export function errorReplies(fastify: FastifyInstance): void {
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed')
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'Internal Server Error' })
    }
    return reply.code(status).send({
      statusCode: status,
      error: reasonPhrase(status),
      code: error.code ?? 'BAD_REQUEST',
      message: clientMessage(error),
    })
  })
  // Fastify's own 404 quotes the whole URL, query string included (`?token=` of the live view).
  fastify.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      statusCode: 404,
      error: 'Not Found',
      code: 'FST_ERR_NOT_FOUND',
      message: `no route for ${request.method} ${describeValue(pathOf(request.url))}`,
    })
  })
}

/**
 * Fastify's `frameworkErrors`: a malformed URL (bad %-escape) or an over-long path parameter. Fastify's
 * default answer quotes the whole URL, query string included.
 */
export function frameworkErrorReply(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400
  const message =
    error.code === 'FST_ERR_BAD_URL'
      ? `url must be a path with valid %-escapes; received ${describeValue(pathOf(request.raw.url ?? ''))}`
      : clientMessage(error)
  void reply.code(status).send({ statusCode: status, error: reasonPhrase(status), code: error.code ?? 'BAD_REQUEST', message })
}

// The query string is left out of what we quote: it is where credentials travel.
function pathOf(url: string): string {
  const query = url.indexOf('?')
  return query === -1 ? url : url.slice(0, query)
}

/** Validation messages name the field and the value received: `body.name must be a string; received 42`. */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const error = errors[0]
  if (!error) return new Error(`${dataVar} is invalid`)
  // Ajv is compiled with `verbose`, so the error carries the offending data, the root's too.
  const problem = describeProblem(error as never, (error as { data?: unknown }).data)
  const field = problem.field === '(root)' ? dataVar : `${dataVar}.${bounded(problem.field, quotedValueLimit)}`
  const received = problem.value === undefined && problem.field === '(root)' ? '' : `; received ${describeValue(problem.value)}`
  return new Error(`${field} must be ${problem.expected}${received}`)
}

function clientMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body is larger than the 1 MiB limit'
    default:
      return bounded(redactQuerySecrets(error.message), clientMessageLimit)
  }
}

// A field name is the client's text too (an unknown key of 1 MiB is a field name).
function bounded(text: string, limit: number): string {
  return text.length > limit ? `${text.slice(0, limit)}…` : text
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'Bad Request',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    413: 'Payload Too Large',
    414: 'URI Too Long',
    415: 'Unsupported Media Type',
    431: 'Request Header Fields Too Large',
  }
  return phrases[status] ?? 'Client Error'
}
