import { describe, expect, it } from 'vitest'
import { readEventStream } from '../src/rehearse/event-stream.ts'

const end = ['done', 'reconnect']

/** A body that yields the chunks (split anywhere, as TCP may), then ends or fails. */
async function* body(chunks: readonly string[], fail?: string): AsyncGenerator<Buffer> {
  for (const chunk of chunks) yield Buffer.from(chunk)
  if (fail) throw Object.assign(new Error('other side closed'), { code: fail })
}

describe('the SSE reader used by the load', () => {
  it('hands each event to the caller with its name, id, data and retry hint', async () => {
    const seen: unknown[] = []
    await readEventStream(body(['id: 7\nevent: token\ndata: a\ndata: b\n\nevent: reconnect\nretry: 1500\ndata: {}\n\n']), end, (e) => seen.push(e))
    expect(seen).toEqual([
      { name: 'token', id: '7', data: 'a\nb', retryMs: undefined },
      { name: 'reconnect', id: undefined, data: '{}', retryMs: 1500 },
    ])
  })

  it('counts events across chunk boundaries and line endings (LF, CRLF, CR), ignores comments, and accepts the end event', async () => {
    const chunks = ['id: 1\nevent: tok', 'en\ndata: a\n\n: keep-alive\n\n', 'id: 2\r\nevent: token\r\ndata: b\r', '\n\r\nevent: token\rdata: c\r\r', 'event: done\ndata: {}\n\n']
    expect(await readEventStream(body(chunks), end)).toEqual({ events: 4, lastEvent: 'done', failure: null, detail: '4 events, ended by done' })
  })

  it('a reconnect event at the drain is a proper end too', async () => {
    expect((await readEventStream(body(['event: token\ndata: a\n\nevent: reconnect\ndata: {}\n\n']), end)).failure).toBeNull()
  })

  it('a connection failure is a stream cut mid-event, or a cut between events, each named as what it was', async () => {
    expect(await readEventStream(body(['event: token\ndata: a\n\nevent: token\ndata: b'], 'UND_ERR_SOCKET'), end)).toEqual({
      events: 1,
      lastEvent: 'token',
      failure: 'stream-cut',
      detail: 'UND_ERR_SOCKET (other side closed) mid-event after 1 events',
    })
    expect(await readEventStream(body(['data: a\n\n'], 'ECONNRESET'), end)).toMatchObject({ failure: 'stream-cut-between-events', detail: 'ECONNRESET between events after 1 events' })
  })

  it('a clean end inside an event is a cut; a clean end between events without the end event is unterminated', async () => {
    expect(await readEventStream(body(['event: token\ndata: a\n\nevent: done\ndata: {}\n']), end)).toMatchObject({ events: 1, failure: 'stream-cut' })
    expect(await readEventStream(body(['event: token\ndata: a\n\ndata: b\n\n']), end)).toEqual({
      events: 2,
      lastEvent: 'message',
      failure: 'stream-unterminated',
      detail: 'ended after 2 events, the last message, not done or reconnect',
    })
    expect((await readEventStream(body([]), end)).failure).toBe('stream-unterminated')
  })
})
