import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runLongLivedClient } from '../long-lived/long-lived-bench.ts'
import { runWrk } from '../load/run-wrk.ts'
import { startOtlpSink } from '../otlp-sink.ts'
import { freePort, launch, stop, waitFor200 } from '../server-process.ts'
import { variants } from '../variants.ts'

/**
 * `node bench/profile/profile-variant.ts <variant-id> [seconds] [hello|sse|ws]` (after `tsc -p bench/tsconfig.json`):
 * runs one Node variant under load with `--cpu-prof` (wrk on `POST /hello`, or the long-lived client on
 * `GET /stream` or `/ws`) (traced variants export to the local sink) and
 * prints where its busy time went: by package or file, and the top functions. The profile is kept
 * in .tmp/profiles/<variant-id>/ for a flame graph (Chrome DevTools, speedscope).
 */
const id = process.argv[2] ?? 'lameduck'
const seconds = Number(process.argv[3] ?? 6)
const load = process.argv[4] ?? 'hello'
if (load !== 'hello' && load !== 'sse' && load !== 'ws') throw new Error(`load must be hello, sse or ws; received ${JSON.stringify(load)}`)
const variant = variants.find((v) => v.id === id)
if (!variant) throw new Error(`unknown variant ${id}; known: ${variants.map((v) => v.id).join(', ')}`)
const dir = fileURLToPath(new URL(`../../.tmp/profiles/${id}-${Date.now()}/`, import.meta.url))
mkdirSync(dir, { recursive: true })

const sink = await startOtlpSink()
const port = await freePort()
const spec = variant.launch({ port, sinkUrl: sink.endpointFor(id), shutdownDelayMs: 0 })
if (spec.command !== process.execPath) throw new Error(`${id} is not a Node variant`)
const server = launch({ ...spec, args: ['--cpu-prof', '--cpu-prof-dir', dir, ...spec.args] }, port)
await waitFor200(server, `${server.origin}${variant.readyPath}`, 20_000)
const perSecond =
  load === 'hello'
    ? (await runWrk(`${server.origin}/hello`, { connections: 32, threads: 1, durationSeconds: seconds, timeoutSeconds: 5 })).requestsPerSecond
    : (await runLongLivedClient(load, server.origin, { connections: 32, sseQuery: 'tokens=1000&interval_ms=0' }, seconds)).perSecond
await stop(server)
await sink.close()

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
if (!file) throw new Error(`no profile written in ${dir}`)
const profile = JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
const selfUs = new Map<number, number>()
profile.samples.forEach((node, i) => selfUs.set(node, (selfUs.get(node) ?? 0) + (profile.timeDeltas[i] ?? 0)))
const byFunction = new Map<string, number>()
const byPlace = new Map<string, number>()
let busy = 0
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0
  const { functionName, url, lineNumber } = node.callFrame
  if (functionName === '(idle)') continue
  busy += us
  const short = url.replace(/^.*node_modules\//, '').replace(/^.*bench-build\//, '').replace(/^file:\/\//, '')
  const place = url.includes('node_modules/') ? short.split('/').slice(0, short.startsWith('@') ? 2 : 1).join('/') : short.startsWith('node:') ? short : short || functionName
  byPlace.set(place, (byPlace.get(place) ?? 0) + us)
  const key = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + us)
}
const top = (m: Map<string, number>, n: number) =>
  [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`)
process.stdout.write(
  [
    `${id}: ${perSecond.toFixed(0)} ${load === 'hello' ? 'req' : load === 'sse' ? 'events' : 'messages'}/s for ${seconds} s; profile ${dir}${file}`,
    '', 'busy time by package / file:', ...top(byPlace, 20),
    '', 'busy time by function (self):', ...top(byFunction, 25), '',
  ].join('\n'),
)
