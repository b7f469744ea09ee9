import { afterEach, describe, expect, it } from 'vitest'
import { alive, fresh, readyAnswer } from './support/cluster-client.ts'
import { waitUntil } from './support/plugin-harness.ts'
import { type ServiceProcess, startService } from './support/service-process.ts'

// The reference service (the built dist/main.js, as the Dockerfile runs it) with WORKERS.
let service: ServiceProcess | undefined

afterEach(() => {
  service?.kill()
  for (const l of service?.logs ?? []) if (l.msg === 'replica: worker forked' && alive(Number(l.worker_pid))) process.kill(Number(l.worker_pid), 'SIGKILL')
})

describe('the reference service with WORKERS', () => {
  it('WORKERS=2: a primary and two workers, one /ready for the replica, one drain, exit 0', async () => {
    service = await startService({ WORKERS: '2', MAX_CONCURRENCY: '4' })
    const s = service
    await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
    const ready = await readyAnswer(s.port)
    expect(ready.status).toBe(200)
    expect(ready.body).toMatchObject({ status: 'ready', max_concurrency: 4, workers: { running: 2, expected: 2 } })
    const pids = s.logs.filter((l) => l.msg === 'replica: worker forked').map((l) => Number(l.worker_pid))
    expect(pids).toHaveLength(2)
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
    for (const pid of pids) expect(alive(pid)).toBe(false)
  })

  it('WORKERS=1 (the default): a single process, no primary, no workers field', async () => {
    service = await startService({})
    const s = service
    const ready = await fresh(s.port, '/ready')
    expect(ready.body.workers).toBeUndefined()
    expect(s.logs.some((l) => l.role === 'primary')).toBe(false)
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
  })

  it('a bad WORKERS stops the start with one line naming it, exit 78', async () => {
    service = await startService({ WORKERS: 'many', EXPECT_NO_LISTEN: '1' })
    const exit = await service.exited
    expect(exit.code).toBe(78)
    expect(service.stderr()).toContain('environment variable WORKERS must be an integer from 1 to 256, or auto; received "many"')
  })
})
