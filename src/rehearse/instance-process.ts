import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readdirSync, readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Clock } from './clock.ts'

export interface InstanceExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Rehearsal time of the exit. */
  readonly at: number
}

/** One running copy of the user's command, on its own PORT. */
export interface InstanceProcess {
  readonly name: string
  readonly port: number
  readonly pid: number | undefined
  readonly exited: Promise<InstanceExit>
  /** The exit, once it happened. */
  exit(): InstanceExit | undefined
  /** The last lines the command wrote (stdout and stderr), for error messages; after an exit, once its pipes are drained (200 ms at most). */
  outputTail(): Promise<string>
  /**
   * The processes of the command's process group still running (not zombies): after the command's own exit,
   * what it started and left behind, such as cluster workers outliving their primary. Empty before the spawn.
   */
  survivors(): number[]
  /** SIGTERM to the command's own process, as a platform signals a container's main process. */
  terminate(): void
  /** SIGKILL to the command's whole process group, as a platform kills a container. */
  kill(): void
}

const tailLines = 20
// How long the output may take to drain after the command exits.
const drainMs = 200

export function startInstance(name: string, command: readonly string[], port: number, env: Readonly<Record<string, string>>, clock: Clock): InstanceProcess {
  // Its own process group, so the final SIGKILL also reaches what the command started (npm, a shell, workers).
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  const lines: string[] = []
  const keep = (chunk: string) => {
    lines.push(...chunk.split('\n').filter((l) => l.trim() !== ''))
    if (lines.length > tailLines) lines.splice(0, lines.length - tailLines)
  }
  child.stdout!.setEncoding('utf8').on('data', keep)
  child.stderr!.setEncoding('utf8').on('data', keep)
  // 'exit' can come before the last output is read; a grandchild holding the pipes open must not hold us up long.
  const drained = Promise.all([once(child.stdout!, 'close'), once(child.stderr!, 'close')]).catch(() => undefined)

  // A process the command started in a session of its own (`setsid`, a daemonising server) is out of reach of
  // the group's SIGKILL and may hold the pipes forever: once the command has exited and its output had a moment
  // to drain, the pipes are let go, or the rehearsal itself could never exit (issue 18).
  const release = () =>
    void Promise.race([drained, sleep(drainMs)]).then(() => {
      child.stdout!.destroy()
      child.stderr!.destroy()
    })

  let exit: InstanceExit | undefined
  const exited = new Promise<InstanceExit>((resolve) => {
    // 'error' is a command that could not be spawned (ENOENT, EACCES): an exit at once, with the reason in the output.
    child.once('error', (error) => {
      keep(`${error.message}\n`)
      exit ??= { code: null, signal: null, at: clock() }
      release()
      resolve(exit)
    })
    child.once('exit', (code, signal) => {
      exit ??= { code, signal, at: clock() }
      release()
      resolve(exit)
    })
  })

  const running = () => exit === undefined && child.pid !== undefined
  return {
    name,
    port,
    pid: child.pid,
    exited,
    exit: () => exit,
    outputTail: async () => {
      if (exit) await Promise.race([drained, sleep(drainMs)])
      return lines.join('\n')
    },
    survivors: () => (child.pid === undefined ? [] : groupMembers(child.pid)),
    terminate: () => {
      if (running()) child.kill('SIGTERM')
    },
    kill: () => {
      if (child.pid === undefined) return
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // The group is already gone.
      }
    },
  }
}

/**
 * The live processes whose process group is `group`: /proc where there is one (Linux: each process's pgrp and
 * state), else whether signal 0 reaches the group at all (`[-group]` standing for "some").
 */
export function groupMembers(group: number): number[] {
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    try {
      process.kill(-group, 0)
      return [-group]
    } catch {
      return []
    }
  }
  const members: number[] = []
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue
    try {
      // After the command name (which may hold spaces and parentheses): state, ppid, pgrp.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) === group && state !== 'Z' && state !== 'X') members.push(Number(entry))
    } catch {
      // Gone between the listing and the read.
    }
  }
  return members
}
