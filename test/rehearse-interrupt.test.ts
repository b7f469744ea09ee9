import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { rehearseBin } from './support/rehearse-cli.ts'

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('lameduck rehearse, interrupted', () => {
  it.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s to the command kills both instances (their own process groups) and exits %i', async (signal, code) => {
    const dir = mkdtempSync(join(tmpdir(), 'rehearse-interrupt-'))
    // Each instance writes its pid, then serves; it ignores SIGTERM, so only the process-group SIGKILL ends it.
    const service = `process.on('SIGTERM', () => {}); require('node:fs').writeFileSync(${JSON.stringify(dir)} + '/' + process.pid, ''); require('node:http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1')`
    const cli = spawn(process.execPath, [rehearseBin, 'rehearse', '--duration', '60s', '--', process.execPath, '-e', service], { cwd: dir, stdio: 'ignore' })
    const exited = once(cli, 'exit')
    for (let i = 0; i < 200 && readdirSync(dir).length < 2; i++) await sleep(50)
    const pids = readdirSync(dir).map(Number)
    expect(pids).toHaveLength(2)
    expect(pids.every(alive)).toBe(true)
    cli.kill(signal)
    const [exitCode] = await exited
    expect(exitCode).toBe(code)
    for (let i = 0; i < 40 && pids.some(alive); i++) await sleep(50)
    expect(pids.filter(alive)).toEqual([])
  }, 20_000)
})
