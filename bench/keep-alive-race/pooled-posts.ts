// Keep-alive clients posting back to back across a stop: how many requests meet the server's close of
// their idle connection ("other side closed"). Usage: node bench/keep-alive-race/pooled-posts.ts [stops] [clients]
// (the environment passes through to the service: LISTENER_AT_DRAIN, ...). Prints one line per stop and the totals.
import { spawn } from 'node:child_process'
import { resolve } from 'node:path'
import { Pool } from 'undici'

const stops = Number(process.argv[2] ?? 11)
const clients = Number(process.argv[3] ?? 16)
const entry = resolve(import.meta.dirname, '../../dist/main.js')

type Outcome = 'ok' | 'refused503' | 'connRefused' | 'otherSideClosed' | 'reset' | 'other'

async function stop(): Promise<Record<Outcome, number>> {
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', MAX_CONCURRENCY: '64' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise<number>((ok) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const match = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk)
      if (match) ok(Number(match[1]))
    })
  })
  const counts: Record<Outcome, number> = { ok: 0, refused503: 0, connRefused: 0, otherSideClosed: 0, reset: 0, other: 0 }
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: clients, keepAliveTimeout: 60_000, pipelining: 1 })
  let exited = false
  const exit = new Promise<void>((ok) => child.on('exit', () => ok()))
  void exit.then(() => (exited = true))
  const loop = async () => {
    while (!exited) {
      try {
        const response = await pool.request({ method: 'POST', path: '/hello', headers: { 'content-type': 'application/json' }, body: '{"work_ms":2}' })
        await response.body.dump()
        counts[response.statusCode === 200 ? 'ok' : response.statusCode === 503 ? 'refused503' : 'other']++
      } catch (error) {
        const code = (error as { code?: string; cause?: { code?: string } }).code
        const message = String((error as Error).message)
        if (code === 'ECONNREFUSED' || (error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') counts.connRefused++
        else if (message.includes('other side closed')) counts.otherSideClosed++
        else if (code === 'ECONNRESET') counts.reset++
        else counts.other++
        await new Promise((ok) => setTimeout(ok, 5))
      }
    }
  }
  const loops = Array.from({ length: clients }, loop)
  await new Promise((ok) => setTimeout(ok, 400))
  child.kill('SIGTERM')
  await exit
  await Promise.all(loops)
  await pool.destroy()
  return counts
}

const totals: Record<string, number> = {}
for (let i = 0; i < stops; i++) {
  const counts = await stop()
  for (const [key, value] of Object.entries(counts)) totals[key] = (totals[key] ?? 0) + value
  console.log(JSON.stringify(counts))
}
console.log(JSON.stringify({ listener: process.env.LISTENER_AT_DRAIN ?? 'keep', stops, clients, totals }))
