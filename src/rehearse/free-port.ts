import { once } from 'node:events'
import { createServer } from 'node:net'

/** A port free on the loopback address right now, to hand to an instance as PORT. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Whether something already listens on the port (on any address, as a service binding 0.0.0.0 would find). */
export async function portInUse(port: number): Promise<boolean> {
  const server = createServer()
  try {
    server.listen(port)
    await once(server, 'listening')
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
  } finally {
    if (server.listening) {
      server.close()
      await once(server, 'close')
    }
  }
}
