import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
// Imported by package name, as a user would: resolved through package.json `exports` to dist/.
import { lameduck, type Lameduck, type LameduckOptions, readinessOf } from 'lameduck'
import { lifecycleMachine } from 'lameduck/machine'

describe('the published package', () => {
  it('exports the plugin, its types and the pure machine through package.json exports', async () => {
    expect(typeof lameduck).toBe('function')
    expect(lifecycleMachine.id).toBe('lifecycle')
    const options: LameduckOptions = { maxConcurrency: 2, signals: false, exit: false }
    const app = Fastify()
    await app.register(lameduck, options)
    await app.ready()
    // Both src/ and dist/ augment FastifyInstance in this one type-check; read it through the published type.
    const decorated = (app as unknown as { lameduck: Lameduck }).lameduck
    expect(readinessOf(decorated.actor.getSnapshot()).maxConcurrency).toBe(2)
    await app.close()
  })
})
