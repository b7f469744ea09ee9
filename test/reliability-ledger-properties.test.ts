import fc from 'fast-check'
import { expect, it } from 'vitest'
import { RequestLedger } from '../src/machine/request-ledger.ts'

type Op = { kind: 'begin'; id: number } | { kind: 'end'; id: number; finished: boolean } | { kind: 'abandon' }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('begin' as const), id: fc.nat(30) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('end' as const), id: fc.nat(30), finished: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abandon' as const }) },
)

// The ledger against a plain model, over any interleaving of starts, ends (repeated, unknown,
// after abandon) and abandons: the count is never negative nor off by one, each request is
// released once, and the edges the machine relies on fire exactly when the count crosses them.
it('in-flight, totals and edges match a model under any interleaving', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.array(op, { maxLength: 200 }), (maxConcurrency, ops) => {
      // The ledger takes objects (it links them); one per id, as the HTTP layer has one response per request.
      const items = Array.from({ length: 31 }, (_, id) => ({ id }))
      const ledger = new RequestLedger<{ id: number }>(maxConcurrency)
      const edges: string[] = []
      ledger.subscribe((edge) => edges.push(edge))
      const active = new Set<number>()
      let completed = 0
      let aborted = 0
      let abandoned = 0
      for (const o of ops) {
        const before = active.size
        const expected: string[] = []
        if (o.kind === 'begin') {
          // The HTTP layer begins each response once; a live id is not begun again.
          if (active.has(o.id)) continue
          ledger.begin(items[o.id]!)
          active.add(o.id)
          if (active.size === maxConcurrency) expected.push('capacity')
        } else if (o.kind === 'end') {
          const released = ledger.end(items[o.id]!, o.finished)
          expect(released).toBe(active.has(o.id))
          if (active.delete(o.id)) {
            if (o.finished) completed++
            else aborted++
            if (active.size === maxConcurrency - 1) expected.push('capacity')
            if (active.size === 0) expected.push('idle')
          }
        } else {
          const abandonedItems = ledger.abandon()
          expect(new Set(abandonedItems.map((item) => item.id))).toEqual(active)
          abandoned += active.size
          if (active.size > 0) expected.push('idle')
          active.clear()
        }
        expect(edges.splice(0), `after ${JSON.stringify(o)} from ${before}`).toEqual(expected)
        expect(ledger.inFlight).toBe(active.size)
        expect(ledger.atCapacity).toBe(active.size >= maxConcurrency)
      }
      expect(ledger.counts()).toMatchObject({ inFlight: active.size, completed, aborted, abandoned })
    }),
    { numRuns: 1_000 },
  )
})
