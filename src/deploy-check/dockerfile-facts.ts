import { DockerfileParser, type Instruction, type JSONInstruction } from 'dockerfile-ast'

/** A CMD or ENTRYPOINT: exec form is a JSON array run as is; shell form runs under `/bin/sh -c`. */
export interface CommandLine {
  readonly form: 'exec' | 'shell'
  readonly argv: readonly string[]
  readonly text: string
}

/** One instruction of a stage, with its flags (`--from=build`) split from its arguments. */
export interface Step {
  readonly keyword: string
  readonly line: number
  readonly flags: Readonly<Record<string, string>>
  readonly args: readonly string[]
  /** The arguments as one shell string, line continuations joined (what `RUN` hands to `sh -c`). */
  readonly text: string
  /** For RUN/CMD/ENTRYPOINT in exec form: the JSON array. */
  readonly exec: readonly string[] | undefined
  /** For ENV: the variables it sets, in order. */
  readonly env: readonly (readonly [string, string])[]
}

export interface Stage {
  readonly name: string | undefined
  readonly base: string
  readonly steps: readonly Step[]
  /** ENV after the stage's last instruction (inherited from an earlier stage it is built FROM). */
  readonly env: ReadonlyMap<string, string>
  readonly expose: readonly string[]
  readonly user: string | undefined
  readonly workdir: string
  readonly cmd: CommandLine | undefined
  readonly entrypoint: CommandLine | undefined
}

export interface DockerfileFacts {
  readonly stages: readonly Stage[]
  /** The stage the image is made of: the last one. */
  readonly final: Stage | undefined
}

/** Reads a Dockerfile with dockerfile-ast (the parser behind the Dockerfile language server). */
export function readDockerfile(source: string): DockerfileFacts {
  const parsed = DockerfileParser.parse(source)
  const stages: Stage[] = []
  let current: MutableStage | undefined
  for (const instruction of parsed.getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase()
    if (keyword === 'FROM') {
      if (current) stages.push(freeze(current))
      const args = instruction.getArguments().map((a) => a.getValue())
      const base = args[0] ?? ''
      const name = args[1]?.toUpperCase() === 'AS' ? args[2] : undefined
      const parent = stages.find((s) => s.name !== undefined && s.name === base)
      current = {
        name,
        base,
        steps: [],
        env: new Map(parent?.env),
        expose: [],
        user: parent?.user,
        workdir: parent?.workdir ?? '/',
        cmd: parent?.cmd,
        entrypoint: parent?.entrypoint,
      }
      continue
    }
    if (!current) continue // ARG before the first FROM
    const step = toStep(instruction, keyword)
    current.steps.push(step)
    if (keyword === 'ENV') {
      for (const [name, value] of step.env) current.env.set(name, value)
    } else if (keyword === 'EXPOSE') {
      current.expose.push(...step.args.map((port) => substitute(port, current!.env)))
    } else if (keyword === 'USER') {
      current.user = step.text.trim()
    } else if (keyword === 'WORKDIR') {
      const dir = substitute(step.text.trim(), current.env)
      current.workdir = dir.startsWith('/') ? dir : `${current.workdir.replace(/\/$/, '')}/${dir}`
    } else if (keyword === 'CMD') {
      current.cmd = commandLine(step)
    } else if (keyword === 'ENTRYPOINT') {
      current.entrypoint = commandLine(step)
    }
  }
  if (current) stages.push(freeze(current))
  return { stages, final: stages.at(-1) }
}

interface MutableStage {
  name: string | undefined
  base: string
  steps: Step[]
  env: Map<string, string>
  expose: string[]
  user: string | undefined
  workdir: string
  cmd: CommandLine | undefined
  entrypoint: CommandLine | undefined
}

interface EnvLike {
  getProperties(): { getName(): string; getValue(): string | null }[]
}

function freeze(stage: MutableStage): Stage {
  return Object.freeze({ ...stage, steps: Object.freeze(stage.steps), expose: Object.freeze(stage.expose) })
}

function toStep(instruction: Instruction, keyword: string): Step {
  const flags: Record<string, string> = {}
  const withFlags = instruction as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] }
  for (const flag of withFlags.getFlags?.() ?? []) flags[flag.getName()] = flag.getValue() ?? ''
  const json = instruction as JSONInstruction
  const exec =
    typeof json.getOpeningBracket === 'function' && json.getOpeningBracket() !== null
      ? json.getJSONStrings().map((s) => s.getJSONValue())
      : undefined
  const env =
    keyword === 'ENV'
      ? (instruction as unknown as EnvLike).getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)
      : []
  return {
    keyword,
    env,
    line: instruction.getRange().start.line + 1,
    flags,
    args: instruction.getArguments().map((a) => a.getValue()),
    text: instruction.getArgumentsContent() ?? '',
    exec,
  }
}

function commandLine(step: Step): CommandLine {
  if (step.exec) return { form: 'exec', argv: step.exec, text: step.text }
  return { form: 'shell', argv: ['/bin/sh', '-c', step.text], text: step.text }
}

// `$NAME` and `${NAME}` from the stage's ENV, as the builder expands them in EXPOSE and WORKDIR.
function substitute(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const value = env.get((braced ?? bare)!)
    return value ?? whole
  })
}
