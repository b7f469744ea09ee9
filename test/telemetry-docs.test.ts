import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { lameduckAttributes } from '../src/telemetry/attribute-names.ts'
import { lameduckMetrics } from '../src/telemetry/lifecycle-metrics.ts'
import { replicaMetrics } from '../src/telemetry/replica-telemetry.ts'

const doc = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8')
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
const optionsSource = readFileSync(new URL('../src/http/plugin-options.ts', import.meta.url), 'utf8')

describe('docs/observability.md', () => {
  it('documents every attribute lameduck puts on spans and metrics', () => {
    for (const name of Object.values(lameduckAttributes)) expect(doc, name).toContain(`\`${name}\``)
  })

  it('documents every metric with its unit', () => {
    // The cluster primary's (src/telemetry/replica-telemetry.ts) too.
    for (const { name, unit } of [...Object.values(lameduckMetrics), ...Object.values(replicaMetrics)]) {
      // The metrics table's row: name, instrument, unit, ...
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\` |`) && /counter|histogram|gauge/.test(line))
      expect(row, name).toBeDefined()
      expect(row!.split('|')[3]!.trim(), name).toBe(`\`${unit}\``)
    }
  })
})

describe('requestSpans: one rule, the same in the JSDoc, the README and docs/observability.md (issue 19)', () => {
  const rule = 'Leave it `true` beside `@fastify/otel` or `@opentelemetry/instrumentation-http`'
  const jsdoc = (() => {
    const at = optionsSource.indexOf('  requestSpans?: boolean')
    const comment = optionsSource.lastIndexOf('/**', at)
    return optionsSource.slice(comment, at).replace(/\n\s*\* ?/g, ' ')
  })()
  const readmeRow = readme.split('\n').find((line) => line.startsWith('| `requestSpans` |')) ?? ''

  it.each([
    ['the JSDoc', jsdoc],
    ['the README', readmeRow],
    ['docs/observability.md', doc],
  ])('%s gives the rule and never the old advice to turn it off beside @fastify/otel', (_where, text) => {
    expect(text.replace(/\s+/g, ' ')).toContain(rule)
    expect(text).not.toMatch(/`false` when the application traces requests itself/)
  })
})
