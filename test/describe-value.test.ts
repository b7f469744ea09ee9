import { describe, expect, it } from 'vitest'
import { describeValue, quotedValueLimit } from '../src/describe-value.ts'

describe('describeValue: a received value, quoted for a message', () => {
  it('quotes short values whole, as JSON, naming what JSON would misname', () => {
    expect(describeValue(42)).toBe('42')
    expect(describeValue('x')).toBe('"x"')
    expect(describeValue([1, 'two', { three: 3 }])).toBe('[1,"two",{"three":3}]')
    expect(describeValue({ a: undefined, b: [undefined], c: new Date(0) })).toBe('{"b":[null],"c":"1970-01-01T00:00:00.000Z"}')
    expect(describeValue(Number.NaN)).toBe('NaN')
    expect(describeValue(-Infinity)).toBe('-Infinity')
    expect(describeValue(10n)).toBe('10n')
    expect(describeValue(undefined)).toBe('undefined')
    expect(describeValue(() => 1)).toBe('a function')
    expect(describeValue(null)).toBe('null')
  })

  it(`cuts a long string at ${quotedValueLimit} characters of its rendering and gives its length`, () => {
    const text = describeValue('y'.repeat(1 << 20))
    expect(text).toBe(`"${'y'.repeat(quotedValueLimit - 1)}…" (1048576 characters)`)
  })

  it('never cuts an escape in two', () => {
    const text = describeValue('\u0001'.repeat(50))
    expect(text).toMatch(/^"(\\u0001)+…" \(50 characters\)$/)
  })

  it('renders lists nested 100,000 deep without overflowing the stack (issue 10)', () => {
    let deep: unknown = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(describeValue(deep)).toBe(`${'['.repeat(quotedValueLimit)}…`)
  })

  it('ends on a cycle, and on a getter that throws', () => {
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    expect(describeValue(cycle)).toMatch(/^\{"a":1,"self":\{"a":1,"self":.*…$/)
    expect(describeValue(cycle).length).toBe(quotedValueLimit + 1)
    const throwing = {
      a: 1,
      get b(): number {
        throw new Error('no')
      },
    }
    expect(describeValue(throwing)).toBe('{"a":1…')
  })
})

describe('describeValue and toJSON', () => {
  it('calls toJSON once, as JSON does, even when it answers another object with a toJSON', () => {
    const endless = { toJSON(): unknown { return { toJSON: endless.toJSON, n: 1 } } }
    expect(describeValue(endless)).toBe('{"n":1}')
  })
})
