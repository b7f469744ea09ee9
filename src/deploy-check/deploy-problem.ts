/** One thing wrong with a deployment file: where, what was found, and what was expected. */
export interface DeployProblem {
  readonly file: string
  /** The setting, as a path into the file (`cerebrium.scaling.replica_concurrency`, `CMD`). */
  readonly key: string
  /** What the file says; `undefined` when the setting is absent. */
  readonly value: unknown
  readonly expected: string
}

/** Not wrong, but decided where the file does not show it (`WORKERS=auto`): said, never a failure. */
export interface DeployNote {
  readonly file: string
  readonly key: string
  readonly value: unknown
  readonly note: string
}

/** `file: key = value: note`: the same shape as a problem's line. */
export function formatNote(note: DeployNote): string {
  return `${note.file}: ${note.key} = ${showValue(note.value)}: ${note.note}`
}

/** `file: key = value: expected ...`: one line, greppable, naming everything needed to fix it. */
export function formatProblem(problem: DeployProblem): string {
  return `${problem.file}: ${problem.key} = ${showValue(problem.value)}: expected ${problem.expected}`
}

export function showValue(value: unknown): string {
  if (value === undefined) return '(missing)'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value)
  return JSON.stringify(value)
}
