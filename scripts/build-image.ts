/**
 * The image's build (Dockerfile, build stage): `node scripts/build-image.ts <outdir>` bundles the service's two
 * entries, `main.js` and `telemetry/register.js`, with esbuild. The benchmark's "as shipped" variants build the
 * same way (bench/shipped-image.ts).
 *
 * Why a bundle (bench/findings.md, "Start as shipped"): the tsc output opens about 560 files from node_modules
 * and all of RxJS, and the service reached its first /ready 200 1.5-1.8x later than bare Fastify; bundled and
 * tree-shaken it is as quick as bare Fastify, and its heap at ready is small enough that V8 runs no full GC
 * while it starts (which would leave `process.nextTick` on V8's slow path for the process's life).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * Loaded only when asked for (an OTLP endpoint, LAMEDUCK_INSPECT_URL): left to node_modules, where the runtime
 * stage's `npm ci --omit=dev` puts them, so those paths run the packages exactly as the tests run them (the SDK's
 * instrumentations patch modules as Node loads them). `@opentelemetry/api` is bundled: the default path uses it,
 * and its copies share one registry on globalThis by design, so the SDK's copy and ours see the same providers.
 */
const leftToNodeModules = (path: string) =>
  (path.startsWith('@opentelemetry/') && path !== '@opentelemetry/api') || path === '@statelyai/inspect' || path === 'ws'

const optInOnly: Plugin = {
  name: 'opt-in-only',
  setup(bundler) {
    bundler.onResolve({ filter: /^(@opentelemetry\/|@statelyai\/inspect$|ws$)/ }, (args) =>
      leftToNodeModules(args.path) ? { path: args.path, external: true } : undefined,
    )
  },
}

/**
 * RxJS's export map sends the `node` condition to its CommonJS build, which cannot be tree-shaken (about
 * 360 kB, all of it evaluated at start). Its `es2015` build is the same code as ES modules: take that.
 */
const esModulesOf = (packages: readonly string[]): Plugin => ({
  name: 'es-modules-of',
  setup(bundler) {
    const require = createRequire(join(root, 'package.json'))
    for (const name of packages) {
      bundler.onResolve({ filter: new RegExp(`^${name}$`) }, () => {
        const manifest = require.resolve(`${name}/package.json`)
        const exportsMap = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, Record<string, string>> }).exports
        const entry = exportsMap['.']?.['es2015']
        if (!entry) throw new Error(`${name}: no "es2015" entry in its export map; the bundle would take its CommonJS build`)
        return { path: join(dirname(manifest), entry) }
      })
    }
  },
})

export async function buildImage(outdir: string): Promise<void> {
  await build({
    absWorkingDir: root,
    entryPoints: { main: 'src/main.ts', 'telemetry/register': 'src/telemetry/register.ts' },
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node24',
    // ES modules for top-level await (main.ts, register.ts); split so that the two entries share one copy
    // of what both import, and lazy imports (the SDK wiring, the live view) stay lazy.
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [optInOnly, esModulesOf(['rxjs'])],
    // The CommonJS packages inside (Fastify, pino, Ajv) call require() for Node's own modules.
    banner: { js: "import { createRequire as lameduckCreateRequire } from 'node:module';\nconst require = lameduckCreateRequire(import.meta.url);" },
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const outdir = process.argv[2]
  if (!outdir) {
    process.stderr.write('usage: node scripts/build-image.ts <outdir>\n')
    process.exit(64)
  }
  await buildImage(outdir)
}
