import type { IncomingMessage } from 'node:http'
import type { FastifyInstance } from 'fastify'
import { context, isSpanContextValid, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import { addUntracedHook } from '../admission/untraced-hook.ts'
import { filter, take } from '../streams/rx.ts'
import type { LifecycleActor, LifecycleStreams } from '../streams/lifecycle-streams.ts'
import { type ActiveProviders, flushTelemetry } from './active-providers.ts'
import { observeLifecycle } from './lifecycle-metrics.ts'
import { correlateThrough } from './log-correlation.ts'
import { traceLifecycle } from './lifecycle-spans.ts'
import { requestSpanHook, type WebSocketLike } from './request-span.ts'

/** What `@fastify/websocket` decorates the instance with, if registered. */
type WithWebsockets = { websocketServer?: { on?(event: 'connection', listener: (ws: WebSocketLike, request: IncomingMessage) => void): unknown } }

/**
 * How long the close waits for the last export, whatever the SDK's own timeouts: a dead or
 * black-holed collector delays the exit by at most this (issue 12). lameduck's entry sets the
 * exporters' timeout to 1 s as well (telemetry-config.ts), so exports give up on their own by then.
 */
export const flushTimeoutMs = 1_000

/** How long the close waits for the spans of cut requests to end (a cut socket closes within a few ticks). */
const settleTimeoutMs = 200

/**
 * Connects one lameduck instance to the OpenTelemetry SDK registered with the
 * API: request spans, the startup and drain spans, lifecycle metrics, and a
 * final flush when the server closes. `drainParent`: in a cluster worker, the
 * replica's drain span as a `traceparent` (src/telemetry/traceparent.ts), once
 * the primary has sent it. The plugin calls it (and imports this
 * module) only when an SDK is registered, so without one there is no hook and
 * no per-request cost.
 */
export function instrumentLifecycle(
  fastify: FastifyInstance,
  actor: LifecycleActor,
  streams: LifecycleStreams,
  { tracer, meter }: ActiveProviders,
  { requestSpans, drainParent }: { requestSpans: boolean; drainParent?: () => string | undefined },
): void {

  // The logger's mixin (log-correlation.ts) reads spans through the same API copy as lameduck's spans.
  correlateThrough({ trace, isSpanContextValid })
  const getSnapshot = () => actor.getSnapshot()
  // Global, so 404s are traced too; the first onRequest hook, so the span covers the others.
  const requests = tracer !== null && requestSpans ? requestSpanHook(tracer, getSnapshot) : null
  if (requests !== null) {
    addUntracedHook(fastify, 'onRequest', requests.hook)
    // @fastify/otel registered after lameduck ends its span in each route's own onSend, and a short request
    // can run its whole course inside lameduck's onRequest hook: a global onSend (run before any route's)
    // joins that span first. Registered before lameduck, @fastify/otel has made its span by then: no hook.
    if (!fastify.hasPlugin('@fastify/otel')) addUntracedHook(fastify, 'onSend', requests.onSend)
    // A WebSocket session is one span from the upgrade to its close. @fastify/websocket may be
    // registered after lameduck: its server is there once the app is ready.
    fastify.addHook('onReady', (hookDone) => {
      ;(fastify as WithWebsockets).websocketServer?.on?.('connection', requests.onSession)
      hookDone()
    })
  }

  const lifecycleMetrics = meter === null ? null : observeLifecycle(meter, getSnapshot)
  const spans =
    tracer === null
      ? streams.stopped$.subscribe((snapshot) => lifecycleMetrics?.recordDrain(snapshot))
      : traceLifecycle(streams.snapshot$, tracer, (snapshot) => lifecycleMetrics?.recordDrain(snapshot), drainParent)

  // Export the startup span as soon as the service is ready: the first export pays for loading the
  // serializer and opening the connection (25-95 ms measured, bench/findings.md), and it should pay
  // that now rather than inside the final flush, between the last response and the exit.
  const warmUp =
    tracer === null
      ? null
      : streams.state$.pipe(filter((state) => state === 'running'), take(1)).subscribe(() => void flushTelemetry(flushTimeoutMs))

  // The last chance to export before the process exits. The drain's span has ended; the abandoned
  // requests' connections were cut just before fastify.close(), and their spans end as the sockets close.
  fastify.addHook('onClose', async () => {
    await requests?.settled(settleTimeoutMs)
    await flushTelemetry(flushTimeoutMs)
    spans.unsubscribe()
    warmUp?.unsubscribe()
    lifecycleMetrics?.stop()
  })
}

/** Runs `write` (a log call) with no span active, so that the lifecycle's log lines carry no request's trace ids. */
export function outsideSpans(write: () => void): void {
  context.with(ROOT_CONTEXT, write)
}
