import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { autoWorkerCount, cgroupCpuQuota } from '../src/cluster/cpu-quota.ts'

/** A fake root with the given files (path relative to the root, content). */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'lameduck-cgroup-'))
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  return root
}

describe('WORKERS=auto reads the CPUs a container may use', () => {
  it('reads a cgroup v2 quota at the root of a container namespace', () => {
    const root = fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '200000 100000\n' })
    expect(cgroupCpuQuota(root)).toBe(2)
    expect(autoWorkerCount(root, 64)).toBe(2)
  })

  it('takes the tightest quota from the process group up to the root', () => {
    const root = fakeRoot({
      'proc/self/cgroup': '0::/kubepods/pod1/app\n',
      'sys/fs/cgroup/kubepods/pod1/app/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/kubepods/pod1/cpu.max': '300000 100000\n',
      'sys/fs/cgroup/kubepods/cpu.max': '800000 100000\n',
    })
    expect(cgroupCpuQuota(root)).toBe(3)
  })

  it('rounds a fractional quota down, to at least one worker', () => {
    expect(cgroupCpuQuota(fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '150000 100000' }))).toBe(1)
    expect(cgroupCpuQuota(fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '50000 100000' }))).toBe(1)
  })

  it('reads no quota from "max", and then the CPU set decides', () => {
    const root = fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': 'max 100000\n' })
    expect(cgroupCpuQuota(root)).toBeNull()
    expect(autoWorkerCount(root, 6)).toBe(6)
  })

  it('keeps the CPU set when it is smaller than the quota', () => {
    const root = fakeRoot({ 'proc/self/cgroup': '0::/\n', 'sys/fs/cgroup/cpu.max': '800000 100000\n' })
    expect(autoWorkerCount(root, 2)).toBe(2)
  })

  it('reads a cgroup v1 quota, and -1 as none', () => {
    const v1 = fakeRoot({
      'proc/self/cgroup': '12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '400000\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    })
    expect(cgroupCpuQuota(v1)).toBe(4)
    const none = fakeRoot({
      'proc/self/cgroup': '4:cpu,cpuacct:/\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    })
    expect(cgroupCpuQuota(none)).toBeNull()
  })

  it('answers no quota where there is no cgroup file at all', () => {
    expect(cgroupCpuQuota(fakeRoot({}))).toBeNull()
    expect(autoWorkerCount(fakeRoot({}), 3)).toBe(3)
  })

  it('gives at least one worker on this machine, and no more than its CPU set', async () => {
    const { availableParallelism } = await import('node:os')
    const count = autoWorkerCount()
    expect(count).toBeGreaterThanOrEqual(1)
    expect(count).toBeLessThanOrEqual(availableParallelism())
  })
})
