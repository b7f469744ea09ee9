import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'

/** What the sink has received so far. */
export interface SinkCounts {
  exports: number
  bytes: number
  spans: number
}

export interface OtlpSink {
  readonly url: string
  /** The endpoint for one variant: `${url}/${id}`, so exports are counted per variant. */
  endpointFor(id: string): string
  counts(id: string): SinkCounts
  /** performance.now() of the last export received for `id`, or 0. */
  lastExportAt(id: string): number
  close(): Promise<void>
}

/**
 * A local OTLP/HTTP traces receiver: accepts `POST /<variant>/v1/traces` (protobuf), counts
 * export requests, bytes and spans, and answers an empty ExportTraceServiceResponse.
 * It stands in for a collector so the tracing variants really serialize and send.
 */
export async function startOtlpSink(): Promise<OtlpSink> {
  const counts = new Map<string, SinkCounts & { lastAt: number }>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const match = /^\/([\w-]+)\/v1\/traces$/.exec(req.url ?? '')
      if (req.method === 'POST' && match) {
        const id = match[1] as string
        const c = counts.get(id) ?? { exports: 0, bytes: 0, spans: 0, lastAt: 0 }
        c.exports++
        c.bytes += body.length
        c.spans += req.headers['content-type']?.includes('json') ? countJsonSpans(body) : countProtobufSpans(body)
        c.lastAt = performance.now()
        counts.set(id, c)
      }
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf', 'content-length': 0 })
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    endpointFor: (id) => `http://127.0.0.1:${port}/${id}`,
    counts: (id) => {
      const c = counts.get(id)
      return { exports: c?.exports ?? 0, bytes: c?.bytes ?? 0, spans: c?.spans ?? 0 }
    },
    lastExportAt: (id) => counts.get(id)?.lastAt ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

// ExportTraceServiceRequest { 1: repeated ResourceSpans }, ResourceSpans { 2: repeated ScopeSpans },
// ScopeSpans { 2: repeated Span }: count the spans by walking length-delimited fields.
function countProtobufSpans(buf: Buffer): number {
  let spans = 0
  for (const resourceSpans of fields(buf, 1)) for (const scopeSpans of fields(resourceSpans, 2)) spans += fields(scopeSpans, 2).length
  return spans
}

function fields(buf: Buffer, wanted: number): Buffer[] {
  const out: Buffer[] = []
  let pos = 0
  const varint = (): number => {
    let value = 0
    let shift = 0
    for (;;) {
      const byte = buf[pos++] ?? 0
      value += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) return value
      shift += 7
    }
  }
  while (pos < buf.length) {
    const key = varint()
    const field = Math.floor(key / 8)
    const wire = key & 7
    if (wire === 0) varint()
    else if (wire === 1) pos += 8
    else if (wire === 5) pos += 4
    else if (wire === 2) {
      const length = varint()
      if (field === wanted) out.push(buf.subarray(pos, pos + length))
      pos += length
    } else break // groups are not used by OTLP
  }
  return out
}

function countJsonSpans(body: Buffer): number {
  try {
    const parsed = JSON.parse(body.toString()) as { resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[] }
    let spans = 0
    for (const rs of parsed.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0
    return spans
  } catch {
    return 0
  }
}
