import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { repoDir } from './reliability-child.ts'

/**
 * The phase sweep's table in docs/reliability.md, between `<!-- phase-sweep:begin -->` and
 * `<!-- phase-sweep:end -->`, is what the suite saw: each test file owns the rows of its kinds and,
 * after its cells ran, compares them with the doc (a mismatch fails with a diff), or with
 * UPDATE_PHASE_SWEEP=1 writes them there. So the table cannot drift from the code.
 */

/** Where each kind's rows go, whichever file runs first. */
export const sweepKinds = [
  'HTTP/1.1, one request',
  'HTTP/1.1 keep-alive, second request',
  'HTTP/1.1, three pipelined',
  'HTTP/1.1 chunked upload',
  'HTTP/1.1 large body',
  'HTTPS (HTTP/1.1 over TLS)',
  'h2c, one stream',
  'h2c, several streams',
  'HTTP/2 over TLS, one stream',
  'HTTP/2 over TLS, several streams',
  'SSE `GET /stream`',
  'WebSocket `GET /ws`',
] as const
export type SweepKind = (typeof sweepKinds)[number]

export interface SweepRow {
  kind: SweepKind
  phase: string
  /** What the client does once the drain has begun. */
  then: string
  sees: string
  exit: string
}

const docPath = resolve(repoDir, 'docs/reliability.md')
const begin = '<!-- phase-sweep:begin -->'
const end = '<!-- phase-sweep:end -->'
const header = ['| kind | phase at SIGTERM | then the client | the client sees | exit |', '|---|---|---|---|---|']

export class SweepTable {
  readonly #kinds: readonly SweepKind[]
  readonly #rows = new Map<string, SweepRow>()

  constructor(kinds: readonly SweepKind[]) {
    this.#kinds = kinds
  }

  /** A cell, in the order it appears in the table. */
  declare(kind: SweepKind, phase: string, then: string): string {
    if (!this.#kinds.includes(kind)) throw new Error(`kind ${kind} is not this file's`)
    const key = `${kind} / ${phase}`
    if (this.#rows.has(key)) throw new Error(`cell declared twice: ${key}`)
    this.#rows.set(key, { kind, phase, then, sees: '', exit: '' })
    return key
  }

  record(key: string, sees: string, exit: string): void {
    const row = this.#rows.get(key)!
    row.sees = sees
    row.exit = exit
  }

  /** Null when the doc agrees (or was just rewritten); otherwise what differs. Cells not run: not checked. */
  settle(): string | null {
    const rows = [...this.#rows.values()]
    if (rows.some((r) => r.sees === '')) return null
    const ours = rows.map(rowLine)
    if (process.env.UPDATE_PHASE_SWEEP === '1') {
      withLock(() => writeFileSync(docPath, replaceRows(readFileSync(docPath, 'utf8'), this.#kinds, rows)))
      return null
    }
    const documented = tableRows(readFileSync(docPath, 'utf8')).filter((line) => this.#kinds.includes(kindOf(line)))
    if (documented.join('\n') === ours.join('\n')) return null
    const missing = documented.filter((line) => !ours.includes(line)).map((line) => `- ${line}`)
    const added = ours.filter((line) => !documented.includes(line)).map((line) => `+ ${line}`)
    return [
      'The phase-sweep table in docs/reliability.md differs from what this run saw (- in the doc, + seen).',
      'If the change is intended, rerun with UPDATE_PHASE_SWEEP=1 to rewrite it:',
      ...missing,
      ...added,
      ...(missing.length + added.length === 0 ? ['(same rows, another order)'] : []),
    ].join('\n')
  }
}

const cell = (text: string) => text.replaceAll('|', '\\|')
const rowLine = (r: SweepRow) => `| ${cell(r.kind)} | ${cell(r.phase)} | ${cell(r.then)} | ${cell(r.sees)} | ${cell(r.exit)} |`
const kindOf = (line: string) => line.slice(2, line.indexOf(' | ')).replaceAll('\\|', '|') as SweepKind

function section(doc: string): { before: string; inside: string; after: string } {
  const from = doc.indexOf(begin)
  const to = doc.indexOf(end)
  if (from < 0 || to < from) throw new Error(`docs/reliability.md has no ${begin} ... ${end} section`)
  return { before: doc.slice(0, from + begin.length), inside: doc.slice(from + begin.length, to), after: doc.slice(to) }
}

function tableRows(doc: string): string[] {
  return section(doc)
    .inside.split('\n')
    .filter((line) => line.startsWith('| ') && !header.includes(line))
}

function replaceRows(doc: string, kinds: readonly SweepKind[], rows: SweepRow[]): string {
  const kept = tableRows(doc).filter((line) => !kinds.includes(kindOf(line)))
  const ours = rows.map(rowLine)
  // Grouped by kind in sweepKinds' order; within a kind, in the order its file declares them.
  const ordered = sweepKinds.flatMap((kind) => [...kept, ...ours].filter((line) => kindOf(line) === kind))
  const { before, after } = section(doc)
  return `${before}\n${[...header, ...ordered].join('\n')}\n${after}`
}

/** Test files run in parallel workers; each rewrites only its rows, one at a time. */
function withLock(run: () => void): void {
  const lock = `${docPath}.phase-sweep-lock`
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      mkdirSync(lock)
      break
    } catch {
      if (Date.now() > deadline) throw new Error(`${lock} held for 10 s: remove it if no sweep is running`)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
    }
  }
  try {
    run()
  } finally {
    rmdirSync(lock)
  }
}
