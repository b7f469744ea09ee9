import { type ServiceProcess, startService } from './service-process.ts'
import { backend, type Proxy } from './haproxy-proxy.ts'

/** How a platform replaces a replica. */
export type RestartOrder =
  /** Cerebrium: take it out of rotation, then SIGTERM. */
  | 'drain-first'
  /** Kubernetes: SIGTERM while the balancer still routes to it; it finds out through /ready. */
  | 'sigterm-first'

export interface Exit {
  readonly replica: string
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A clustered replica's reload (WORKERS above 1): the exit code of each worker it retired. */
export interface Reload {
  readonly replica: string
  readonly retiredExitCodes: readonly (number | null)[]
}

/** Replicas of the built service (`node dist/main.js`), each on its own fixed port so a new one can take its place. */
export interface Fleet {
  restart(name: string, order: RestartOrder): Promise<Exit>
  /**
   * SIGUSR2 to a clustered replica's primary (docs/cluster.md, "Reload without a stop"), resolving once `workers`
   * of its workers have exited after it: each replaced by a new one, one at a time.
   */
  reload(name: string, workers: number, timeoutMs?: number): Promise<Reload>
  /** SIGTERM to all, waiting for their exits. */
  stop(): Promise<Exit[]>
  /** SIGKILL to any still running: for afterAll. */
  kill(): void
}

export async function startFleet(ports: Record<string, number>, env: Record<string, string>, proxy: Proxy): Promise<Fleet> {
  const start = (name: string) => startService({ ...env, HOST: '127.0.0.1', PORT: String(ports[name]) })
  const replicas = new Map<string, ServiceProcess>()
  await Promise.all(Object.keys(ports).map(async (name) => replicas.set(name, await start(name))))

  const terminate = async (name: string): Promise<Exit> => {
    const replica = replicas.get(name)!
    replica.child.kill('SIGTERM')
    const { code, signal } = await replica.exited
    return { replica: name, code, signal }
  }

  return {
    restart: async (name, order) => {
      if (order === 'drain-first') {
        await proxy.admin(`set server ${backend}/${name} state drain`)
        await proxy.waitForStatus(name, (s) => s.startsWith('DRAIN'))
      }
      const exit = await terminate(name)
      replicas.set(name, await start(name))
      if (order === 'drain-first') await proxy.admin(`set server ${backend}/${name} state ready`)
      // The balancer puts it back once two health checks in a row find /ready 200.
      await proxy.waitForStatus(name, (s) => s === 'UP')
      return exit
    },
    reload: async (name, workers, timeoutMs = 30_000) => {
      const replica = replicas.get(name)!
      const exitedWorker = (line: Record<string, unknown>) => line.msg === 'replica: worker exited'
      const from = replica.logs.length
      replica.child.kill('SIGUSR2')
      const exits = () => replica.logs.slice(from).filter(exitedWorker)
      try {
        await replica.waitForLog(() => exits().length >= workers, timeoutMs)
      } catch (error) {
        // The primary's own lines say where the reload stopped.
        const primary = replica.logs.filter((line) => line.role === 'primary').map((line) => JSON.stringify(line))
        throw new Error(`${name}: the reload did not replace ${workers} workers within ${timeoutMs} ms (${(error as Error).message}); the primary said (SIGUSR2 after its line ${from}):\n${primary.join('\n')}`)
      }
      return { replica: name, retiredExitCodes: exits().map((line) => line.exit_code as number | null) }
    },
    stop: () => Promise.all([...replicas.keys()].map(terminate)),
    kill: () => {
      for (const replica of replicas.values()) replica.kill()
    },
  }
}
