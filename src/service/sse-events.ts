/**
 * The stream's events in the Server-Sent Events format (WHATWG HTML, "Server-sent events"). Each
 * event is one string, written as one chunk, so a stream that ends between two writes never
 * leaves half an event behind.
 */

export function tokenEvent(index: number): string {
  return `id: ${index}\nevent: token\ndata: {"index":${index},"token":"tok-${index}"}\n\n`
}

export function doneEvent(tokens: number): string {
  return `event: done\ndata: {"tokens":${tokens}}\n\n`
}

/**
 * Sent when the replica is about to stop: `retry:` sets the client's reconnection delay, and no
 * `id:` keeps its last event id at the last token, which it then sends back as `Last-Event-ID`.
 */
export function reconnectEvent(lastIndex: number, retryMs: number): string {
  return `event: reconnect\nretry: ${retryMs}\ndata: {"last_event_id":${lastIndex},"retry_ms":${retryMs}}\n\n`
}
