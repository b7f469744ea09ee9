import { assign, fromPromise, setup } from 'xstate'

/**
 * The design lameduck did not take, kept for measuring it: the same lifecycle
 * (starting -> running -> draining{delay,drain} -> stopped), but the in-flight count is
 * a number in context moved by two events per request, `request.started` and
 * `request.finished`, and admission asks the snapshot `matches('running')`.
 */
export const naiveLifecycleMachine = setup({
  types: {
    context: {} as { inFlight: number; maxConcurrency: number; shutdownDelayMs: number },
    events: {} as { type: 'request.started' } | { type: 'request.finished' } | { type: 'signal.received' },
    input: {} as { maxConcurrency: number; shutdownDelayMs: number },
  },
  actors: { startup: fromPromise<void>(async () => {}) },
  guards: {
    isIdle: ({ context }) => context.inFlight === 0,
    hasNoShutdownDelay: ({ context }) => context.shutdownDelayMs <= 0,
  },
  delays: { shutdownDelay: ({ context }) => context.shutdownDelayMs },
  actions: {
    countRequestStarted: assign({ inFlight: ({ context }) => context.inFlight + 1 }),
    countRequestFinished: assign({ inFlight: ({ context }) => Math.max(0, context.inFlight - 1) }),
  },
}).createMachine({
  id: 'naive',
  initial: 'starting',
  context: ({ input }) => ({ inFlight: 0, maxConcurrency: input.maxConcurrency, shutdownDelayMs: input.shutdownDelayMs }),
  on: {
    'request.started': { actions: 'countRequestStarted' },
    'request.finished': { actions: 'countRequestFinished' },
  },
  states: {
    starting: { invoke: { src: 'startup', onDone: 'running' } },
    running: { on: { 'signal.received': 'draining' } },
    draining: {
      initial: 'delay',
      states: {
        delay: { always: { guard: 'hasNoShutdownDelay', target: 'drain' }, after: { shutdownDelay: 'drain' } },
        drain: { always: { guard: 'isIdle', target: '#naive.stopped' } },
      },
    },
    stopped: { type: 'final' },
  },
})
