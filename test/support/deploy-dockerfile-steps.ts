import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { readDockerfile, type Stage } from '../../src/deploy-check/dockerfile-facts.ts'

/**
 * What `docker build` would do, without a Docker engine: each stage gets its own directory standing in
 * for the image's filesystem root; WORKDIR, COPY (also --from a stage), ENV and RUN are carried out
 * there with the host's tools. The one substitution is the base image: `FROM node:24-slim` provides
 * `node` and `npm` on PATH, and here that is the test's own Node 24 plus npm. Any other instruction
 * fails the build, so no step of the Dockerfile can be skipped silently.
 */
export interface BuiltImage {
  /** Host directory standing in for the final stage's WORKDIR. */
  readonly workdir: string
  /** The final stage's ENV. */
  readonly env: Readonly<Record<string, string>>
  readonly cmd: readonly string[]
  readonly user: string | undefined
  /** The RUN commands executed, in order, as `stage: command`. */
  readonly ran: readonly string[]
  remove(): void
}

export interface BuildOptions {
  /** PATH given to RUN steps: the stand-in for the base image's PATH. */
  readonly path: string
  /**
   * The rest of the environment of RUN steps: the host's, for its network settings (CA bundles the
   * registry needs), without what `npm run` and vitest put there for their own children.
   */
  readonly env: Readonly<Record<string, string | undefined>>
  /** A bound on each RUN step. */
  readonly stepTimeoutMs: number
}

/** The host environment a builder would have: npm's and vitest's own variables left out. */
export function hostEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|VITEST|NODE_OPTIONS$|PATH$)/i.test(name)))
}

const running = new Set<ReturnType<typeof spawn>>()

/** Ends any RUN step still going (a test that timed out): for afterAll. */
export function stopRunningSteps(): void {
  for (const child of running) {
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

const handled = new Set(['WORKDIR', 'COPY', 'ENV', 'RUN', 'EXPOSE', 'USER', 'CMD'])

/** Copies the tracked files of a git checkout (lockfile included) into a fresh directory. */
export function cleanCopy(repo: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lameduck-repo-'))
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' }).split('\0').filter(Boolean)
  for (const file of files) {
    if (!existsSync(join(repo, file))) continue // deleted in the work tree, not committed yet
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(repo, file), join(dir, file))
  }
  return dir
}

/**
 * The build context as the builder sends it: the files not excluded by .dockerignore (last matching
 * pattern wins, `!` re-includes, a pattern matching a directory matches everything in it).
 */
export function buildContext(source: string): string {
  const context = mkdtempSync(join(tmpdir(), 'lameduck-context-'))
  const ignoreFile = join(source, '.dockerignore')
  const patterns = existsSync(ignoreFile)
    ? readFileSync(ignoreFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    : []
  const ignored = (file: string): boolean => {
    let result = false
    const parts = file.split('/')
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    for (const raw of patterns) {
      const negated = raw.startsWith('!')
      const pattern = (negated ? raw.slice(1) : raw).replace(/^\.?\//, '').replace(/\/$/, '')
      const regex = dockerignoreRegex(pattern)
      if (prefixes.some((p) => regex.test(p))) result = !negated
    }
    return result
  }
  const files = execFileSync('find', ['.', '-type', 'f'], { cwd: source, encoding: 'utf8' })
    .split('\n').filter(Boolean).map((f) => f.replace(/^\.\//, ''))
  for (const file of files) {
    if (ignored(file)) continue
    mkdirSync(dirname(join(context, file)), { recursive: true })
    cpSync(join(source, file), join(context, file))
  }
  return context
}

// The builder's pattern syntax (Go's filepath.Match plus `**`): `*` and `?` stop at `/` but, unlike
// shell globs, match a leading dot; `**` matches any number of directories.
function dockerignoreRegex(pattern: string): RegExp {
  let source = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      i++
      if (pattern[i + 1] === '/') {
        source += '(?:.*/)?'
        i++
      } else source += '.*'
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

export async function buildDockerfile(context: string, dockerfileText: string, options: BuildOptions): Promise<BuiltImage> {
  const { stages } = readDockerfile(dockerfileText)
  // A fresh HOME, as in a build container: npm's cache starts empty and stays private, so the
  // Dockerfile's `npm cache clean --force` cleans this build's cache, not the host's shared one.
  const home = mkdtempSync(join(tmpdir(), 'lameduck-home-'))
  const roots = new Map<Stage, string>()
  const ran: string[] = []
  try {
    for (const stage of stages) {
      const root = mkdtempSync(join(tmpdir(), `lameduck-stage-${stage.name ?? 'unnamed'}-`))
      roots.set(stage, root)
      let workdir = '/'
      const env: Record<string, string> = {}
      for (const step of stage.steps) {
        if (!handled.has(step.keyword)) throw new Error(`Dockerfile line ${step.line}: ${step.keyword} is not carried out by this test`)
        if (step.keyword === 'WORKDIR') {
          workdir = step.text.trim().startsWith('/') ? step.text.trim() : join(workdir, step.text.trim())
          mkdirSync(join(root, workdir), { recursive: true })
        } else if (step.keyword === 'ENV') {
          for (const [name, value] of step.env) env[name] = value
        } else if (step.keyword === 'COPY') {
          const from = step.flags['from']
          const sourceRoot = from === undefined ? context : roots.get(stages.find((s) => s.name === from)!)
          if (!sourceRoot) throw new Error(`Dockerfile line ${step.line}: COPY --from=${from} names no earlier stage`)
          const sources = step.args.slice(0, -1)
          const target = step.args.at(-1)!
          const targetPath = join(root, target.startsWith('/') ? target : join(workdir, target))
          for (const source of sources) {
            const sourcePath = join(sourceRoot, source)
            if (!existsSync(sourcePath)) throw new Error(`Dockerfile line ${step.line}: COPY ${source}: not in the ${from ?? 'build context'}`)
            const into = target.endsWith('/') || sources.length > 1
            const destination = into && !statSync(sourcePath).isDirectory() ? join(targetPath, basename(source)) : targetPath
            mkdirSync(dirname(destination), { recursive: true })
            cpSync(sourcePath, destination, { recursive: true })
          }
        } else if (step.keyword === 'RUN') {
          const argv = step.exec ?? ['/bin/sh', '-c', step.text]
          ran.push(`${stage.name ?? 'stage'}: ${step.exec ? JSON.stringify(step.exec) : step.text}`)
          await run(argv, join(root, workdir), { ...options.env, HOME: home, PATH: options.path, ...env }, options.stepTimeoutMs)
        }
      }
    }
  } catch (error) {
    for (const dir of [home, ...roots.values()]) rmSync(dir, { recursive: true, force: true })
    throw error
  }
  const final = stages.at(-1)!
  const root = roots.get(final)!
  const argv = [...(final.entrypoint?.argv ?? []), ...(final.cmd?.argv ?? [])]
  return {
    workdir: join(root, final.workdir),
    env: Object.fromEntries(final.env),
    cmd: argv,
    user: final.user,
    ran,
    remove: () => {
      for (const dir of [home, ...roots.values()]) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** Opens the stage directories to an unprivileged user, as the image's files would be. */
export function openToAll(dir: string): void {
  for (let at = dir; at !== dirname(at) && at.startsWith(tmpdir() + '/'); at = dirname(at)) chmodSync(at, 0o755)
}

function run(argv: readonly string[], cwd: string, env: Record<string, string | undefined>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout ends npm and the install scripts it started.
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    running.add(child)
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs)
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c.toString()))
    child.stderr.on('data', (c: Buffer) => (output += c.toString()))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      running.delete(child)
      if (code === 0) resolve()
      else reject(new Error(`RUN ${argv.join(' ')} ended with ${signal ?? `exit ${code}`} in ${cwd}:\n${output.slice(-4000)}`))
    })
  })
}
