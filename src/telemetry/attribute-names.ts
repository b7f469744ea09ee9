/**
 * lameduck's own span and metric attribute names, beside the semantic conventions'.
 * Documented in docs/observability.md; a test keeps the two in step.
 */
export const lameduckAttributes = {
  /** Lifecycle phase when the request arrived: `running`, `draining.delay`, ... */
  lifecycleState: 'lameduck.lifecycle.state',
  /** Requests in flight when this one arrived, not counting it. */
  inFlight: 'lameduck.requests.in_flight',
  /** Why lameduck answered 503 instead of serving: `starting`, `draining`, `at_capacity`, `stopped`. */
  rejectReason: 'lameduck.reject.reason',
  /** Cerebrium's run id arrives as `X-Request-Id`; semconv's request-header attribute form (a string array). */
  requestIdHeader: 'http.request.header.x-request-id',
  drainSignal: 'lameduck.drain.signal',
  drainSignals: 'lameduck.drain.signals',
  drainOutcome: 'lameduck.drain.outcome',
  drainInFlightAtSignal: 'lameduck.drain.in_flight_at_signal',
  drainCompleted: 'lameduck.drain.completed',
  drainAborted: 'lameduck.drain.aborted',
  drainAbandoned: 'lameduck.drain.abandoned',
  drainTimedOut: 'lameduck.drain.timed_out',
  /** WebSocket sessions that closed during the drain (the 1012 goodbye answered), and those cut at the end. */
  drainSessionsClosed: 'lameduck.drain.sessions_closed',
  drainSessionsCut: 'lameduck.drain.sessions_cut',
  drainDelayMs: 'lameduck.drain.delay_ms',
  drainDrainMs: 'lameduck.drain.drain_ms',
  drainTimeoutMs: 'lameduck.drain.timeout_ms',
  startupOutcome: 'lameduck.startup.outcome',
  /** A cluster's `lameduck.replica.drain` span (docs/cluster.md): how the replica ended, and its exit code. */
  replicaDrainOutcome: 'lameduck.replica.drain.outcome',
  replicaDrainExitCode: 'lameduck.replica.drain.exit_code',
  /** Workers alive at the replica's signal: each drains as a child span. */
  replicaDrainWorkers: 'lameduck.replica.drain.workers',
  replicaDrainRequestsLost: 'lameduck.replica.drain.requests_lost',
  replicaDrainSignals: 'lameduck.replica.drain.signals',
  replicaWorkersExpected: 'lameduck.replica.workers.expected',
  /** A cluster's `lameduck.replica.reload` span: the workers it set out to replace, those replaced, and how it ended. */
  replicaReloadWorkers: 'lameduck.replica.reload.workers',
  replicaReloadReplaced: 'lameduck.replica.reload.replaced',
  replicaReloadOutcome: 'lameduck.replica.reload.outcome',
  /** The replica machine's state, on `lameduck.replica.state`: `starting`, `running`, `restarting`, `draining`, `stopped`. */
  replicaState: 'lameduck.replica.state',
  /** A WebSocket session's span: the close code (1006 when the connection ended without a close frame). */
  websocketCloseCode: 'lameduck.websocket.close_code',
  /** Who started the close: `client` or `server` (lameduck's goodbye, the application, a cut). */
  websocketClosedBy: 'lameduck.websocket.closed_by',
} as const
