import type { EventEmitter } from 'node:events'

interface Closable extends EventEmitter {
  destroy(): unknown
}

/** Open connections of one kind, each removed when it closes; tells when none is left. */
export class SocketSet<T extends Closable> implements Iterable<T> {
  readonly #open = new Set<T>()
  #waiters: (() => void)[] = []

  add(socket: T): void {
    this.#open.add(socket)
    socket.once('close', () => {
      this.#open.delete(socket)
      if (this.#open.size === 0) this.#wake()
    })
  }

  get size(): number {
    return this.#open.size
  }

  whenEmpty(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  destroyAll(): number {
    const count = this.#open.size
    for (const socket of [...this.#open]) socket.destroy()
    return count
  }

  [Symbol.iterator](): Iterator<T> {
    return [...this.#open][Symbol.iterator]()
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const wake of waiters) wake()
  }
}
