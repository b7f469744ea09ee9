import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { buildImage } from '../scripts/build-image.ts'
import { readDockerfile } from '../src/deploy-check/dockerfile-facts.ts'

/**
 * What the image runs, laid out on this machine for the "as shipped" variants: the Dockerfile's build step
 * (`node scripts/build-image.ts dist`) into `.tmp/bench-image/dist`, beside package.json (`"type": "module"`)
 * and node_modules (the runtime stage's production dependencies are a subset of it), and the final stage's
 * CMD read from the Dockerfile, flags and all. The Docker engine is the one thing left out.
 */
export const imageDir = '.tmp/bench-image'
const root = fileURLToPath(new URL('..', import.meta.url))
const at = (path: string) => `${root}${path}`

export interface ShippedCommand {
  /** The CMD after `node`: the flags and the entry, exactly as the Dockerfile has them. */
  readonly args: readonly string[]
  /** The final stage's ENV (the harness then sets PORT, HOST and the benchmark's common settings over it). */
  readonly env: Readonly<Record<string, string>>
  /** The image's WORKDIR stand-in. */
  readonly cwd: string
}

export function shippedCommand(): ShippedCommand {
  const { stages, final } = readDockerfile(readFileSync(at('Dockerfile'), 'utf8'))
  const argv = [...(final?.entrypoint?.argv ?? []), ...(final?.cmd?.argv ?? [])]
  if (argv[0] !== 'node') throw new Error(`the Dockerfile's CMD starts ${JSON.stringify(argv[0])}, not node: bench/shipped-image.ts must follow it`)
  // Fails loudly if the image stops being built the way prepareImage() builds it.
  const buildsHere = stages.some((stage) => stage.steps.some((step) => step.keyword === 'RUN' && step.text.trim() === 'node scripts/build-image.ts dist'))
  if (!buildsHere) throw new Error('the Dockerfile no longer runs `node scripts/build-image.ts dist`: bench/shipped-image.ts must follow it')
  return { args: argv.slice(1), env: Object.fromEntries(final?.env ?? []), cwd: at(imageDir) }
}

/** Builds the image's dist/ as the Dockerfile does, fresh for every run. */
export async function prepareImage(): Promise<void> {
  const dir = at(imageDir)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  await buildImage(`${dir}/dist`)
  cpSync(at('package.json'), `${dir}/package.json`)
  symlinkSync('../../node_modules', `${dir}/node_modules`)
}
