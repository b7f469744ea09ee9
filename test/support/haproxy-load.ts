import { Agent, request } from 'undici'

export interface Failure {
  readonly at: number
  /** HTTP status, or the client error code (ECONNRESET, UND_ERR_SOCKET, ...). */
  readonly what: string
  readonly body: string
}

export interface LoadResult {
  readonly ok: number
  readonly failed: readonly Failure[]
}

export interface Load {
  /** Counts so far. */
  current(): LoadResult
  /** Stops sending, waits for the requests in flight, and returns the counts. */
  stop(): Promise<LoadResult>
}

/**
 * A steady stream of `POST /hello` with 50-200 ms of work each, from `workers` concurrent loops over
 * keep-alive connections. Bounded: it stops by itself after `maxMs` even if nobody calls stop().
 */
export function startLoad(origin: string, options: { workers: number; maxMs: number }): Load {
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: options.workers })
  const started = performance.now()
  let ok = 0
  const failed: Failure[] = []
  let stopping = false

  const worker = async (index: number) => {
    for (let n = 0; !stopping && performance.now() - started < options.maxMs; n++) {
      // Deterministic spread of work times: 50, 80, ..., 200 ms.
      const workMs = 50 + ((index * 7 + n * 3) % 6) * 30
      try {
        const response = await request(`${origin}/hello`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: `w${index}`, work_ms: workMs }),
          dispatcher: agent,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        })
        const body = await response.body.text()
        if (response.statusCode === 200 && body === `{"message":"Hello, w${index}!"}`) ok++
        else failed.push({ at: performance.now() - started, what: String(response.statusCode), body: body.slice(0, 200) })
      } catch (error) {
        const e = error as { code?: string; message?: string }
        failed.push({ at: performance.now() - started, what: e.code ?? 'error', body: e.message ?? String(error) })
      }
    }
  }
  const workers = Array.from({ length: options.workers }, (_, i) => worker(i))

  return {
    current: () => ({ ok, failed: [...failed] }),
    stop: async () => {
      stopping = true
      await Promise.all(workers)
      await agent.close()
      return { ok, failed: [...failed] }
    },
  }
}
