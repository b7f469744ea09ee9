import { type OutgoingHttpHeaders, ServerResponse } from 'node:http'

type HeadArgument = OutgoingHttpHeaders | readonly unknown[] | string | number | undefined

/**
 * Makes `res` say `Connection: close` while `stillNewest()` holds, even if its handler set
 * `Connection: keep-alive` (with `setHeader`, or in `writeHead`'s headers as Fastify passes them).
 * Node takes a keep-alive header at its word and leaves the socket open after the response, so the
 * drain waited for a socket nobody would close. Every head goes through `writeHead`, the implicit one
 * of a first `write()` too. Set on the response itself: only responses of a drain pay for it.
 */
export function closingWriteHead(res: ServerResponse, stillNewest: () => boolean): void {
  Object.defineProperty(res, 'writeHead', {
    configurable: true,
    writable: true,
    value: function writeHead(this: ServerResponse, ...args: HeadArgument[]) {
      if (stillNewest()) {
        // Replaced, not removed: without any Connection header Node writes none, and the client would
        // read the response as keep-alive.
        if (!saysClose(this.getHeader('connection'))) this.setHeader('connection', 'close')
        const last = args.length - 1
        if (last >= 1) args[last] = withoutKeepAlive(args[last])
      }
      return (ServerResponse.prototype.writeHead as (...a: HeadArgument[]) => ServerResponse).apply(this, args)
    },
  })
}

function saysClose(value: unknown): boolean {
  return value === undefined || /\bclose\b/i.test(String(value))
}

/** `writeHead`'s headers with a `connection` entry that does not say close made to say it: an object, or a flat or nested list. */
function withoutKeepAlive(headers: HeadArgument): HeadArgument {
  if (headers === null || typeof headers !== 'object') return headers
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      return (headers as unknown[][]).map(([name, value]) => [name, isKeepAlive(name, value) ? 'close' : value])
    }
    return headers.map((value, i) => (i % 2 === 1 && isKeepAlive(headers[i - 1], value) ? 'close' : value))
  }
  let copy: OutgoingHttpHeaders | undefined
  for (const name of Object.keys(headers)) {
    if (!isKeepAlive(name, (headers as OutgoingHttpHeaders)[name])) continue
    copy ??= { ...(headers as OutgoingHttpHeaders) }
    copy[name] = 'close'
  }
  return copy ?? headers
}

function isKeepAlive(name: unknown, value: unknown): boolean {
  return typeof name === 'string' && name.toLowerCase() === 'connection' && !saysClose(value)
}
