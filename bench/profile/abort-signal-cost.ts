import { setImmediate as nextTurn } from 'node:timers/promises'

/**
 * `node bench/profile/abort-signal-cost.ts`: what a per-request signal costs a stream that hands it to a timer on
 * every chunk (the reference service's `GET /stream` does, through `setImmediate` from node:timers/promises).
 * Each "request" makes one signal and awaits `perRequest` turns with it; the figure is µs per turn, so the cost of
 * making the signal shows divided by `perRequest`. Compared: a plain controller's signal, `AbortSignal.any` of a
 * long-lived signal and a per-request one (what the drain notice used to hand out), a plain controller kept in a
 * list that the long-lived side aborts itself (what it hands out now), and, for scale, no signal at all.
 */
const processWide = new AbortController().signal
const open = new Set<AbortController>()

const kinds: Record<string, () => [AbortSignal | undefined, () => void]> = {
  'plain controller': () => [new AbortController().signal, () => {}],
  'AbortSignal.any': () => [AbortSignal.any([processWide, new AbortController().signal]), () => {}],
  'linked controller': () => {
    const controller = new AbortController()
    open.add(controller)
    return [controller.signal, () => open.delete(controller)]
  },
  'no signal': () => [undefined, () => {}],
}

async function turnCost(make: () => [AbortSignal | undefined, () => void], perRequest: number): Promise<number> {
  const turns = 64_000
  const started = performance.now()
  for (let r = 0; r < turns / perRequest; r++) {
    const [signal, done] = make()
    for (let i = 0; i < perRequest; i++) await nextTurn(undefined, signal === undefined ? undefined : { signal })
    done()
  }
  return ((performance.now() - started) * 1000) / turns
}

for (const perRequest of [16, 1000]) {
  for (let pass = 0; pass < 2; pass++) {
    const costs: string[] = []
    for (const [name, make] of Object.entries(kinds)) costs.push(`${name} ${(await turnCost(make, perRequest)).toFixed(2)}`)
    process.stdout.write(`${perRequest} turns per signal, pass ${pass + 1}: ${costs.join(', ')} µs per turn\n`)
  }
}
