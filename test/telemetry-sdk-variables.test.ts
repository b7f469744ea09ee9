import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { type sendUnaryData, Server, ServerCredentials, type ServerUnaryCall } from '@grpc/grpc-js'
import { request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { freePort } from './support/free-port.ts'
import { decodeOtlp, ExportTraceServiceRequest } from './support/otlp-proto.ts'

/**
 * The standard variables reach the OpenTelemetry Node SDK through lameduck's entry as the spec
 * says: exporters other than OTLP, propagators, the Prometheus reader. The built service in a
 * child process, as the image runs it.
 */
const root = fileURLToPath(new URL('..', import.meta.url))
let children: ChildProcess[] = []

afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  children = []
})

async function startService(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', './dist/telemetry/register.js', 'dist/main.js'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  children.push(child)
  let stdout = ''
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const origin = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const match = /Server listening at (http:\/\/[0-9.:]+)/.exec(stdout)
      if (match) resolve(match[1]!)
    })
    void exited.then((code) => reject(new Error(`exited ${code} before listening:\n${stdout}`)))
  })
  return { child, origin, exited, stdout: () => stdout }
}

const hello = (origin: string, headers: Record<string, string> = {}) =>
  request(`${origin}/hello`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{}' })

describe('the standard OTEL_* variables, through the Node SDK', () => {
  it('OTEL_TRACES_EXPORTER=console with OTEL_PROPAGATORS=b3: the request span continues a B3 trace and is printed', async () => {
    const traceId = '80f198ee56343ba864fe8b2a57d3eff7'
    const service = await startService({ OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'none', OTEL_PROPAGATORS: 'b3' })
    const res = await hello(service.origin, { b3: `${traceId}-e457b5a2e4d86bd1-1` })
    expect(res.statusCode).toBe(200)
    await res.body.text()
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
    // The console exporter prints each span as an object; the request's is in the B3 trace.
    expect(service.stdout()).toMatch(new RegExp(`traceId: '${traceId}'[\\s\\S]*?name: 'POST /hello'`))
  })

  it('OTEL_METRICS_EXPORTER=prometheus: lameduck’s metrics are served on the Prometheus port, apart from the service’s', async () => {
    const port = await freePort()
    const service = await startService({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: String(port), OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1' })
    await (await hello(service.origin)).body.text()
    const scrape = await request(`http://127.0.0.1:${port}/metrics`)
    expect(scrape.statusCode).toBe(200)
    const text = await scrape.body.text()
    expect(text).toMatch(/^lameduck_requests_in_flight(_ratio)?(\{[^}]*\})? 0/m)
    expect(text).toMatch(/^lameduck_lifecycle_state\{[^}]*lameduck_lifecycle_state="running"[^}]*\} 1/m)
    // Nothing traced: no endpoint and no trace exporter asked for.
    expect(service.stdout()).not.toContain('traceId')
    service.child.kill('SIGTERM')
    expect(await service.exited).toBe(0)
  })

  it('OTEL_EXPORTER_OTLP_PROTOCOL=grpc: the spans reach an OTLP gRPC receiver before the exit', async () => {
    // A minimal OTLP/gRPC trace receiver: the service's one method, messages decoded as OTLP protobuf.
    const received: string[] = []
    const server = new Server()
    const raw = (buffer: Buffer) => buffer
    server.addService(
      {
        Export: {
          path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
          requestStream: false,
          responseStream: false,
          requestSerialize: raw,
          requestDeserialize: raw,
          responseSerialize: raw,
          responseDeserialize: raw,
        },
      },
      {
        Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
          const decoded = decodeOtlp(ExportTraceServiceRequest, call.request) as { resourceSpans?: { scopeSpans?: { spans?: { name: string }[] }[] }[] }
          for (const resource of decoded.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) for (const span of scope.spans ?? []) received.push(span.name)
          callback(null, Buffer.alloc(0))
        },
      },
    )
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    )
    try {
      const service = await startService({
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_METRICS_EXPORTER: 'none',
      })
      await (await hello(service.origin)).body.text()
      service.child.kill('SIGTERM')
      expect(await service.exited).toBe(0)
      expect(received).toEqual(expect.arrayContaining(['lameduck.startup', 'POST /hello', 'lameduck.drain']))
    } finally {
      server.forceShutdown()
    }
  })
})
