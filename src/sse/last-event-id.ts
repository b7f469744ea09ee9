import { describeValue } from '../describe-value.ts'
import { LameduckError } from '../errors.ts'

/** A 400: the client sent a `Last-Event-ID` no stream of this API sends. */
export class LastEventIdInvalid extends LameduckError {
  readonly statusCode = 400
}

/**
 * The resume point a client asks for: the number of the last event it received, 0 without the header
 * (EventSource sends it only once it has seen an id, and an empty one means "from the start"). The API
 * numbers events 1, 2, 3... so anything but decimal digits is a mistake, not a number to guess at
 * ("1e3", " 5", "05", "-1").
 */
export function parseLastEventId(raw: string | string[] | undefined): number {
  if (raw === undefined || raw === '') return 0
  const value = typeof raw === 'string' && /^(0|[1-9][0-9]{0,15})$/.test(raw) ? Number(raw) : Number.NaN
  if (!(value <= Number.MAX_SAFE_INTEGER)) {
    throw new LastEventIdInvalid(
      'LAMEDUCK_INVALID_LAST_EVENT_ID',
      `headers.last-event-id must be an integer from 0 to ${Number.MAX_SAFE_INTEGER} (the id of an event this stream sent); received ${describeValue(raw)}`,
    )
  }
  return value
}
