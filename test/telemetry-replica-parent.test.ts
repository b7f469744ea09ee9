import { trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it } from 'vitest'
import { createActor, waitFor } from 'xstate'
import { lifecycleMachine } from '../src/machine/lifecycle-machine.ts'
import { lifecycleStreams } from '../src/streams/lifecycle-streams.ts'
import { traceLifecycle } from '../src/telemetry/lifecycle-spans.ts'
import { formatTraceparent, parseTraceparent } from '../src/telemetry/traceparent.ts'
import { type InMemoryTelemetry, installInMemoryTelemetry } from './support/otlp-in-memory.ts'

let telemetry: InMemoryTelemetry | null = null
afterEach(async () => {
  await telemetry?.uninstall()
  telemetry = null
})

/** One lifecycle drained at once (nothing in flight), its drain span's parent read from `drainParent`. */
async function drainWith(drainParent: () => string | undefined) {
  telemetry = installInMemoryTelemetry({ traces: true })
  const actor = createActor(lifecycleMachine, {
    input: { maxConcurrency: 1, drainTimeoutMs: 1_000, shutdownDelayMs: 0, overCapacity: 'admit' },
  })
  const subscription = traceLifecycle(lifecycleStreams(actor).snapshot$, trace.getTracer('test'), undefined, drainParent)
  actor.start()
  await waitFor(actor, (snapshot) => snapshot.matches('running'))
  actor.send({ type: 'signal.received', signal: 'SIGTERM' })
  subscription.unsubscribe()
  const [drain, ...others] = telemetry.spans().filter((s) => s.name === 'lameduck.drain')
  expect(others).toHaveLength(0)
  return drain!
}

describe("a cluster worker's drain span", () => {
  const replica = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 }

  it("is a child of the replica's drain span the primary sent as a traceparent", async () => {
    const drain = await drainWith(() => formatTraceparent(replica))
    expect(drain.spanContext().traceId).toBe(replica.traceId)
    expect(drain.parentSpanContext).toMatchObject({ spanId: replica.spanId, isRemote: true })
  })

  it.each([['none', undefined], ['malformed', '00-xyz'], ['all-zero ids', `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`]])(
    'is a root span when the primary sent %s',
    async (_what, traceparent) => {
      const drain = await drainWith(() => traceparent)
      expect(drain.parentSpanContext).toBeUndefined()
      expect(drain.spanContext().traceId).not.toBe(replica.traceId)
    },
  )

  it('reads the traceparent lameduck writes, flags included, and nothing else', () => {
    expect(formatTraceparent(replica)).toBe(`00-${replica.traceId}-${replica.spanId}-01`)
    expect(parseTraceparent(formatTraceparent({ ...replica, traceFlags: 0 }))).toEqual({ ...replica, traceFlags: 0 })
    for (const bad of [42, '', `01-${replica.traceId}-${replica.spanId}-01`, `00-${replica.traceId.toUpperCase()}-${replica.spanId}-01`]) {
      expect(parseTraceparent(bad)).toBeNull()
    }
  })
})
