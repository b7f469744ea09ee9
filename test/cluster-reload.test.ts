import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { alive, fresh } from './support/cluster-client.ts'
import { get, rawConnect, waitUntil } from './support/plugin-harness.ts'
import { repoRoot, type ServiceProcess, startService } from './support/service-process.ts'

// Reload without a stop (docs/cluster.md): SIGUSR2 to the primary replaces every worker, one at a time,
// each drained, while load runs and the probes keep answering for the replica.
const clusterApp = resolve(repoRoot, 'test/fixtures/cluster-app.ts')
let service: ServiceProcess | undefined

afterEach(() => {
  service?.kill()
  for (const l of service?.logs ?? []) if (l.msg === 'replica: worker forked' && alive(Number(l.worker_pid))) process.kill(Number(l.worker_pid), 'SIGKILL')
})

const forked = (s: ServiceProcess) => s.logs.filter((l) => l.msg === 'replica: worker forked').map((l) => Number(l.worker_pid))

describe('reload: every worker replaced under load', () => {
  it('loses no request, never answers not-ready, and ends with new workers only', { timeout: 90_000 }, async () => {
    service = await startService({}, clusterApp)
    const s = service
    await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
    const before = forked(s)
    expect(before).toHaveLength(2)

    // Keep-alive clients, each sending one request after another.
    const agent = new Agent({ connections: 8, pipelining: 1 })
    let stop = false
    const failures: string[] = []
    const served = new Set<number>()
    let ok = 0
    const client = async () => {
      while (!stop) {
        try {
          const res = await request(`${s.origin}/work?ms=15`, { dispatcher: agent })
          const body = (await res.body.json()) as { pid: number }
          if (res.statusCode === 200) {
            ok++
            served.add(body.pid)
          } else failures.push(`status ${res.statusCode}`)
        } catch (error) {
          failures.push((error as Error).message)
        }
      }
    }
    const clients = Array.from({ length: 6 }, client)
    // Probes on their own connections, as a platform's are.
    const probes: number[] = []
    const prober = (async () => {
      while (!stop) {
        probes.push((await fresh(s.port, '/ready').catch(() => ({ status: 0 }))).status)
        await sleep(50)
      }
    })()
    await sleep(500)
    s.child.kill('SIGUSR2')
    await waitUntil(() => s.logs.filter((l) => l.msg === 'replica: worker exited').length === 2 && forked(s).length === 4, 30_000)
    // Both replacements serve before the load stops.
    await waitUntil(() => s.logs.filter((l) => l.msg === 'replica: lifecycle' && l.workers_running === 2).length > 0, 5_000)
    await sleep(500)
    stop = true
    await Promise.all([...clients, prober])
    await agent.close()

    expect(failures).toEqual([])
    expect(ok).toBeGreaterThan(50)
    expect(probes.filter((status) => status !== 200)).toEqual([])
    const after = forked(s).slice(2)
    for (const pid of before) expect(alive(pid)).toBe(false)
    for (const pid of after) expect(alive(pid)).toBe(true)
    // The old workers left cleanly: retired, drained, exit 0.
    const exits = s.logs.filter((l) => l.msg === 'replica: worker exited')
    for (const exit of exits) expect(exit).toMatchObject({ exit_code: 0, outcome: 'drained' })
    expect([...served].some((pid) => after.includes(pid))).toBe(true)
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
  })

  it('a replacement killed before it serves: the reload takes its step again, WORKERS stays 2, and the next reload is accepted', async () => {
    service = await startService({}, clusterApp)
    const s = service
    await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
    const replacements = () => s.logs.filter((l) => l.msg === 'replica: worker forked' && l.replaces)
    s.child.kill('SIGUSR2')
    await waitUntil(() => replacements().length === 1, 10_000)
    process.kill(Number(replacements()[0]!.worker_pid), 'SIGKILL')
    // After the restart backoff a new replacement for the same worker, then one for the other.
    await waitUntil(() => s.logs.filter((l) => l.msg === 'replica: worker exited' && l.outcome === 'drained').length === 2, 30_000)
    const steps = replacements().map((l) => l.replaces)
    expect(steps).toEqual([steps[0], steps[0], steps[2]])
    expect(steps[2]).not.toBe(steps[0])
    // No worker was added for the crash: the replaced worker still served when it happened.
    const live = () => forked(s).filter(alive)
    await waitUntil(() => live().length === 2, 5_000)
    expect(s.logs.filter((l) => l.msg === 'replica: worker forked')).toHaveLength(5)
    expect(s.logs.some((l) => l.msg === 'replica: reload ignored: the replica is not running steadily')).toBe(false)

    // The reload is over: a second one is accepted and replaces both again.
    s.child.kill('SIGUSR2')
    await waitUntil(() => s.logs.filter((l) => l.msg === 'replica: worker exited' && l.outcome === 'drained').length === 4, 30_000)
    expect(s.logs.some((l) => l.msg === 'replica: reload ignored: the replica is not running steadily')).toBe(false)
    expect(replacements()).toHaveLength(5)
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
  }, 90_000)

  it("SIGTERM to the replica while a retiring worker still finishes its requests: no second signal for it, every request answered, exit 0", async () => {
    service = await startService({}, clusterApp)
    const s = service
    await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
    const first = Number(s.logs.find((l) => l.msg === 'replica: worker forked' && l.worker_id === '1')!.worker_pid)
    // Held requests on fresh connections: the round-robin gives worker 1 its share.
    const held = Array.from({ length: 4 }, () => fresh(s.port, '/work?ms=8000', 30_000).catch((error: Error) => error))
    const deadline = Date.now() + 5_000
    for (;;) {
      const own = await fresh(s.port, '/own')
      if (own.body.pid === first && Number(own.body.own) >= 1) break
      if (Date.now() > deadline) throw new Error('worker 1 got none of the held requests')
    }
    // The reload retires worker 1 first (oldest first); the replica's SIGTERM comes while it drains.
    s.child.kill('SIGUSR2')
    await s.waitForLog((l) => l.msg === 'replica: reload: retiring worker, its replacement is serving' && l.worker_id === '1', 30_000)
    s.child.kill('SIGTERM')
    for (const answer of await Promise.all(held)) expect(answer).toMatchObject({ status: 200 })
    expect((await s.exited).code).toBe(0)
    expect(s.logs.find((l) => l.pid === first && l.msg === 'lifecycle: the replica is stopping; this worker is draining already and goes on')).toBeDefined()
    expect(s.logs.find((l) => l.msg === 'replica: stopped')).toMatchObject({ outcome: 'drained', exit_code: 0, requests_lost: 0 })
  }, 90_000)

  it('keeps a retiring worker idle keep-alive connection for its next request: served with Connection: close, not cut', async () => {
    service = await startService({}, clusterApp)
    const s = service
    await waitUntil(() => s.logs.some((l) => l.msg === 'replica: lifecycle' && l.replica_state === 'running'), 20_000)
    // A balancer's pooled connection: one request, then idle.
    const pooled = await rawConnect(s.port)
    pooled.write(get('/pid'))
    const [first] = await pooled.responses(1)
    const pid = Number(JSON.parse(first!.body).pid)
    const id = s.logs.find((l) => l.msg === 'replica: worker forked' && Number(l.worker_pid) === pid)?.worker_id
    s.child.kill('SIGUSR2')
    await s.waitForLog((l) => l.msg === 'replica: reload: retiring worker, its replacement is serving' && l.worker_id === id, 30_000)
    // Idle well past the 250 ms a stopping replica gives (the balancer stops routing to one; not to this one).
    await sleep(800)
    pooled.write(get('/pid'))
    const answers = await pooled.responses(2, 5_000)
    expect(pooled.error).toBeNull()
    expect(answers).toHaveLength(2)
    expect(answers[1]).toMatchObject({ status: 200, headers: { connection: 'close' } })
    expect(JSON.parse(answers[1]!.body).pid).toBe(pid)
    await pooled.closed
    s.child.kill('SIGTERM')
    expect((await s.exited).code).toBe(0)
  }, 90_000)
})
