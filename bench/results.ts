import type { InFlightTrial, ReadyTrial, StartTrial } from './lifecycle-trials.ts'
import type { LoadResult, LoadSettings } from './load/run-wrk.ts'
import type { SinkCounts } from './otlp-sink.ts'
import type { Variant } from './variants.ts'

export interface LoadRound {
  readonly load: LoadResult
  /** Highest VmRSS sampled during the round, MB. */
  readonly loadRssMb: number
  /** What the OTLP sink received during the round. */
  readonly sink: SinkCounts
  /** The server's CPU time (user + system, /proc/PID/stat) over the measured load, per request served: steadier than req/s on a shared machine. */
  readonly cpuUsPerRequest: number
}

/** A fresh process started as a user starts it: spawn to the first 200 from its readiness probe, and RSS 300 ms later. */
export interface ColdStart {
  readonly startToReadyMs: number
  readonly idleRssMb: number
}

export interface VariantResults {
  readonly variant: Variant
  /** Why it was skipped, or null. */
  readonly skipped: string | null
  readonly rounds: LoadRound[]
  /** VmHWM of the long-running server after all rounds, MB. */
  peakRssMb: number
  /** POST /hello requests wrk completed on the long-running server (warm-up and rounds). */
  served: number
  /** Spans the sink received from it over its whole life, final flush at exit included. */
  spansTotal: number
  readonly starts: StartTrial[]
  readonly inFlight: InFlightTrial[]
  readonly ready: ReadyTrial[]
  /** "shipped" variants only: the start-time comparison (alternating, at least 9 each). */
  readonly coldStarts: ColdStart[]
  /** Anything that went wrong in a trial, said once. */
  readonly problems: string[]
}

export interface MicroResult {
  readonly requestsPerRound: number
  readonly rounds: number
  readonly ledgerNs: number
  readonly naiveNs: number
}

export interface RunInfo {
  readonly date: string
  readonly node: string
  readonly cpu: string
  readonly cores: number
  readonly loadavg: string
  readonly loadavgEnd: string
  /** The 1-minute load average was above 1 at the start or the end: other work shared the machine. */
  readonly shared: boolean
  readonly python: string | null
  readonly load: LoadSettings
  readonly rounds: number
  readonly warmupSeconds: number
  readonly loadCommand: string
  /** BENCH_NODE_FLAGS, if any. */
  readonly nodeFlags: string
  /** Whether each Node variant's load-round server ran one full GC while idle before the warm-up (BENCH_SETTLE). */
  readonly settle: boolean
  readonly elapsedSeconds: number
}

export interface BenchResults {
  readonly info: RunInfo
  readonly variants: VariantResults[]
  readonly micro: MicroResult | null
  readonly parity: string[]
}
