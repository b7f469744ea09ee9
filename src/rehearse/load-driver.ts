import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from './clock.ts'
import type { LoadTally } from './load-tally.ts'
import type { Router } from './router.ts'

export interface Load {
  /** Stops sending and waits for what is in flight (bounded by the per-request timeout). */
  stop(): Promise<void>
}

// A client that just failed waits this long before its next try, so an instance that refuses in a
// microsecond does not turn one second of a dead route into tens of thousands of counted failures.
const pauseAfterFailureMs = 20

/** `concurrency` clients in closed loops, the first `streams` of them holding SSE streams, the rest sending requests. */
export function startLoad(router: Router, concurrency: number, streams: number, tally: LoadTally, clock: Clock): Load {
  let stopping = false
  // Streams may never end on their own, and a request may still wait for a ready instance: at stop both are let go, uncounted.
  const end = new AbortController()
  const client = async (kind: 'request' | 'stream') => {
    while (!stopping) {
      tally.inFlight++
      const sent = await router.send(kind, end.signal)
      tally.inFlight--
      if (sent.final.closedAtEnd) {
        if (kind === 'stream' && sent.final.instance !== null) {
          tally.streams.openAtEnd++
          tally.streams.events += sent.final.events ?? 0
        }
        break
      }
      tally.add(kind, sent, clock())
      if (sent.final.failure !== null) await sleep(pauseAfterFailureMs)
    }
  }
  const clients = Array.from({ length: concurrency }, (_, i) => client(i < streams ? 'stream' : 'request'))
  return {
    stop: async () => {
      stopping = true
      end.abort()
      await Promise.all(clients)
    },
  }
}
