import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort } from './free-port.ts'

/** A real HAProxy in front of replicas on 127.0.0.1, health-checking `/ready`, driven through its admin socket. */
export interface Proxy {
  readonly origin: string
  /** Sends one admin command (`set server be/r1 state drain`) and returns HAProxy's answer. */
  admin(command: string): Promise<string>
  /** Each server's status as HAProxy's stats report it: UP, DOWN, DRAIN, MAINT, ... */
  statuses(): Promise<Record<string, string>>
  waitForStatus(server: string, wanted: (status: string) => boolean, timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export const backend = 'be'


/** The configuration under test: what a platform's balancer does, and nothing that would hide a failure. */
export function haproxyConfig(options: { port: number; socket: string; servers: Record<string, number> }): string {
  const servers = Object.entries(options.servers).map(([name, port]) => `    server ${name} 127.0.0.1:${port} check`)
  return [
    'global',
    `    stats socket ${options.socket} mode 600 level admin`,
    '',
    'defaults',
    '    mode http',
    '    timeout connect 2s',
    '    timeout client 30s',
    '    timeout server 30s',
    // HAProxy retries a failed connection 3 times by default, one second apart: long enough for a
    // restarted replica to come back and hide the refusal. No retries, no redispatch: every refused
    // or reset connection reaches the client as an error and is counted.
    '    retries 0',
    // Say whom a request is from: without it every client reaches a replica from 127.0.0.1 and looks
    // local to anything that trusts loopback, such as the live view without a token (issue 10).
    '    option forwardfor',
    '',
    'frontend fe',
    `    bind 127.0.0.1:${options.port}`,
    `    default_backend ${backend}`,
    '',
    `backend ${backend}`,
    '    balance roundrobin',
    '    option httpchk GET /ready',
    '    default-server inter 100ms fall 2 rise 2',
    // A slow answer on a busy CI machine is not a failed check (the default timeout is `inter`);
    // a 503 or a refused connection still fails it at once.
    '    timeout check 2s',
    ...servers,
    '',
  ].join('\n')
}

export async function startProxy(servers: Record<string, number>): Promise<Proxy> {
  const dir = mkdtempSync(join(tmpdir(), 'lameduck-haproxy-'))
  const socket = join(dir, 'admin.sock')
  const port = await freePort()
  const configFile = join(dir, 'haproxy.cfg')
  writeFileSync(configFile, haproxyConfig({ port, socket, servers }))

  // -db: foreground, no daemon, so the test owns the process and its end.
  // Debian installs it in /usr/sbin, which is not on every user's PATH.
  const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/usr/local/sbin` }
  const child: ChildProcess = spawn('haproxy', ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  const spawnError = once(child, 'error').then(([error]) => {
    throw new Error(`could not start haproxy (is the Debian package installed?): ${(error as Error).message}`)
  })
  const exited = once(child, 'exit')

  const admin = (command: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const connection = createConnection(socket)
      let answer = ''
      connection.setEncoding('utf8')
      connection.on('connect', () => connection.end(`${command}\n`))
      connection.on('data', (chunk: string) => (answer += chunk))
      connection.on('end', () => resolve(answer))
      connection.on('error', reject)
    })

  const statuses = async (): Promise<Record<string, string>> => {
    const csv = await admin('show stat')
    const [header, ...rows] = csv.replace(/^# /, '').trim().split('\n')
    const columns = header!.split(',')
    const at = (name: string) => columns.indexOf(name)
    const result: Record<string, string> = {}
    for (const row of rows) {
      const cells = row.split(',')
      if (cells[at('pxname')] === backend && !['BACKEND', 'FRONTEND'].includes(cells[at('svname')]!)) {
        result[cells[at('svname')]!] = cells[at('status')]!
      }
    }
    return result
  }

  const waitForStatus = async (server: string, wanted: (status: string) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      last = (await statuses())[server] ?? '(no such server)'
      if (wanted(last)) return
      await sleep(20)
    }
    throw new Error(`haproxy server ${server} still ${last} after ${timeoutMs} ms`)
  }

  // Ready once the admin socket answers.
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited ${child.exitCode}: ${stderr}`)
    try {
      await Promise.race([admin('show info'), spawnError])
      break
    } catch (error) {
      if (Date.now() > deadline || String(error).includes('could not start')) throw error
      await sleep(50)
    }
  }

  return {
    origin: `http://127.0.0.1:${port}`,
    admin,
    statuses,
    waitForStatus,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

