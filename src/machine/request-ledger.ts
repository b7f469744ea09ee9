import type { RejectReason } from './lifecycle-names.ts'

export type LedgerEdge = 'capacity' | 'idle'
type EdgeListener = (edge: LedgerEdge) => void

/** A link of the in-flight list, kept on the item itself under a symbol only its ledger knows. */
interface Link<Item> {
  readonly item: Item
  prev: Link<Item> | null
  next: Link<Item> | null
}
/** The item seen as a holder of its link. */
const slotsOf = <Item>(item: Item) => item as unknown as Record<symbol, Link<Item> | undefined>

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
 * In-flight work is a list of opaque items (the HTTP layer uses its responses).
 * Each item carries its own link, so ending an item is O(1) and ending it twice
 * is a no-op: every request is released exactly once.
 *
 * Why a linked list and not a `Set`: a long-lived Set with an entry added and
 * deleted per request keeps deleted entries until it rehashes, so each
 * response survived two scavenges and was promoted; the old generation grew
 * under load (bench/findings.md: 25 -> 56 MB of old space over three runs, and
 * lower throughput). The list drops its reference the moment a request ends.
 */
export class RequestLedger<Item extends object = object> {
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
  // One key per ledger: an item in flight in one ledger is not in flight in another.
  readonly #linkKey = Symbol('lameduck.ledger.link')
  #head: Link<Item> | null = null
  #size = 0
  #listeners: EdgeListener[] = []

  constructor(maxConcurrency: number) {
    this.maxConcurrency = maxConcurrency
  }

  get inFlight(): number {
    return this.#size
  }

  get atCapacity(): boolean {
    return this.#size >= this.maxConcurrency
  }

  begin(item: Item): void {
    const linked = slotsOf(item)
    if (linked[this.#linkKey] !== undefined) return
    const link: Link<Item> = { item, prev: null, next: this.#head }
    if (this.#head !== null) this.#head.prev = link
    this.#head = link
    linked[this.#linkKey] = link
    if (++this.#size === this.maxConcurrency) this.#emit('capacity')
  }

  /** Whether `item` is in flight here. */
  has(item: Item): boolean {
    return slotsOf(item)[this.#linkKey] !== undefined
  }

  /** Releases `item`; `finished` says whether its response completed. Returns false if it was not in flight. */
  end(item: Item, finished: boolean): boolean {
    const linked = slotsOf(item)
    const link = linked[this.#linkKey]
    if (link === undefined) return false
    // Cleared, not deleted: deleting a property would turn every response into a slow dictionary object.
    linked[this.#linkKey] = undefined
    if (link.prev !== null) link.prev.next = link.next
    else this.#head = link.next
    if (link.next !== null) link.next.prev = link.prev
    if (finished) this.completed++
    else this.aborted++
    const size = --this.#size
    if (size === this.maxConcurrency - 1) this.#emit('capacity')
    if (size === 0) this.#emit('idle')
    return true
  }

  reject(reason: RejectReason): void {
    this.rejected[reason]++
  }

  /** At the drain deadline: what is still in flight is abandoned, and later ends of it are not counted again. */
  abandon(): Item[] {
    const items = [...this.items()]
    for (const item of items) slotsOf(item)[this.#linkKey] = undefined
    this.#head = null
    this.#size = 0
    this.abandoned += items.length
    if (items.length > 0) this.#emit('idle')
    return items
  }

  *items(): IterableIterator<Item> {
    for (let link = this.#head; link !== null; link = link.next) yield link.item
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
