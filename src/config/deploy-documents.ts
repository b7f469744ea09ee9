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

/** Parses cerebrium.toml; throws the parser's error (with line and column) on invalid TOML. */
export function parseCerebriumToml(text: string): Table {
  return parseToml(text)
}

export type ManifestParse =
  | { readonly ok: true; readonly manifests: readonly unknown[] }
  | { readonly ok: false; readonly errors: readonly string[] }

/** Parses a multi-document Kubernetes YAML file into plain objects, or the first line of each syntax error. */
export function parseManifests(text: string): ManifestParse {
  const documents = parseAllDocuments(text)
  const list = Array.isArray(documents) ? documents : [documents]
  const errors = list.flatMap((d) => d.errors).map((e) => firstLine(e))
  if (errors.length > 0) return { ok: false, errors }
  return { ok: true, manifests: (list as { toJS(): unknown }[]).map((d) => d.toJS()) }
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
