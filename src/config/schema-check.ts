import { Ajv, type ErrorObject } from 'ajv'
import { describeValue } from '../errors.ts'

// Strict: no coercion, no defaults filled in, no properties silently dropped.
const ajv = new Ajv({ allErrors: false, coerceTypes: false, useDefaults: false, verbose: true, strict: true })

export interface SchemaProblem {
  /** Dotted path of the offending field, e.g. `probes.ready`. */
  readonly field: string
  readonly value: unknown
  /** What the field must be, as a phrase: "an integer >= 1". */
  readonly expected: string
}

/** Compiles `schema` once; the returned check answers the first problem found, or null. */
export function schemaCheck(schema: object): (value: unknown) => SchemaProblem | null {
  const validate = ajv.compile(schema)
  return (value) => {
    if (validate(value)) return null
    const error = validate.errors?.[0]
    return error ? describeProblem(error, value) : { field: '(root)', value, expected: 'valid' }
  }
}

/** Turns one Ajv error (compiled with `verbose`) into field, value and expectation. */
export function describeProblem(error: ErrorObject, root: unknown): SchemaProblem {
  const path = error.instancePath.split('/').filter(Boolean)
  if (error.keyword === 'additionalProperties') {
    const extra = String(error.params.additionalProperty)
    return {
      field: [...path, extra].join('.'),
      value: (error.data as Record<string, unknown>)[extra],
      expected: 'absent (unknown option)',
    }
  }
  return { field: path.join('.') || '(root)', value: path.length ? error.data : root, expected: phrase(error) }
}

function phrase(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>
  const schema = error.parentSchema as Record<string, unknown> | undefined
  switch (error.keyword) {
    case 'type':
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return numberPhrase(String(schema?.type ?? p.type), schema)
    case 'enum':
      return `one of ${(p.allowedValues as unknown[]).map((v) => describeValue(v)).join(', ')}`
    case 'minLength':
      return `a string of at least ${String(p.limit)} characters`
    case 'maxLength':
      return `a string of at most ${String(p.limit)} characters`
    case 'pattern':
      return `a string matching ${String(p.pattern)}`
    case 'minItems':
      return `a list of at least ${String(p.limit)} items`
    default:
      return error.message ?? 'valid'
  }
}

// The whole expectation at once ("an integer from 1 to 1000000"), whichever bound was broken.
function numberPhrase(type: string, schema: Record<string, unknown> | undefined): string {
  const { minimum: min, maximum: max } = schema ?? {}
  if (min !== undefined && max !== undefined) return `${article(type)} from ${min} to ${max}`
  if (min !== undefined) return `${article(type)} >= ${min}`
  if (max !== undefined) return `${article(type)} <= ${max}`
  return article(type)
}

function article(type: string): string {
  const names: Record<string, string> = {
    integer: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'a boolean',
    object: 'an object',
    array: 'a list',
  }
  return type
    .split(',')
    .map((t) => names[t] ?? t)
    .join(' or ')
}
