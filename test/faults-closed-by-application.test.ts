import { afterEach, expect, it } from 'vitest'
import { ChildService, fixturesDir } from './support/reliability-child.ts'

let child: ChildService | undefined
afterEach(async () => child?.stop())

// Regression: fastify.close() stops the actor without a `stopped` snapshot, and the
// plugin's finished() promise rejected with rxjs EmptyError, unhandled: exit 1 with a stack.
it('fastify.close() by the application exits 0 with no unhandled rejection', async () => {
  child = new ChildService(`${fixturesDir}closed-by-application.ts`)
  const exit = await child.exit()
  expect(child.stderr).toBe('')
  expect(exit).toMatchObject({ code: 0, signal: null })
  expect(child.logs.some((line) => line.msg === 'closed by the application')).toBe(true)
})
