/**
 * Measures SIGTERM -> exit of the reference service (src/main.ts) with no inspector, with an inspector
 * and a receiver, with an inspector and nothing listening, and with a live-view stream open.
 * Run: `node scripts/exit-timing.ts` (Node 24 on PATH). Not a test: numbers for docs and reviews.
 */
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { WebSocketServer } from 'ws'
import { startService } from '../test/live-view-process.ts'
const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 }); await once(relay, 'listening')
const relayUrl = `ws://127.0.0.1:${(relay.address() as { port: number }).port}`
const s = createServer().listen(0, '127.0.0.1'); await once(s, 'listening'); const dead = (s.address() as { port: number }).port; s.close()
const cases: Record<string, Record<string, string>> = { 'no inspector': {}, 'receiver': { LAMEDUCK_INSPECT_URL: relayUrl }, 'no receiver': { LAMEDUCK_INSPECT_URL: `ws://127.0.0.1:${dead}` }, 'live view, SSE open': { LAMEDUCK_DEBUG: '1' } }
for (const [name, env] of Object.entries(cases)) {
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const svc = await startService(env)
    let sse: AbortController | null = null
    if (env.LAMEDUCK_DEBUG) { sse = new AbortController(); const r = await fetch(`${svc.origin}/debug/lifecycle/events`, { signal: sse.signal }); void r.body?.getReader().read() }
    await sleep(300)
    const t = performance.now(); svc.child.kill('SIGTERM'); const e = await svc.exited()
    times.push(Math.round(e.at - t)); if (e.code !== 0) console.log('exit', e.code)
  }
  times.sort((a, b) => a - b)
  console.log(`${name}: SIGTERM -> exit ms, 5 runs sorted: ${times.join(', ')}`)
}
relay.close()
