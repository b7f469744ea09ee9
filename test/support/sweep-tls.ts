import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { afterAll, beforeAll } from 'vitest'
import type { GatedSocket } from './gated-socket.ts'
import type { SweepChildOptions } from './sweep-child.ts'
import { makeTestCertificate } from './test-certificate.ts'

/** A throwaway certificate in files for the fixture, made before the file's cells and removed after. */
export function sweepCertificate(): () => NonNullable<SweepChildOptions['tls']> {
  let files: NonNullable<SweepChildOptions['tls']> | undefined
  let dir = ''
  beforeAll(() => {
    const { key, cert } = makeTestCertificate()
    dir = mkdtempSync(join(tmpdir(), 'lameduck-sweep-'))
    writeFileSync(join(dir, 'key.pem'), key)
    writeFileSync(join(dir, 'cert.pem'), cert)
    files = { keyFile: join(dir, 'key.pem'), certFile: join(dir, 'cert.pem'), ca: cert }
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return () => files!
}

/** A TLS client over a gated TCP connection, so the test can stop it anywhere in the handshake. */
export function tlsOver(gate: GatedSocket, ca: string, alpn: string[] = ['http/1.1']): TLSSocket {
  const socket = tlsConnect({ socket: gate, ca, servername: 'localhost', ALPNProtocols: alpn })
  return socket
}

/** Waits for something to be written into the gate (the ClientHello, say) while it holds. */
export async function untilHeld(gate: GatedSocket): Promise<void> {
  while (gate.heldBytes === 0) await new Promise((resolve) => setTimeout(resolve, 2))
}

export async function secured(socket: TLSSocket): Promise<void> {
  await once(socket, 'secureConnect')
}
