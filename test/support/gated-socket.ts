import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import { Duplex } from 'node:stream'

/**
 * A TCP connection whose outgoing bytes a test can hold back, under a client that writes by itself
 * (TLS, node:http2, ws): the client believes it sent a request, the server has seen only part of it.
 * `holdAfter(n)` lets the next n bytes through and keeps the rest; `passHeld()` sends what was kept and
 * keeps holding; `release()` sends what was kept and lets everything through again. Incoming bytes always pass.
 */
export class GatedSocket extends Duplex {
  readonly tcp: Socket
  /** Bytes the server has been sent so far. */
  sent = 0
  /** A reset or other error seen on the TCP connection. */
  error: NodeJS.ErrnoException | null = null
  #allowance = Number.POSITIVE_INFINITY
  #held: Buffer[] = []
  /** The client ended its side while bytes were held: the FIN waits behind them. */
  #endHeld = false

  constructor(tcp: Socket) {
    super()
    this.tcp = tcp
    tcp.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) tcp.pause()
    })
    tcp.on('end', () => this.push(null))
    tcp.on('error', (error) => {
      // Kept here, not passed up: the layers above (TLS's stream wrapper) re-emit it where no one listens.
      // They see the connection close; a test reads a reset from `error`.
      this.error = error
      this.destroy()
    })
    tcp.on('close', () => this.destroy())
  }

  static async connect(port: number): Promise<GatedSocket> {
    const tcp = connect({ port, host: '127.0.0.1' })
    await once(tcp, 'connect')
    return new GatedSocket(tcp)
  }

  get localPort(): number {
    return this.tcp.localPort ?? 0
  }

  holdAfter(bytes: number): void {
    this.#allowance = bytes
  }

  hold(): void {
    this.#allowance = 0
  }

  release(): void {
    this.#allowance = Number.POSITIVE_INFINITY
    const held = Buffer.concat(this.#held)
    this.#held = []
    if (held.length > 0) this.#send(held)
    if (this.#endHeld) this.tcp.end()
  }

  /** Sends what is held and keeps holding what comes next. */
  passHeld(): void {
    const held = Buffer.concat(this.#held)
    this.#held = []
    this.#allowance = 0
    if (held.length > 0) this.#send(held)
  }

  get heldBytes(): number {
    return this.#held.reduce((sum, b) => sum + b.length, 0)
  }

  override _read(): void {
    this.tcp.resume()
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Held bytes stay in order: nothing passes while some are kept.
    const pass = this.#held.length > 0 ? 0 : Math.min(chunk.length, this.#allowance)
    if (pass > 0) this.#send(chunk.subarray(0, pass))
    if (pass < chunk.length) this.#held.push(chunk.subarray(pass))
    if (this.#allowance !== Number.POSITIVE_INFINITY) this.#allowance -= pass
    callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#held.length > 0 || this.#allowance !== Number.POSITIVE_INFINITY) this.#endHeld = true
    else this.tcp.end()
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.tcp.destroy()
    callback(error)
  }

  #send(bytes: Buffer): void {
    this.sent += bytes.length
    if (!this.tcp.destroyed) this.tcp.write(bytes)
  }
}
