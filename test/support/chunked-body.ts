/** An HTTP/1.1 chunked body as it came off the wire: its chunks and whether the terminator came. */
export interface ChunkedBody {
  readonly chunks: string[]
  /** The zero-length last chunk (`0\r\n\r\n`) arrived: a clean end, not a cut. */
  readonly terminated: boolean
  /** Bytes after the terminator, or a chunk cut short. */
  readonly rest: string
}

export function decodeChunked(body: string): ChunkedBody {
  const chunks: string[] = []
  let at = 0
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = Number.parseInt(body.slice(at, lineEnd), 16)
    if (!Number.isFinite(size)) break
    if (size === 0) {
      const terminated = body.startsWith('\r\n', lineEnd + 2)
      return { chunks, terminated, rest: body.slice(lineEnd + (terminated ? 4 : 2)) }
    }
    const start = lineEnd + 2
    if (body.length < start + size + 2) break
    chunks.push(body.slice(start, start + size))
    at = start + size + 2
  }
  return { chunks, terminated: false, rest: body.slice(at) }
}
