import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { parse as parseToml } from 'smol-toml'
import { parseAllDocuments } from 'yaml'

// Shared by `check:deploy` (src/deploy-check) and `lameduck rehearse` (src/rehearse): both read the same
// deployment files with the same parsers, and neither should disagree with the other on what they say.

export type Table = Record<string, unknown>

export function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** The value at `keys` in nested tables, or undefined when any step is missing or not a table. */
export function dig(node: unknown, keys: readonly string[]): unknown {
  return keys.reduce<unknown>((at, key) => (isTable(at) ? at[key] : undefined), node)
}

/**
 * Largest deployment file read. Real ones are a few KiB; without a cap a 38 MB manifest took 10.8 s and 1.2 GB
 * to parse (issue 18), so a file beyond this is refused before a byte of it is parsed.
 */
export const maxDeployFileBytes = 1024 * 1024

/**
 * At most this many aliases are expanded in a manifest. Kubernetes manifests use few or none; an alias
 * bomb (aliases of aliases) expands to billions of nodes from a few hundred bytes.
 */
export const maxManifestAliases = 100

export type DeployFileRead = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly code: string; readonly reason: string }

/** Reads a deployment file as UTF-8, refusing one over `maxDeployFileBytes` (by its size, before reading it). */
export function readDeployFile(path: string): DeployFileRead {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    return { ok: false, code, reason: code }
  }
  try {
    const stat = fstatSync(fd)
    if (stat.isDirectory()) return { ok: false, code: 'EISDIR', reason: 'EISDIR' }
    if (stat.size > maxDeployFileBytes) return { ok: false, code: 'EFBIG', reason: `${stat.size} bytes, over the ${maxDeployFileBytes}-byte limit for a deployment file` }
    // Read one byte past the cap: a file that grew since fstat (or a pipe) still cannot exceed it.
    const buffer = Buffer.alloc(maxDeployFileBytes + 1)
    let length = 0
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null)
    if (length > maxDeployFileBytes) return { ok: false, code: 'EFBIG', reason: `over the ${maxDeployFileBytes}-byte limit for a deployment file` }
    return { ok: true, text: buffer.toString('utf8', 0, length) }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
    return { ok: false, code, reason: code }
  } finally {
    closeSync(fd)
  }
}

/** Parses cerebrium.toml; throws the parser's error (with line and column) on invalid TOML. */
export function parseCerebriumToml(text: string): Table {
  return parseToml(text)
}

export type ManifestParse =
  | { readonly ok: true; readonly manifests: readonly unknown[] }
  | { readonly ok: false; readonly errors: readonly string[] }

/**
 * Parses a multi-document Kubernetes YAML file into plain objects, or the first line of each syntax error.
 * An alias bomb is an error like any other (the parser's own limit, `maxAliasCount`), never an exception.
 */
export function parseManifests(text: string): ManifestParse {
  const documents = parseAllDocuments(text)
  const list = Array.isArray(documents) ? documents : [documents]
  const errors = list.flatMap((d) => d.errors).map((e) => firstLine(e))
  if (errors.length > 0) return { ok: false, errors }
  try {
    return { ok: true, manifests: (list as { toJS(options: { maxAliasCount: number }): unknown }[]).map((d) => d.toJS({ maxAliasCount: maxManifestAliases })) }
  } catch (error) {
    return { ok: false, errors: [`${firstLine(error)} (more than ${maxManifestAliases} aliases expanded)`] }
  }
}

/** The Deployment among the manifests, if any. */
export function findDeployment(manifests: readonly unknown[]): Table | undefined {
  return manifests.find((m): m is Table => isTable(m) && m['kind'] === 'Deployment')
}

/** The Deployment's first container's literal env values; `valueFrom` entries cannot be known from the file and are left out. */
export function containerEnv(manifests: readonly unknown[]): Map<string, string> {
  const containers = dig(findDeployment(manifests), ['spec', 'template', 'spec', 'containers'])
  const env = Array.isArray(containers) && isTable(containers[0]) ? containers[0]['env'] : undefined
  const result = new Map<string, string>()
  for (const entry of Array.isArray(env) ? env : []) {
    if (isTable(entry) && typeof entry['name'] === 'string' && entry['value'] !== undefined) result.set(entry['name'], String(entry['value']))
  }
  return result
}

export function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0] ?? ''
}
