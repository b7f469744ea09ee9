import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort } from './support/free-port.ts'

/**
 * A real metrics backend: Debian's Prometheus server scrapes the service's Prometheus endpoint
 * (`OTEL_METRICS_EXPORTER=prometheus`) and is queried through its HTTP API, across a drain.
 * `.ci/run` unpacks the Debian package and sets PROMETHEUS_BIN.
 */
const root = fileURLToPath(new URL('..', import.meta.url))
const prometheusBin = [process.env.PROMETHEUS_BIN, '/usr/bin/prometheus'].find((path) => path !== undefined && existsSync(path))
const work = mkdtempSync(join(tmpdir(), 'lameduck-prometheus-'))
const children: ChildProcess[] = []
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  rmSync(work, { recursive: true, force: true })
})

/** The latest value Prometheus holds for `query`, or null when it has none. */
async function queryValue(webPort: number, query: string): Promise<number | null> {
  const res = await request(`http://127.0.0.1:${webPort}/api/v1/query?query=${encodeURIComponent(query)}`).catch(() => null)
  if (res === null) return null
  const body = (await res.body.json().catch(() => null)) as { data?: { result?: { value: [number, string] }[] } } | null
  const first = body?.data?.result?.[0]
  return first === undefined ? null : Number(first.value[1])
}

async function until(webPort: number, query: string, expected: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: number | null = null
  while (Date.now() < deadline) {
    last = await queryValue(webPort, query)
    if (last === expected) return
    await sleep(100)
  }
  throw new Error(`Prometheus: ${query} is ${last}, expected ${expected}`)
}

describe.skipIf(prometheusBin === undefined)('Prometheus scraping the service (PROMETHEUS_BIN or /usr/bin/prometheus)', () => {
  it('sees the request in flight, the replica draining, and the scrape endpoint never holds the drain open', async () => {
    const [servicePort, metricsPort, webPort] = [await freePort(), await freePort(), await freePort()]
    const service = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        PORT: String(servicePort),
        HOST: '127.0.0.1',
        DRAIN_TIMEOUT_MS: '20000',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
        OTEL_EXPORTER_PROMETHEUS_PORT: String(metricsPort),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    })
    children.push(service)
    const serviceExited = once(service, 'exit').then(([code]) => ({ code: code as number | null, at: Date.now() }))

    const config = join(work, 'prometheus.yml')
    writeFileSync(
      config,
      `global:\n  scrape_interval: 100ms\n  scrape_timeout: 100ms\nscrape_configs:\n  - job_name: lameduck\n    static_configs:\n      - targets: ['127.0.0.1:${metricsPort}']\n`,
    )
    const prometheus = spawn(
      prometheusBin!,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${webPort}`],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    )
    children.push(prometheus)

    await until(webPort, 'lameduck_lifecycle_state{lameduck_lifecycle_state="running"}', 1)
    await until(webPort, '{__name__=~"lameduck_requests_in_flight.*"}', 0)

    const slow = request(`http://127.0.0.1:${servicePort}/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ work_ms: 4000 }),
    })
    await until(webPort, '{__name__=~"lameduck_requests_in_flight.*"}', 1)

    service.kill('SIGTERM')
    // Draining, and still scraped: the metrics server is apart from the service's closed listener.
    await until(webPort, 'lameduck_lifecycle_state{lameduck_lifecycle_state="draining"}', 1)
    await until(webPort, '{__name__=~"lameduck_requests_in_flight.*"}', 1)

    const answered = await slow
    expect(answered.statusCode).toBe(200)
    await answered.body.text()
    const answeredAt = Date.now()
    const { code, at } = await serviceExited
    expect(code).toBe(0)
    // Generous (timing goals live in benchmarks): the exit follows the last response, the scrape server holds nothing.
    expect(at - answeredAt).toBeLessThan(1_000)

    prometheus.kill('SIGTERM')
    await once(prometheus, 'exit')
  }, 60_000)
})
