import { setTimeout as sleep } from 'node:timers/promises'
import type { InstanceProcess } from './instance-process.ts'
import type { ProbePoller } from './probe-poller.ts'
import { RehearseError } from './rehearse-error.ts'

/**
 * Waits for the instance's first ready answer, or says precisely why there will be none: the command
 * exited, nothing ever listened on its PORT, the readiness path is not served (404), or it never turned ready.
 */
export async function waitReady(instance: InstanceProcess, poller: ProbePoller, readyPath: string | null, timeoutMs: number): Promise<void> {
  const cancel = new AbortController()
  const deadline = sleep(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const)
  const check = readyPath === null ? `a TCP connection to port ${instance.port}` : `GET ${readyPath}`
  try {
    for (;;) {
      const next = await Promise.race([poller.nextAnswer().then(() => 'answer' as const), instance.exited.then(() => 'exited' as const), deadline])
      if (next === 'exited') {
        const exit = instance.exit()!
        const how = exit.signal ? `killed by ${exit.signal}` : exit.code === null ? 'could not be started' : `exited with code ${exit.code}`
        throw new RehearseError(`instance ${instance.name}: the command ${how} before ${check} succeeded (PORT=${instance.port})${await tail(instance)}`)
      }
      if (poller.state() === 'ready') return
      if (readyPath !== null && poller.lastStatus() === 404) {
        throw new RehearseError(
          `instance ${instance.name}: GET ${readyPath} answered 404, so it is not a readiness path the service serves; set --ready-path (or readycheck_endpoint in cerebrium.toml)`,
        )
      }
      if (next === 'timeout') {
        if (!poller.everConnected()) {
          throw new RehearseError(`instance ${instance.name}: nothing accepted a connection on port ${instance.port} within ${timeoutMs} ms; does the command listen on $PORT?${await tail(instance)}`)
        }
        throw new RehearseError(`instance ${instance.name}: ${check} answered ${poller.lastStatus() ?? 'no status'}${poller.lastBody() ? ` ${poller.lastBody()}` : ''} for ${timeoutMs} ms; it never became ready (--startup-timeout)${await tail(instance)}`)
      }
    }
  } finally {
    cancel.abort()
  }
}

async function tail(instance: InstanceProcess): Promise<string> {
  const output = await instance.outputTail()
  return output ? `\nits last output:\n${output.replace(/^/gm, '  ')}` : ''
}
