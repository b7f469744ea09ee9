import type { FastifyError, FastifyInstance, FastifySchemaValidationError } from 'fastify'
import { describeProblem } from '../config/schema-check.ts'
import { describeValue } from '../errors.ts'

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
}

/** Validation messages name the field and the value received: `body.name must be a string; received 42`. */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const error = errors[0]
  if (!error) return new Error(`${dataVar} is invalid`)
  // Ajv is compiled with `verbose`, so the error carries the offending data, the root's too.
  const problem = describeProblem(error as never, (error as { data?: unknown }).data)
  const field = problem.field === '(root)' ? dataVar : `${dataVar}.${problem.field}`
  const received = problem.value === undefined && problem.field === '(root)' ? '' : `; received ${describeValue(problem.value)}`
  return new Error(`${field} must be ${problem.expected}${received}`)
}

function clientMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'body is larger than the 1 MiB limit'
    default:
      return error.message
  }
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: 'Bad Request',
    404: 'Not Found',
    405: 'Method Not Allowed',
    408: 'Request Timeout',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    431: 'Request Header Fields Too Large',
  }
  return phrases[status] ?? 'Client Error'
}
