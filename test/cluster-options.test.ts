import { describe, expect, it } from 'vitest'
import { LameduckError } from '../src/errors.ts'
import { startReplica } from '../src/cluster/replica-primary.ts'

// Checked before anything is forked: a replica that can never be whole would stay `starting` forever.
describe('startReplica refuses options it cannot honour, naming the option and the value', () => {
  it.each([
    [{ workers: 0 }, 'lameduck option "workers" must be an integer from 1 to 256; received 0'],
    [{ workers: Number.NaN }, 'lameduck option "workers" must be an integer from 1 to 256; received NaN'],
    [{ workers: 2.5 }, 'lameduck option "workers" must be an integer from 1 to 256; received 2.5'],
    [{ workers: 2, maxRestarts: -1 }, 'lameduck option "maxRestarts" must be an integer from 0 to 1000; received -1'],
    [{ workers: 2, viewMs: 0 }, 'lameduck option "viewMs" must be an integer from 1 to 60000; received 0'],
    [{ workers: 2, readyWhen: 'most' }, 'lameduck option "readyWhen" must be one of first, all; received "most"'],
  ])('%j', (options, message) => {
    let error: unknown
    try {
      startReplica(options as Parameters<typeof startReplica>[0])
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(LameduckError)
    expect((error as LameduckError).code).toBe('LAMEDUCK_INVALID_OPTION')
    expect((error as Error).message).toBe(message)
  })
})
