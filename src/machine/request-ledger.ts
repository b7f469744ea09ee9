import type { RejectReason } from './lifecycle-names.ts'

export type LedgerEdge = 'capacity' | 'idle'
type EdgeListener = (edge: LedgerEdge) => void

/**
 * The request counts of the lifecycle, held in the machine's context.
 *
 * Why not one XState event per request start and end: a `send()` costs 1.2-1.6 µs
 * here, and two per request took about 40% of a hello route's throughput
 * (docs/design.md). The ledger is the one mutable member of the context: the
 * HTTP layer calls `begin`/`end`, and the machine hears only the edges that
 * matter to the lifecycle (the count reaching zero, crossing capacity) through
 * `subscribe`. There is no other copy of these numbers anywhere.
 *
 * In-flight work is a set of opaque items (the HTTP layer uses its responses),
 * so ending the same item twice is a no-op: every request is released exactly once.
 */
export class RequestLedger<Item = unknown> {
  readonly maxConcurrency: number
  completed = 0
  aborted = 0
  abandoned = 0
  readonly rejected: Record<RejectReason, number> = {
    starting: 0,
    draining: 0,
    at_capacity: 0,
    stopped: 0,
  }
  readonly #active = new Set<Item>()
  #listeners: EdgeListener[] = []

  constructor(maxConcurrency: number) {
    this.maxConcurrency = maxConcurrency
  }

  get inFlight(): number {
    return this.#active.size
  }

  get atCapacity(): boolean {
    return this.#active.size >= this.maxConcurrency
  }

  get rejectedTotal(): number {
    const r = this.rejected
    return r.starting + r.draining + r.at_capacity + r.stopped
  }

  begin(item: Item): void {
    this.#active.add(item)
    if (this.#active.size === this.maxConcurrency) this.#emit('capacity')
  }

  /** Releases `item`; `finished` says whether its response completed. Returns false if it was not in flight. */
  end(item: Item, finished: boolean): boolean {
    if (!this.#active.delete(item)) return false
    if (finished) this.completed++
    else this.aborted++
    const size = this.#active.size
    if (size === this.maxConcurrency - 1) this.#emit('capacity')
    if (size === 0) this.#emit('idle')
    return true
  }

  reject(reason: RejectReason): void {
    this.rejected[reason]++
  }

  /** At the drain deadline: what is still in flight is abandoned, and later ends of it are not counted again. */
  abandon(): Item[] {
    const items = [...this.#active]
    this.abandoned += items.length
    this.#active.clear()
    if (items.length > 0) this.#emit('idle')
    return items
  }

  items(): IterableIterator<Item> {
    return this.#active.values()
  }

  /** Listens for edges (capacity crossed either way, in-flight reached zero). Returns the unsubscribe. */
  subscribe(listener: EdgeListener): () => void {
    this.#listeners = [...this.#listeners, listener]
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener)
    }
  }

  counts(): LedgerCounts {
    return {
      inFlight: this.inFlight,
      maxConcurrency: this.maxConcurrency,
      completed: this.completed,
      aborted: this.aborted,
      abandoned: this.abandoned,
      rejected: { ...this.rejected },
    }
  }

  #emit(edge: LedgerEdge): void {
    // Copy-on-write listener list: a listener that unsubscribes while being called is safe.
    for (const listener of this.#listeners) listener(edge)
  }
}

export interface LedgerCounts {
  inFlight: number
  maxConcurrency: number
  completed: number
  aborted: number
  abandoned: number
  rejected: Record<RejectReason, number>
}
