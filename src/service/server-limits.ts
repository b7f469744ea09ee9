/**
 * The HTTP server's limits. Fastify 5 leaves `requestTimeout` at 0 (no limit), so
 * without these a client that sends half a body holds its socket, and its
 * in-flight slot, until the drain deadline.
 */
export interface ServerLimits {
  /** Largest request body; larger answers 413. */
  readonly bodyLimitBytes: number
  /** Largest request head (request line + headers); larger answers 431. Node's default. */
  readonly maxHeaderBytes: number
  /** Time to receive the request head; slower (slowloris, silent connections) answers 408 and closes. */
  readonly headersTimeoutMs: number
  /** Time to receive the whole request, body included. Handler time is not counted. */
  readonly requestTimeoutMs: number
  /**
   * Idle time before a keep-alive socket is closed. Longer than the load balancer's
   * own idle timeout (AWS ALB and nginx default to 60 s), so the balancer always
   * closes first: if the server closed first, a request the balancer sends at that
   * instant meets a closed socket and the client gets a 502.
   */
  readonly keepAliveTimeoutMs: number
  /** How often Node checks the two timeouts above; they are enforced to within this. */
  readonly connectionsCheckingIntervalMs: number
}

export const serverLimits: ServerLimits = Object.freeze({
  bodyLimitBytes: 1_048_576,
  maxHeaderBytes: 16_384,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  connectionsCheckingIntervalMs: 1_000,
})
