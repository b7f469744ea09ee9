// The second signal to a clustered replica: from the signal to the primary's exit, workers included.
// Issue 20's goal: exit 1 within 100 ms. Each run: the built service with WORKERS=2, four requests held
// 20 s on the workers, SIGTERM (the drain begins), 300 ms later a second SIGTERM; the time is the
// primary's own (its "second signal" log line to its "replica: stopped" line) and the bench's (kill() to
// the exit event, which adds signal delivery and the bench's own event loop).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const entry = resolve(import.meta.dirname, '../../dist/main.js')
const runs = Number(process.env.RUNS ?? 10)

export interface SecondSignalRun {
  readonly primaryMs: number
  readonly observedMs: number
  readonly code: number | null
  readonly workersLeft: number
}

export async function secondSignalRun(port: number): Promise<SecondSignalRun> {
  const child = spawn(process.execPath, [entry], {
    env: { PATH: process.env.PATH ?? '', PORT: String(port), HOST: '127.0.0.1', WORKERS: '2', MAX_CONCURRENCY: '8', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d))
  while (!out.includes('"replica_state":"running"')) await sleep(20)
  await sleep(200)
  const held = [0, 1, 2, 3].map(() =>
    fetch(`http://127.0.0.1:${port}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"work_ms":20000}' }).catch(() => null),
  )
  await sleep(300)
  child.kill('SIGTERM')
  await sleep(300)
  const sent = performance.now()
  child.kill('SIGTERM')
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)))
  const observedMs = performance.now() - sent
  await Promise.all(held)
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  const at = (msg: string) => Number(lines.find((l) => l.msg === msg)?.time)
  const pids = lines.filter((l) => l.msg === 'replica: worker forked').map((l) => Number(l.worker_pid))
  // Running still: a zombie (state Z) is dead, only not yet reaped by whoever inherited it.
  const workersLeft = pids.filter((pid) => {
    try {
      return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
    } catch {
      return false
    }
  }).length
  return { primaryMs: at('replica: stopped') - at('replica: second signal, forcing every worker'), observedMs, code, workersLeft }
}

if (import.meta.main) {
  const { loadavg } = await import('node:os')
  console.log(`second signal to a 2-worker replica, ${runs} runs, started ${new Date().toISOString()}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  const results: SecondSignalRun[] = []
  for (let i = 0; i < runs; i++) {
    const r = await secondSignalRun(18_700 + i)
    results.push(r)
    console.log(`run ${i + 1}: exit ${r.code}, primary ${r.primaryMs} ms, observed ${r.observedMs.toFixed(1)} ms, workers left ${r.workersLeft}`)
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)
  const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!
  const observed = results.map((r) => r.observedMs)
  console.log(`observed median ${median(observed).toFixed(1)} ms, max ${Math.max(...observed).toFixed(1)} ms; within 100 ms: ${observed.filter((ms) => ms <= 100).length}/${runs}; exit 1 in all: ${results.every((r) => r.code === 1)}; workers left: ${results.reduce((n, r) => n + r.workersLeft, 0)}`)
}
