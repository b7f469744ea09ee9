import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { RehearsalReport } from '../../src/rehearse/rehearsal-report.ts'
import { repoRoot } from './service-process.ts'

export const rehearseBin = resolve(repoRoot, 'dist/rehearse/cli.js')
export const fixture = (name: string) => resolve(repoRoot, 'test/fixtures', name)

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** With --json: the parsed report. */
  readonly report: RehearsalReport | undefined
  readonly ms: number
}

/**
 * Runs the built `lameduck` bin (dist/rehearse/cli.js, as `npx lameduck` would) in an empty directory, so no
 * cerebrium.toml is found unless a test names one. `env` reaches the instances through the CLI's environment.
 */
export function runRehearse(args: readonly string[], env: Record<string, string> = {}, cwd = mkdtempSync(join(tmpdir(), 'rehearse-'))): Promise<CliRun> {
  const started = performance.now()
  const child = spawn(process.execPath, [rehearseBin, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
  return new Promise((resolvePromise) => {
    child.once('close', (code) => {
      let report: RehearsalReport | undefined
      if (args.includes('--json') && stdout.trim().startsWith('{')) report = JSON.parse(stdout) as RehearsalReport
      resolvePromise({ code, stdout, stderr, report, ms: performance.now() - started })
    })
  })
}

/** The reference service as the Dockerfile runs it, for `-- <command>`. */
export const referenceService = [process.execPath, resolve(repoRoot, 'dist/main.js')]
