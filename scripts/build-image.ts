/**
 * The image's build (Dockerfile, build stage): `node scripts/build-image.ts <outdir>` bundles the service's two
 * entries, `main.js` and `telemetry/register.js`, with esbuild. The benchmark's "as shipped" variants build the
 * same way (bench/shipped-image.ts).
 *
 * Why a bundle (bench/findings.md, "As shipped", "Fix 1"): the tsc output opens about 560 files from node_modules,
 * all of RxJS's CommonJS build among them, and reached its first /ready 200 1.6x later than bare Fastify; bundled
 * and tree-shaken it opens about 60 and is about as quick as bare Fastify.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * Left to node_modules, where the runtime stage's `npm ci --omit=dev` puts them:
 * - OpenTelemetry, all of it. The SDK loads only with an endpoint and then runs exactly as the tests run it (its
 *   instrumentations patch modules as Node loads them). The API is loaded at start, but one copy of it, shared with
 *   the SDK and with anything else the application loads, is simpler than counting on copies meeting in its global
 *   registry; bundling it would save about 50 files at start (bench/findings.md, "Fix 1").
 * - The inspector (`@statelyai/inspect`): loaded only with LAMEDUCK_INSPECT_URL.
 * They come from the image's own manifest (deploy/image/package.json): the library declares them optional peers.
 * `ws` is bundled (the service's /ws loads it at start); its optional native helpers are left out, as `ws` allows.
 */
const leftToNodeModules = (path: string) =>
  path.startsWith('@opentelemetry/') || path === '@statelyai/inspect' || path === 'bufferutil' || path === 'utf-8-validate'

const leftOut: Plugin = {
  name: 'left-to-node-modules',
  setup(bundler) {
    bundler.onResolve({ filter: /^(@opentelemetry\/|@statelyai\/inspect$|bufferutil$|utf-8-validate$)/ }, (args) =>
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
    plugins: [leftOut, esModulesOf(['rxjs'])],
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
