import { readFileSync } from 'node:fs'
import { request } from 'node:http'

export interface Answer {
  readonly status: number
  readonly body: Record<string, unknown>
  readonly ms: number
}

/**
 * One request on a connection of its own (`agent: false`): under node:cluster's round-robin each new
 * connection goes to the next free worker. Rejects on a reset or a close without an answer.
 */
export function fresh(port: number, path: string, timeoutMs = 10_000): Promise<Answer> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk))
      res.on('end', () => {
        let body: Record<string, unknown> = {}
        try {
          body = JSON.parse(text) as Record<string, unknown>
        } catch {
          body = { text }
        }
        resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started })
      })
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`no answer to ${path} within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end()
  })
}

/** Whether the process `pid` still runs: a zombie (dead, not yet reaped by whoever inherited it) does not. */
/**
 * `/ready` once it says `ready`. The primary logs its state change and then sends each worker its view: a
 * probe opened as the log line is read can reach a worker a few milliseconds before the view does (the
 * staleness bound, docs/cluster.md). It gets `bound` ms to catch up, far beyond that bound.
 */
export async function readyAnswer(port: number, bound = 1_000): Promise<Answer> {
  const deadline = performance.now() + bound
  for (;;) {
    const answer = await fresh(port, '/ready')
    if (answer.body.status === 'ready' || performance.now() > deadline) return answer
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}
