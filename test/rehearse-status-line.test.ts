import { describe, expect, it } from 'vitest'
import { LoadTally } from '../src/rehearse/load-tally.ts'
import { statusWriter } from '../src/rehearse/status-line.ts'

const tally = new LoadTally()
tally.add('request', { attempts: [{ instance: 'A', failure: null, detail: '200' }], final: { instance: 'A', failure: null, detail: '200' } }, 1)
tally.add('request', { attempts: [{ instance: 'A', failure: 'reset', detail: 'ECONNRESET' }], final: { instance: 'A', failure: 'reset', detail: 'ECONNRESET' } }, 2)

function stream(isTTY: boolean) {
  const written: string[] = []
  return { written, stream: { isTTY, columns: 200, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream }
}

describe('the live status line', () => {
  it('on a terminal: rewritten in place with phase, time and counts, and cleared before the report', () => {
    const tty = stream(true)
    const writer = statusWriter(tty.stream)
    writer.update({ phase: 'terminating', at: 2345, tally, stopped: 'A' })
    writer.clear()
    expect(tty.written).toEqual([
      '\r\x1b[2Krehearse terminating    2.3 s  requests 2 sent, 1 answered, 0 in flight, 1 failed attempts',
      '\r\x1b[2K',
    ])
  })

  it('anywhere else (a pipe, a CI log): nothing at all', () => {
    const pipe = stream(false)
    const writer = statusWriter(pipe.stream)
    writer.update({ phase: 'load', at: 1000, tally, stopped: 'A' })
    writer.clear()
    expect(pipe.written).toEqual([])
  })
})
