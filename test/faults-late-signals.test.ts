import { afterEach, describe, expect, it } from 'vitest'
import { builtEntry } from './support/service-process.ts'
import { ChildService } from './support/reliability-child.ts'

// Issue 18: late signals never change the exit code, whichever signal, at whatever instant after stop.
// The reference service's own entry (built, as the image runs it), which has handlers of its own before
// the plugin's.

const entry = builtEntry
const children: ChildService[] = []
afterEach(async () => {
  for (const child of children.splice(0)) await child.stop()
})

async function start(env: Record<string, string> = {}): Promise<ChildService> {
  const child = new ChildService(entry, { MAX_CONCURRENCY: '8', ...env })
  children.push(child)
  await child.listening()
  await child.waitForPhase('running')
  return child
}

/** Calls `run` `afterMs` after the child writes its `stopped` line, timed from the chunk itself, not a poll. */
function onStopped(child: ChildService, afterMs: number, run: () => void): void {
  const onData = (chunk: string) => {
    if (!chunk.includes('"lifecycle":"stopped"')) return
    child.child.stdout?.off('data', onData)
    if (afterMs === 0) run()
    else setTimeout(run, afterMs)
  }
  child.child.stdout?.on('data', onData)
}

describe('signals after the lifecycle stopped', () => {
  it('SIGHUP after a timed-out drain: exit 1 kept, no second "stopped" line', async () => {
    const child = await start({ DRAIN_TIMEOUT_MS: '300' })
    const work = fetch(`${child.origin}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 5_000 }),
    }).catch(() => 'cut')
    await child.waitForLog((line) => line.msg === 'incoming request' || line.msg === 'request admitted' || line.lifecycle === 'running')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // From the stopped line on, a SIGHUP every millisecond until the process is gone: one of them lands
    // after the lifecycle removed its handlers, where only the entry's early handler was left.
    onStopped(child, 0, () => {
      const storm = setInterval(() => child.signal('SIGHUP'), 1)
      void child.exited.then(() => clearInterval(storm))
    })
    child.signal('SIGTERM')
    const exit = await child.exit()
    await work
    expect(exit, child.stderr).toMatchObject({ code: 1, signal: null })
    const stoppedLines = [...child.logs, ...parseLines(child.stderr)].filter((line) => String(line.msg).startsWith('lifecycle: stopped'))
    expect(stoppedLines.map((line) => line.outcome)).toEqual(['timed_out'])
  })

  it('one SIGTERM 0-9 ms after a clean stop: exit 0 every time, never death by the signal', async () => {
    const exits: Array<{ code: number | null; signal: NodeJS.Signals | null }> = []
    for (let run = 0; run < 20; run++) {
      const child = await start()
      onStopped(child, run % 10, () => child.signal('SIGTERM'))
      child.signal('SIGTERM')
      const { code, signal } = await child.exit()
      exits.push({ code, signal })
      await child.stop()
    }
    expect(exits).toEqual(Array.from({ length: 20 }, () => ({ code: 0, signal: null })))
  }, 180_000)
})

function parseLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}
