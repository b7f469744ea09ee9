import { afterAll, expect, it } from 'vitest'
import { SlowMachine, SweepChild, type SweepChildOptions } from './sweep-child.ts'
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

/**
 * Cells at once in one test file (vitest runs two files at a time). More only starves the children on a
 * 2-core machine: each takes about half a CPU-second to start.
 */
const cellsAtOnce = Number(process.env.PHASE_SWEEP_CONCURRENCY ?? 3)
let running = 0
const waiting: (() => void)[] = []
async function slot(): Promise<() => void> {
  if (running >= cellsAtOnce) await new Promise<void>((resolve) => waiting.push(resolve))
  running += 1
  return () => {
    running -= 1
    waiting.shift()?.()
  }
}

/** Runs of a cell whose timing precondition a loaded machine missed (SlowMachine), before it fails. */
const slowAttempts = 6

/** How long after the last answer (or SIGTERM, if later) the exit may come: generous, a loaded machine is slow. */
export const promptExitMs = 1_500

/**
 * The cells of one test file: each is a child process of the fixture, one exchange stopped at one
 * phase, SIGTERM, and what the client sees; cells run concurrently. Its kinds' rows of the table in
 * docs/reliability.md are checked (or written) after the last cell.
 */
export function phaseSweep(kinds: readonly SweepKind[], tls?: () => SweepChildOptions['tls']) {
  const table = new SweepTable(kinds)
  afterAll(async () => {
    await SweepChild.stopAll()
    const diff = table.settle()
    if (diff) throw new Error(diff)
  })
  return {
    cell(kind: SweepKind, spec: CellSpec): void {
      const key = table.declare(kind, spec.phase, spec.then)
      it.concurrent(`${kind}: SIGTERM when ${spec.phase}, then ${spec.then}: an allowed answer, exit 0 promptly`, async () => {
        let child: SweepChild | undefined
        let observation: Observation
        let exit: Awaited<ReturnType<SweepChild['exit']>>
        for (let attempt = 1; ; attempt++) {
          const release = await slot()
          try {
            child = await SweepChild.start({ ...spec.child, tls: tls?.() })
            observation = await spec.run(child)
            exit = await child.exit()
            break
          } catch (error) {
            if (error instanceof SlowMachine && attempt < slowAttempts) continue
            table.record(key, `no outcome: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, '?')
            throw error
          } finally {
            await child?.stop()
            release()
          }
        }
        const since = Math.max(observation.lastAnswerAt, child.sigtermAt)
        const late = exit.at - since >= promptExitMs
        // A connection the drain never closed by itself: the stop cut it after the lingering bound (2 s).
        const cut = Number(child.service.logs.find((l) => l.connections_cut !== undefined)?.connections_cut ?? 0)
        const exitText = [
          exit.signal ? `killed by ${exit.signal}` : `${exit.code}`,
          ...(cut > 0 ? [`${cut} connection${cut > 1 ? 's' : ''} left open until the stop cut ${cut > 1 ? 'them' : 'it'}`] : []),
          ...(late ? [`late (${promptExitMs / 1000} s or more after the last answer)`] : []),
        ].join(', ')
        table.record(key, observation.sees + (observation.problems.length > 0 ? ' ✗' : ''), exitText === '0' ? '0' : `${exitText} ✗`)
        expect(observation.problems, observation.sees).toEqual([])
        expect(exit).toMatchObject({ code: 0, signal: null })
        expect(cut, 'connections the stop had to cut').toBe(0)
        expect(exit.at - since, 'exit after the last answer (ms)').toBeLessThan(promptExitMs)
      }, 120_000)
    },
  }
}
