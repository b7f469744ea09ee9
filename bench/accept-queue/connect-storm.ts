// A connect storm across the moment a service's listener closes: how many connections the kernel resets.
// Usage: node bench/accept-queue/connect-storm.ts [runs] [clients]   (env passes through to the service)
import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { resolve } from 'node:path'

const runs = Number(process.argv[2] ?? 3)
const clients = Number(process.argv[3] ?? 64)
const entry = resolve(import.meta.dirname, '../../dist/main.js')

let signalAt = 0
let exitAt = 0
const resetTimes: number[] = []
type Outcome = 'answered' | 'refused' | 'reset' | 'eof' | 'other'

async function once(port: number): Promise<Outcome> {
  return new Promise((done) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let data = ''
    socket.setEncoding('latin1')
    socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') resetTimes.push(Date.now() - signalAt)
      done(error.code === 'ECONNREFUSED' ? 'refused' : error.code === 'ECONNRESET' ? 'reset' : 'other')
    })
    socket.on('close', () => done(data.startsWith('HTTP/1.1 ') ? 'answered' : 'eof'))
  })
}

async function run(): Promise<Record<Outcome, number>> {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((ok) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const match = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk)
      if (match) ok(Number(match[1]))
    })
  })
  const counts: Record<Outcome, number> = { answered: 0, refused: 0, reset: 0, eof: 0, other: 0 }
  let exited = false
  const exit = new Promise<void>((ok) => child.on('exit', () => ok()))
  void exit.then(() => (exited = true))
  const loop = async () => {
    while (!exited) counts[await once(port)]++
    for (let i = 0; i < 3; i++) counts[await once(port)]++
  }
  const loops = Array.from({ length: clients }, loop)
  await new Promise((ok) => setTimeout(ok, 300))
  // Work in flight holds the drain open for a second, so a reset at the listener's close and one at exit differ in time.
  const work = fetch(`http://127.0.0.1:${port}/hello`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"work_ms":1000}' }).catch(() => null)
  await new Promise((ok) => setTimeout(ok, 100))
  signalAt = Date.now()
  child.kill('SIGTERM')
  void work
  await exit
  exitAt = Date.now() - signalAt
  await Promise.all(loops)
  return counts
}

for (let i = 0; i < runs; i++) {
  const counts = await run()
  const times = resetTimes.splice(0)
  console.log(JSON.stringify({ listener: process.env.LISTENER_AT_DRAIN ?? 'keep', ...counts, exitAfterMs: exitAt, resetsAtMs: [Math.min(...times), Math.max(...times)] }))
}
