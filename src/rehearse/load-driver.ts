import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from './clock.ts'
import type { LoadTally } from './load-tally.ts'
import type { LoadKind, RehearseOptions } from './rehearse-options.ts'
import type { Router, Sent } from './router.ts'
import { holdStream } from './stream-session.ts'
import { holdSession } from './ws-session.ts'

export interface Load {
  /** Stops sending and waits for what is in flight (bounded by the per-request timeout). */
  stop(): Promise<void>
}

// A client that just failed waits this long before its next try, so an instance that refuses in a
// microsecond does not turn one second of a dead route into tens of thousands of counted failures.
const pauseAfterFailureMs = 20

type LoadShape = Pick<RehearseOptions, 'concurrency' | 'sse' | 'ws' | 'keepalive' | 'fresh' | 'h2' | 'timeoutMs'>

/** How many clients of each kind the options ask for: `--concurrency` holds the SSE streams, the other kinds come on top. */
export function clientCounts(options: LoadShape): Partial<Record<LoadKind, number>> {
  const streams = options.sse?.streams ?? 0
  const counts: Partial<Record<LoadKind, number>> = {}
  if (options.concurrency - streams > 0) counts.request = options.concurrency - streams
  if (options.keepalive) counts.keepalive = options.keepalive.clients
  if (options.fresh > 0) counts.fresh = options.fresh
  if (options.h2 > 0) counts.h2 = options.h2
  if (streams > 0) counts.sse = streams
  if (options.ws) counts.ws = options.ws.sessions
  return counts
}

/** Every kind of client in closed loops, each waiting for its answer (or its stream's or session's end) before the next. */
export function startLoad(router: Router, options: LoadShape, tally: LoadTally, clock: Clock): Load {
  let stopping = false
  // Streams and sessions may never end on their own, and a request may still wait for a ready instance: at stop they are let go, uncounted.
  const end = new AbortController()
  const once = (kind: LoadKind): Promise<Sent> => {
    if (kind === 'sse') return holdStream(router, options.sse!, options.timeoutMs, end.signal)
    if (kind === 'ws') return holdSession(router, options.ws!, options.timeoutMs, end.signal)
    return router.send(kind, end.signal)
  }
  const client = async (kind: LoadKind) => {
    while (!stopping) {
      tally.inFlight++
      const sent = await once(kind)
      tally.inFlight--
      if (sent.final.closedAtEnd) {
        tally.addOpenAtEnd(kind, sent)
        break
      }
      tally.add(kind, sent, clock())
      if (sent.final.failure !== null) await sleep(pauseAfterFailureMs)
      // A keep-alive client goes quiet between requests, so its connections sit idle when the drain closes them.
      else if (kind === 'keepalive' && !stopping) await sleep(Math.random() * options.keepalive!.idleMs)
    }
  }
  const clients = Object.entries(clientCounts(options)).flatMap(([kind, n]) => Array.from({ length: n }, () => client(kind as LoadKind)))
  return {
    stop: async () => {
      stopping = true
      end.abort()
      await Promise.all(clients)
    },
  }
}
