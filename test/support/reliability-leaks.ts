/**
 * What a response body must never carry: stack frames, file paths, module
 * names with versions. Each pattern names what it catches, for the failure message.
 */
const leakPatterns: ReadonlyArray<readonly [string, RegExp]> = [
  ['stack frame', /\bat [\w$.<>]+ \(|\bat (?:file:|node:|\/)/],
  ['absolute path', /(?:^|[\s"'(=])\/(?:work|home|root|usr|srv|app|tmp|opt|var)\//],
  ['source file', /\.(?:ts|js|mjs|cjs):\d+/],
  ['node internals', /node:internal|node_modules/],
  ['version string', /\b(?:fastify|node|undici|pino|xstate|lameduck)[/@ ]v?\d+\.\d+/i],
]

/** The first leak found in `text`, as "kind: excerpt", or null. */
export function findLeak(text: string): string | null {
  for (const [kind, pattern] of leakPatterns) {
    const match = pattern.exec(text)
    if (match) return `${kind}: ${text.slice(Math.max(0, match.index - 20), match.index + 60)}`
  }
  return null
}

/** Headers that advertise the stack to an attacker. */
export const revealingHeaders = ['x-powered-by', 'server', 'x-aspnet-version', 'x-runtime', 'x-version'] as const
