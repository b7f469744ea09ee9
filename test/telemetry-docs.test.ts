import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { lameduckAttributes } from '../src/telemetry/attribute-names.ts'
import { lameduckMetrics } from '../src/telemetry/lifecycle-metrics.ts'

const doc = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8')

describe('docs/observability.md', () => {
  it('documents every attribute lameduck puts on spans and metrics', () => {
    for (const name of Object.values(lameduckAttributes)) expect(doc, name).toContain(`\`${name}\``)
  })

  it('documents every metric with its unit', () => {
    for (const { name, unit } of Object.values(lameduckMetrics)) {
      // The metrics table's row: name, instrument, unit, ...
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${name}\` |`) && /counter|histogram|gauge/.test(line))
      expect(row, name).toBeDefined()
      expect(row!.split('|')[3]!.trim(), name).toBe(`\`${unit}\``)
    }
  })
})
