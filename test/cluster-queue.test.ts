import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { type Answer, alive, fresh } from './support/cluster-client.ts'
import { waitUntil } from './support/plugin-harness.ts'
import { repoRoot, type ServiceProcess, startService } from './support/service-process.ts'

// The primary's round-robin queue (docs/cluster.md): connections it accepted while every worker was busy.
// Node closes them, unanswered, when the last worker leaves the round-robin; a worker must not leave while
// its primary still holds one for it.
const clusterApp = resolve(repoRoot, 'test/fixtures/cluster-app.ts')
let service: ServiceProcess | undefined

afterEach(() => {
  service?.kill()
  for (const l of service?.logs ?? []) if (l.msg === 'replica: worker forked' && alive(Number(l.worker_pid))) process.kill(Number(l.worker_pid), 'SIGKILL')
})

describe('connections queued in the primary when the drain begins', () => {
  for (const listenerAtDrain of ['close', 'keep'] as const) {
    it(`are answered, not dropped (LISTENER_AT_DRAIN=${listenerAtDrain})`, async () => {
      service = await startService({ LISTENER_AT_DRAIN: listenerAtDrain }, clusterApp)
      const s = service
      await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
      // Both workers busy for a second: each takes one more connection it cannot acknowledge, the primary
      // queues the rest.
      const blocks = [fresh(s.port, '/block?ms=1200'), fresh(s.port, '/block?ms=1200')]
      await sleep(150)
      const queued: Array<Promise<Answer | Error>> = []
      for (let i = 0; i < 6; i++) {
        queued.push(fresh(s.port, '/pid', 15_000).catch((error: Error) => error))
        await sleep(10)
      }
      await sleep(100)
      s.child.kill('SIGTERM')
      for (const answer of await Promise.all(blocks)) expect(answer.status).toBe(200)
      const answers = await Promise.all(queued)
      const failed = answers.filter((a) => a instanceof Error).map((a) => (a as Error).message)
      expect(failed).toEqual([])
      // Accepted before the drain began: served, whatever the listener setting (no 503 for them).
      expect(answers.map((a) => (a as Answer).status)).toEqual([200, 200, 200, 200, 200, 200])
      expect((await s.exited).code).toBe(0)
    })
  }
})
