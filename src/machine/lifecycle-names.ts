/** The lifecycle's top-level states. Probes and logs use exactly these names. */
export const lifecycleStates = ['starting', 'running', 'draining', 'stopped'] as const
export type LifecycleState = (typeof lifecycleStates)[number]

/** The two phases of `draining`: still serving while not ready, then the drain proper. */
export const drainPhases = ['delay', 'drain'] as const
export type DrainPhase = (typeof drainPhases)[number]

/** What `GET /ready` answers in `status`. */
export const readinessStatuses = ['ready', 'starting', 'draining', 'at_capacity', 'stopped'] as const
export type ReadinessStatus = (typeof readinessStatuses)[number]

/** Why a request was answered 503 instead of being served. */
export const rejectReasons = ['starting', 'draining', 'at_capacity', 'stopped'] as const
export type RejectReason = (typeof rejectReasons)[number]

/** How the lifecycle ended. */
export const stopOutcomes = ['drained', 'timed_out', 'forced', 'startup_failed', 'interrupted'] as const
export type StopOutcome = (typeof stopOutcomes)[number]

export const overCapacityPolicies = ['admit', 'reject'] as const
export type OverCapacityPolicy = (typeof overCapacityPolicies)[number]

/** What the drain proper does with the listening sockets: close them, or keep them open for the probes until stop. */
export const listenerAtDrainPolicies = ['close', 'keep'] as const
export type ListenerAtDrain = (typeof listenerAtDrainPolicies)[number]
