import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { repoRoot } from './service-process.ts'

export const deployFiles = ['cerebrium.toml', 'Dockerfile', 'deploy/k8s/lameduck.yaml'] as const
export type DeployFile = (typeof deployFiles)[number]

/** A replacement in one file: `[search, replacement]`; the search text must occur exactly once. */
export type Edit = readonly [string, string]

/**
 * Copies the shipped deployment files into a fresh directory and applies edits, failing loudly if an
 * edit does not apply: a broken copy that is not actually broken would make its test prove nothing.
 */
export function deployCopy(edits: Partial<Record<DeployFile, readonly Edit[]>> = {}): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lameduck-deploy-'))
  for (const file of deployFiles) {
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(repoRoot, file), join(dir, file))
  }
  for (const [file, fileEdits] of Object.entries(edits) as [DeployFile, readonly Edit[]][]) {
    let text = readFileSync(join(dir, file), 'utf8')
    for (const [search, replacement] of fileEdits) {
      const count = text.split(search).length - 1
      if (count !== 1) throw new Error(`edit of ${file}: ${JSON.stringify(search)} occurs ${count} times, expected once`)
      text = text.replace(search, replacement)
    }
    writeFileSync(join(dir, file), text)
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
