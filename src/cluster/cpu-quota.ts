import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'

/**
 * The CPUs a container's cgroup lets this process use, as a whole number (`cpu.max` 150000/100000 is 1),
 * or null with no quota. cgroup v2 (`cpu.max`) and v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us`); each
 * level up to the root is read and the tightest wins, as the kernel applies it. `root` is for tests.
 *
 * Why not `os.availableParallelism()` alone: it counts the CPU set (affinity) everywhere, and the quota
 * only with the libuv of Node 22.12+ and 24, reading the process's own cgroup level only. A Kubernetes
 * `limits.cpu` or Cerebrium `cpu` is a quota, not a set: the host's 64 CPUs stay visible.
 */
export function cgroupCpuQuota(root = '/'): number | null {
  let lines: string[]
  try {
    lines = readFileSync(join(root, 'proc/self/cgroup'), 'utf8').split('\n')
  } catch {
    return null
  }
  const v2 = lines.find((line) => line.startsWith('0::'))
  if (v2 !== undefined) {
    return tightest(join(root, 'sys/fs/cgroup'), v2.slice(3), (dir) => {
      const [quota, period] = read(join(dir, 'cpu.max'))?.trim().split(/\s+/) ?? []
      return quota === undefined || quota === 'max' ? null : wholeCpus(Number(quota), Number(period))
    })
  }
  const v1 = lines.map((line) => line.split(':')).find(([, controllers]) => controllers?.split(',').includes('cpu'))
  if (v1 === undefined) return null
  const mount = join(root, 'sys/fs/cgroup', v1[1]!)
  return tightest(mount, v1[2] ?? '/', (dir) => {
    const quota = Number(read(join(dir, 'cpu.cfs_quota_us')))
    const period = Number(read(join(dir, 'cpu.cfs_period_us')))
    return quota > 0 ? wholeCpus(quota, period) : null
  })
}

/** `WORKERS=auto`: the CPUs this process may use, the smaller of its CPU set and its cgroup quota; at least 1. */
export function autoWorkerCount(root = '/', parallelism = availableParallelism()): number {
  const quota = cgroupCpuQuota(root)
  return Math.max(1, quota === null ? parallelism : Math.min(parallelism, quota))
}

function tightest(mount: string, path: string, readLevel: (dir: string) => number | null): number | null {
  let best: number | null = null
  // From the process's own group up to the mount: a parent's quota binds its children.
  const parts = path.split('/').filter((p) => p !== '' && p !== '..')
  for (let depth = parts.length; depth >= 0; depth--) {
    const cpus = readLevel(join(mount, ...parts.slice(0, depth)))
    if (cpus !== null) best = best === null ? cpus : Math.min(best, cpus)
  }
  return best
}

function wholeCpus(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null
  // Whole CPUs, rounded down as libuv does: 1.5 CPUs run one busy worker without throttling, not two.
  return Math.max(1, Math.floor(quota / period))
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return null
  }
}
