import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decodeOtlp, ExportMetricsServiceRequest, ExportTraceServiceRequest } from './otlp-proto.ts'

/**
 * A small OTLP/HTTP receiver (what a collector's `otlphttp` receiver does),
 * for end-to-end tests: it accepts `/v1/traces` and `/v1/metrics` in both
 * `application/json` and `application/x-protobuf`, decodes each export and
 * keeps it as plain spans and metric points.
 */
export interface OtlpReceiver {
  readonly endpoint: string
  readonly spans: ReceivedSpan[]
  readonly metrics: ReceivedMetric[]
  /** Content types of the exports received, in order. */
  readonly contentTypes: string[]
  /** Resolves once `predicate` holds for what was received, or rejects after `timeoutMs`. */
  waitFor(predicate: (r: OtlpReceiver) => boolean, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  startMs: number
  endMs: number
  attributes: Record<string, unknown>
  events: { name: string; timeMs: number; attributes: Record<string, unknown> }[]
  status: { code: number; message?: string }
  resource: Record<string, unknown>
  scope: string
}

export interface ReceivedMetric {
  name: string
  unit: string
  type: 'sum' | 'gauge' | 'histogram'
  monotonic: boolean
  points: { attributes: Record<string, unknown>; value: number; count?: number; sum?: number }[]
  resource: Record<string, unknown>
}

export async function startOtlpReceiver(options: { delayMs?: number } = {}): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = []
  const metrics: ReceivedMetric[] = []
  const contentTypes: string[] = []
  const waiters = new Set<() => void>()

  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req)
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim()
    try {
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
      const decoded = decode(req.url ?? '', type, body)
      contentTypes.push(type)
      if (req.url === '/v1/traces') spans.push(...flattenSpans(decoded))
      else metrics.push(...flattenMetrics(decoded))
      res.writeHead(200, { 'content-type': type }).end(type === 'application/json' ? '{}' : '')
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(String(error))
    }
    for (const wake of waiters) wake()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo

  const receiver: OtlpReceiver = {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    contentTypes,
    waitFor(predicate, timeoutMs = 10_000) {
      if (predicate(receiver)) return Promise.resolve()
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`OTLP receiver: condition not met within ${timeoutMs} ms; spans: ${spans.map((s) => s.name).join(', ')}`))
        }, timeoutMs)
        const check = () => {
          if (!predicate(receiver)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        waiters.add(check)
      })
    },
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
  return receiver
}

/** A port that was just free and has nothing listening: a collector that is down. */
export async function deadEndpoint(): Promise<string> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function decode(url: string, type: string, body: Buffer): any {
  if (type === 'application/json') return JSON.parse(body.toString('utf8'))
  if (type !== 'application/x-protobuf') throw new Error(`unexpected content type ${type}`)
  if (url === '/v1/traces') return decodeOtlp(ExportTraceServiceRequest, body)
  if (url === '/v1/metrics') return decodeOtlp(ExportMetricsServiceRequest, body)
  throw new Error(`unexpected path ${url}`)
}

/** OTLP attributes (`[{ key, value: { stringValue } }]`) as a plain object. */
export function attributesOf(list: any[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const { key, value } of list ?? []) out[key] = anyValue(value)
  return out
}

function anyValue(value: any): unknown {
  if (value == null) return undefined
  if ('stringValue' in value) return value.stringValue
  if ('boolValue' in value) return value.boolValue
  // int64: a string in protobuf-as-JSON, a number or string in the SDK's JSON encoding.
  if ('intValue' in value) return Number(value.intValue)
  if ('doubleValue' in value) return value.doubleValue
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(anyValue)
  return undefined
}

const nanosToMs = (nanos: unknown): number => Number(BigInt(String(nanos ?? 0)) / 1_000_000n)

function flattenSpans(request: any): ReceivedSpan[] {
  const out: ReceivedSpan[] = []
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes)
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        out.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          name: span.name,
          kind: Number(span.kind ?? 0),
          startMs: nanosToMs(span.startTimeUnixNano),
          endMs: nanosToMs(span.endTimeUnixNano),
          attributes: attributesOf(span.attributes),
          events: (span.events ?? []).map((e: any) => ({ name: e.name, timeMs: nanosToMs(e.timeUnixNano), attributes: attributesOf(e.attributes) })),
          status: { code: Number(span.status?.code ?? 0), ...(span.status?.message ? { message: span.status.message } : {}) },
          resource,
          scope: ss.scope?.name ?? '',
        })
      }
    }
  }
  return out
}

function flattenMetrics(request: any): ReceivedMetric[] {
  const out: ReceivedMetric[] = []
  for (const rm of request.resourceMetrics ?? []) {
    const resource = attributesOf(rm.resource?.attributes)
    for (const sm of rm.scopeMetrics ?? []) {
      for (const metric of sm.metrics ?? []) {
        const type = metric.sum ? 'sum' : metric.gauge ? 'gauge' : 'histogram'
        const data = metric.sum ?? metric.gauge ?? metric.histogram
        out.push({
          name: metric.name,
          unit: metric.unit ?? '',
          type,
          monotonic: Boolean(metric.sum?.isMonotonic),
          points: (data?.dataPoints ?? []).map((p: any) => ({
            attributes: attributesOf(p.attributes),
            value: Number(p.asInt ?? p.asDouble ?? p.sum ?? 0),
            ...(type === 'histogram' ? { count: Number(p.count ?? 0), sum: Number(p.sum ?? 0) } : {}),
          })),
          resource,
        })
      }
    }
  }
  return out
}
