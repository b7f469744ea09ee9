import { afterAll, expect, it } from 'vitest'
import { SweepChild, type SweepChildOptions } from './sweep-child.ts'
import { type SweepKind, SweepTable } from './sweep-table.ts'

/** What one client saw of its exchange, judged against the allowed outcomes. */
export interface Observation {
  /** For the table: what the client saw, in a few words. */
  sees: string
  /** Why it is not an allowed outcome; empty when it is. */
  problems: string[]
  /** `performance.now()` when the client's last answer arrived (0: none after the exchange began). */
  lastAnswerAt: number
}

export interface CellSpec {
  phase: string
  /** What the client does once the drain has begun, for the table and the test's name. */
  then: string
  child?: Omit<SweepChildOptions, 'tls'>
  run(child: SweepChild): Promise<Observation>
}

/** How long after the last answer (or SIGTERM, if later) the exit may come: generous, a loaded machine is slow. */
export const promptExitMs = 1_500

/**
 * The cells of one test file: each is a child process of the fixture, one exchange stopped at one
 * phase, SIGTERM, and what the client sees; cells run concurrently. Its kinds' rows of the table in
 * docs/reliability.md are checked (or written) after the last cell.
 */
export function phaseSweep(kinds: readonly SweepKind[], tls?: () => SweepChildOptions['tls']) {
  const table = new SweepTable(kinds)
  afterAll(() => {
    const diff = table.settle()
    if (diff) throw new Error(diff)
  })
  return {
    cell(kind: SweepKind, spec: CellSpec): void {
      const key = table.declare(kind, spec.phase, spec.then)
      it.concurrent(`${kind}: SIGTERM when ${spec.phase}, then ${spec.then}: an allowed answer, exit 0 promptly`, async () => {
        const child = await SweepChild.start({ ...spec.child, tls: tls?.() })
        let observation: Observation
        let exit: Awaited<ReturnType<SweepChild['exit']>>
        try {
          observation = await spec.run(child)
          exit = await child.exit()
        } catch (error) {
          table.record(key, `no outcome: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, '?')
          throw error
        } finally {
          await child.stop()
        }
        const since = Math.max(observation.lastAnswerAt, child.sigtermAt)
        const late = exit.at - since >= promptExitMs
        const exitText = exit.signal ? `killed by ${exit.signal}` : `${exit.code}`
        table.record(
          key,
          observation.sees + (observation.problems.length > 0 ? ' ✗' : ''),
          late ? `${exitText}, late (${promptExitMs / 1000} s or more after the last answer) ✗` : exitText === '0' ? '0' : `${exitText} ✗`,
        )
        expect(observation.problems, observation.sees).toEqual([])
        expect(exit).toMatchObject({ code: 0, signal: null })
        expect(exit.at - since, 'exit after the last answer (ms)').toBeLessThan(promptExitMs)
      }, 30_000)
    },
  }
}
