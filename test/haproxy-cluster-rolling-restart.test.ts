import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Exit, type Fleet, type Reload, type RestartOrder, startFleet } from './support/haproxy-fleet.ts'
import { type LoadResult, startLoad } from './support/haproxy-load.ts'
import { type LongLivedResult, startLongLived } from './support/haproxy-long-lived.ts'
import { freePort } from './support/free-port.ts'
import { type Proxy, startProxy } from './support/haproxy-proxy.ts'

// test/haproxy-rolling-restart.test.ts with clustered replicas (issue 20, "Measured"): each of the 3 replicas is
// a primary with WORKERS=2 (docs/cluster.md). HAProxy's check lands on whichever worker the primary hands its
// connection to, and that worker answers for the replica. Needs `npm run build` and the Debian package haproxy.
const names = ['r1', 'r2', 'r3']
const workers = 2
const rounds = 2
const baseEnv = { WORKERS: String(workers), MAX_CONCURRENCY: '64', DRAIN_TIMEOUT_MS: '10000', DRAIN_NOTICE_MS: '9500' }
// 6 s streams, as in the single-process test: still running at the notice after the 2 s shutdown delay.
const longLivedClients = { streamClients: 20, socketClients: 20, tokens: 200, intervalMs: 30, sendEveryMs: 50 }
// As in the single-process test: HAProxy notices /ready 503 within about 300 ms; 2 s leaves room on a shared machine.
const shutdownDelayMs = 2000

let proxy: Proxy | undefined
let fleet: Fleet | undefined
const ports: Record<string, number> = {}

beforeAll(async () => {
  for (const name of names) ports[name] = await freePort()
  proxy = await startProxy(ports)
})

afterAll(async () => {
  fleet?.kill()
  await proxy?.stop()
})

interface Outcome {
  readonly result: LoadResult
  readonly longLived: LongLivedResult | null
  readonly exits: readonly Exit[]
  readonly reloads: readonly Reload[]
}

/** A fresh fleet, all UP; load and long-lived clients while `step` runs on each replica in turn, `rounds` times. */
async function underLoad(label: string, env: Record<string, string>, step: (fleet: Fleet, name: string, exits: Exit[], reloads: Reload[]) => Promise<void>): Promise<Outcome> {
  fleet = await startFleet(ports, { ...baseEnv, ...env }, proxy!)
  for (const name of names) await proxy!.waitForStatus(name, (s) => s === 'UP', 30_000)
  const load = startLoad(proxy!.origin, { workers: 6, maxMs: 150_000 })
  const clients = startLongLived(proxy!.origin, longLivedClients)
  await sleep(1000)
  const exits: Exit[] = []
  const reloads: Reload[] = []
  for (let round = 0; round < rounds; round++) {
    for (const name of names) await step(fleet, name, exits, reloads)
  }
  await sleep(300)
  const longLived = await clients.stop()
  const result = await load.stop()
  exits.push(...(await fleet.stop()).map((e) => ({ ...e, replica: `${e.replica} (final stop)` })))
  fleet = undefined
  const kinds = Object.entries(Object.groupBy(result.failed, (f) => f.what)).map(([what, list]) => `${what} x${list!.length}`)
  console.log(
    `[haproxy cluster] ${label}: ${exits.length} stops, ${reloads.length} reloads, ${result.ok + result.failed.length} requests, ${result.ok} ok, ${result.failed.length} failed${kinds.length ? ` (${kinds.join(', ')})` : ''}`,
  )
  const first = result.failed[0]
  if (first) console.log(`[haproxy cluster] ${label}: first failure at ${Math.round(first.at)} ms: ${first.what} ${JSON.stringify(first.body.trim())}`)
  const l = longLived
  console.log(
    `[haproxy cluster] ${label}: ${l.streams} streams, ${l.tokens} tokens, ${l.handovers} handovers, ${l.streamProblems.length} stream problems; ` +
      `${l.sessions} sessions, ${l.echoes} echoes, server closes ${JSON.stringify(l.closeCodes)}, ${l.sessionProblems.length} session problems`,
  )
  for (const problem of [...l.streamProblems, ...l.sessionProblems].slice(0, 5)) console.log(`[haproxy cluster] ${label}: ${problem}`)
  return { result, longLived, exits, reloads }
}

const restartEach = (order: RestartOrder) => async (fleet: Fleet, name: string, exits: Exit[]) => {
  exits.push(await fleet.restart(name, order))
}

/** Every token once and in order, streams handed over, every server close 1012, no failed upgrade. */
function expectCleanHandovers(l: LongLivedResult | null): void {
  expect(l).not.toBeNull()
  expect(l!.streamProblems).toEqual([])
  expect(l!.streams).toBeGreaterThanOrEqual(longLivedClients.streamClients)
  expect(l!.handovers).toBeGreaterThan(0)
  expect(l!.sessionProblems).toEqual([])
  expect(Object.keys(l!.closeCodes)).toEqual(['1012'])
  expect(l!.echoes).toBeGreaterThan(100)
}

describe(`rolling restarts behind HAProxy of replicas with WORKERS=${workers} (httpchk GET /ready every 100 ms, no retries) under steady POST /hello load`, () => {
  it('order 1, platform drains first (Cerebrium): no request fails, every stream resumes, every WebSocket close is 1012, every primary exits 0', async () => {
    const { result, longLived, exits } = await underLoad('order 1 drain-first, SHUTDOWN_DELAY_MS=0', { SHUTDOWN_DELAY_MS: '0' }, restartEach('drain-first'))
    expect(result.failed).toEqual([])
    expectCleanHandovers(longLived)
    expect(result.ok).toBeGreaterThan(100)
    expect(exits.every((e) => e.code === 0 && e.signal === null), JSON.stringify(exits)).toBe(true)
  }, 240_000)

  it(`order 2, SIGTERM first (Kubernetes' race) with SHUTDOWN_DELAY_MS=${shutdownDelayMs}: the delay is the replica's, counted from the primary's signal in every worker; no request fails`, async () => {
    const { result, longLived, exits } = await underLoad(`order 2 sigterm-first, SHUTDOWN_DELAY_MS=${shutdownDelayMs}`, { SHUTDOWN_DELAY_MS: String(shutdownDelayMs) }, restartEach('sigterm-first'))
    expect(result.failed).toEqual([])
    expectCleanHandovers(longLived)
    expect(result.ok).toBeGreaterThan(100)
    expect(exits.every((e) => e.code === 0 && e.signal === null), JSON.stringify(exits)).toBe(true)
  }, 240_000)

  // Opt-in (LAMEDUCK_HAPROXY_RELOAD=1): HAProxy keeps routing to a replica that reloads (it stays ready), over
  // pooled connections that may land on the retiring worker, and a connection the worker closes as HAProxy takes it
  // from its pool fails the request on it (docs/cluster.md, "Measured"). 3 of 3 runs failed before a retiring worker
  // kept its idle connections for their next request; 1 of 3 with a limit of half the drain deadline; with a second
  // before it, 5 of 6 runs clean, the sixth (on CI) lost 1 request of 1,657 ("other side closed").
  it.skipIf(process.env.LAMEDUCK_HAPROXY_RELOAD !== '1')('a reload of each replica in turn (SIGUSR2 to its primary: every worker replaced one at a time) while HAProxy keeps routing to it: no request fails, streams resume, sessions get 1012, HAProxy never marks a replica down', async () => {
    const down: string[] = []
    const { result, longLived, reloads, exits } = await underLoad(`reload, SHUTDOWN_DELAY_MS=${shutdownDelayMs}`, { SHUTDOWN_DELAY_MS: String(shutdownDelayMs) }, async (fleet, name, _exits, reloads) => {
      const watching = { on: true }
      // The replica stays ready throughout a reload: a check that fails twice would take it out of rotation.
      const watch = (async () => {
        while (watching.on) {
          const status = (await proxy!.statuses())[name]
          if (status !== undefined && status !== 'UP') down.push(`${name}: ${status}`)
          await sleep(50)
        }
      })()
      try {
        reloads.push(await fleet.reload(name, workers))
      } finally {
        watching.on = false
        await watch
      }
    })
    expect(reloads).toHaveLength(rounds * names.length)
    // Each reload retired every worker, and each retired worker drained cleanly.
    for (const reload of reloads) expect(reload.retiredExitCodes, JSON.stringify(reload)).toEqual(Array(workers).fill(0))
    expect(down).toEqual([])
    expect(result.failed).toEqual([])
    expectCleanHandovers(longLived)
    expect(result.ok).toBeGreaterThan(100)
    // Only the final stop ended the primaries, and it drained them cleanly.
    expect(exits.every((e) => e.code === 0 && e.signal === null), JSON.stringify(exits)).toBe(true)
  }, 240_000)
})
