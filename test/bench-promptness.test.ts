import { describe, expect, it } from 'vitest'
import {
  defaultPromptnessSettings,
  lastToExit,
  promptnessBench,
  promptnessGoals,
  promptnessLaunchers,
  promptnessSection,
  serverCloseToExit,
  sides,
  spreadOf,
  trials,
} from '../bench/promptness/promptness-bench.ts'
import { repoRoot } from './support/service-process.ts'

// The drain-promptness harness of `npm run bench` (bench/promptness/) at a tiny scale, so that it cannot rot
// between benchmark runs: every trial runs on both sides and the bounds are generous (the figures are the bench's).
// About 12 s on the 2 shared cores at load average 6 (ten driver and ten server starts); 100 s at load average 25,
// which the timeout leaves room for.
describe('the drain-promptness benchmark harness', () => {
  it('runs every trial on both sides: lameduck answers, hands over and exits within 1.5 s of the last answer; bare Fastify cuts and exits', async () => {
    const lines: string[] = []
    const results = await promptnessBench(
      promptnessLaunchers({ lameduck: 'dist/main.js', bare: 'bench/promptness/bare-close-main.ts', probe: 'bench/promptness/socket-probe.ts' }, repoRoot),
      { ...defaultPromptnessSettings, rounds: 1, idleSockets: 50, streams: 20, sessions: 20, inFlight: 4 },
      (line) => lines.push(line),
    )
    expect(results.problems).toEqual([])
    for (const side of sides) for (const trial of trials) expect(results.rounds[side][trial], `${side} ${trial}`).toHaveLength(1)

    const ld = results.rounds.lameduck
    for (const trial of trials) {
      const [r] = ld[trial]
      expect(r?.exitCode, trial).toBe(0)
      expect(r?.opened, trial).toBe(r?.asked)
      if (trial === 'idle') expect(r?.exitMs).toBeLessThan(1500)
      else expect(lastToExit(r!), trial).toBeLessThan(1500)
      // The server's own clock (the socket probe): every connection closed before the exit, and the exit soon after.
      expect(r?.server?.open, trial).toBe(0)
      expect(serverCloseToExit(r!), trial).toBeLessThan(1500)
    }
    expect(ld['in-flight'][0]?.outcomes).toEqual({ '200 Connection: close': 4 })
    expect(ld['idle-sockets'][0]?.outcomes).toEqual({ FIN: 50 })
    expect(ld.sse[0]?.outcomes).toEqual({ reconnect: 20 })
    expect(ld.ws[0]?.outcomes).toEqual({ '1012': 20 })
    // SSE clients reconnect after the event's retry: (1-2 s); sessions get their 1012 spread over the goodbye's 1 s.
    const sse = spreadOf(ld.sse[0]!)!
    expect(sse.first).toBeGreaterThanOrEqual(1000)
    expect(sse.last - sse.first).toBeGreaterThan(0)
    expect(ld.ws[0]!.lastMs).toBeLessThan(2500)

    const bare = results.rounds.bare
    for (const trial of trials) expect(bare[trial][0]?.exitCode, trial).toBe(0)
    expect(Object.keys(bare['in-flight'][0]!.outcomes).every((o) => o.startsWith('cut'))).toBe(true)
    expect(bare.sse[0]?.outcomes).toEqual({ cut: 20 })

    // The report renders from these results, goals included, with a line per trial logged.
    expect(lines.filter((l) => l.startsWith('promptness 1/1'))).toHaveLength(sides.length * trials.length)
    const section = promptnessSection(results).join('\n')
    expect(section).toContain('| Figure | lameduck | bare Fastify `close()` |')
    expect(promptnessGoals(results).map((g) => g.pass)).not.toContain(null)
  }, 150_000)
})
