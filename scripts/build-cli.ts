/**
 * Part of `npm run build`: bundles the `lameduck` command (src/rehearse/cli.ts) into dist/rehearse/cli.js, over
 * what tsc wrote there. Its HTTP client and parsers (undici, smol-toml, yaml) travel inside the bundle, so they are
 * not dependencies of the package: `npm i lameduck` stays lean for the plugin's users (issue 12: 3.2 MB of those
 * three, against about 0.9 MB minified here), and `npx lameduck rehearse` needs nothing more than the package.
 */
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))

await build({
  absWorkingDir: root,
  entryPoints: ['src/rehearse/cli.ts'],
  outfile: 'dist/rehearse/cli.js',
  allowOverwrite: true,
  bundle: true,
  platform: 'node',
  // The package's engines floor; undici itself asks for 22.19.
  target: 'node22',
  format: 'esm',
  // undici calls require() for Node's own modules.
  banner: { js: "import { createRequire as lameduckCreateRequire } from 'node:module';\nconst require = lameduckCreateRequire(import.meta.url);" },
  minify: true,
  legalComments: 'linked',
  logLevel: 'warning',
})
