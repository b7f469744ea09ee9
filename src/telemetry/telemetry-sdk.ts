import { context, metrics, propagation, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { CompositePropagator, setGlobalErrorHandler, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http'
import { OTLPMetricExporter as ProtobufMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto'
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as ProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { detectResources, envDetector, hostDetector, serviceInstanceIdDetector } from '@opentelemetry/resources'
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace'
import type { ExportErrorLog } from './export-error-log.ts'
import type { SamplerConfig, TelemetryConfig } from './telemetry-config.ts'

export interface RunningTelemetry {
  readonly tracerProvider: TracerProvider | null
  readonly meterProvider: MeterProvider | null
}

/**
 * Starts the SDK for the signals `config` enables and registers it with the
 * OpenTelemetry API, where lameduck's plugin finds it. With nothing enabled it
 * registers nothing at all, so the plugin installs no hook and the per-request
 * cost stays zero. There is no shutdown here: lameduck's plugin flushes both
 * providers when the server closes (instrument-lifecycle.ts), and their timers
 * do not hold the process open.
 */
export function startTelemetry(config: TelemetryConfig, errors: ExportErrorLog): RunningTelemetry {
  if (!config.traces && !config.metrics) return { tracerProvider: null, meterProvider: null }

  setGlobalErrorHandler(errors.report)
  const resource = detectResources({ detectors: [envDetector, hostDetector, serviceInstanceIdDetector] })

  let tracerProvider: TracerProvider | null = null
  if (config.traces) {
    const { protocol, timeoutMs } = config.traces
    const exporter = protocol === 'http/json' ? new JsonTraceExporter({ timeoutMillis: timeoutMs }) : new ProtobufTraceExporter({ timeoutMillis: timeoutMs })
    tracerProvider = new TracerProvider({
      resource,
      sampler: samplerOf(config.sampler),
      // Options object: the positional form of SDK 1.x crashes at export time in 3.x.
      spanProcessors: [new BatchSpanProcessor({ exporter, exportTimeoutMillis: timeoutMs })],
    })
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    )
    trace.setGlobalTracerProvider(tracerProvider)
  }

  let meterProvider: MeterProvider | null = null
  if (config.metrics) {
    const { protocol, timeoutMs, exportIntervalMs } = config.metrics
    const exporter = protocol === 'http/json' ? new JsonMetricExporter({ timeoutMillis: timeoutMs }) : new ProtobufMetricExporter({ timeoutMillis: timeoutMs })
    meterProvider = new MeterProvider({
      resource,
      readers: [
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: exportIntervalMs,
          exportTimeoutMillis: Math.min(timeoutMs, exportIntervalMs),
        }),
      ],
    })
    metrics.setGlobalMeterProvider(meterProvider)
  }

  return { tracerProvider, meterProvider }
}

export function samplerOf({ name, ratio }: SamplerConfig): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler()
    case 'always_off':
      return new AlwaysOffSampler()
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio)
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() })
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() })
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) })
  }
}
