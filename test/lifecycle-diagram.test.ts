import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { createMachine } from 'xstate'
import { docPath, endMarker, lifecycleMermaid, startMarker } from '../scripts/lifecycle-diagram.ts'
import { machineGraph } from '../src/debug/machine-graph.ts'
import { lifecycleMachine } from '../src/machine/lifecycle-machine.ts'

const committedDiagram = () => {
  const doc = readFileSync(docPath, 'utf8')
  return doc.slice(doc.indexOf(startMarker) + startMarker.length, doc.indexOf(endMarker)).trim()
}

describe('docs/lifecycle.md', () => {
  it('holds the diagram generated from the current machine (run `npm run docs` if this fails)', () => {
    expect(committedDiagram()).toBe(lifecycleMermaid())
  })

  it('draws every transition of the machine, `always` and `after` included', () => {
    const diagram = lifecycleMermaid()
    const edges = diagram.split('\n').filter((line) => line.includes('-->') && !line.includes('[*]'))
    expect(edges).toHaveLength(machineGraph(lifecycleMachine).transitions.length)
    expect(diagram).toContain('draining_delay --> draining_drain : always [hasNoShutdownDelay]')
    expect(diagram).toContain('draining_delay --> draining_drain : after shutdownDelay')
    expect(diagram).toContain('draining_drain --> stopped : always [isIdle] / recordDrained')
    expect(diagram).toContain('draining_drain --> stopped : after drainTimeout / abandonAtDeadline')
    expect(diagram).toContain('starting --> running : startup done / recordReady')
  })

  it('would no longer match after a change to the machine', () => {
    const config = lifecycleMachine.config
    const changed = createMachine({
      ...config,
      states: { ...config.states, running: { on: { 'signal.received': { target: 'stopped' } } } },
    } as typeof config)
    expect(lifecycleMermaid(machineGraph(changed))).not.toBe(committedDiagram())
  })

  it('`npm run docs -- --check` passes on the committed file', async () => {
    const { stderr } = await promisify(execFile)(process.execPath, ['scripts/lifecycle-diagram.ts', '--check'])
    expect(stderr).toBe('')
  })
})
