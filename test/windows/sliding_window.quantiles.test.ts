// SlidingWindow's exact quantiles (p50/p90/p99/p999 and the `quantiles` option) against sorting each window
// (test/reference/quantile.ts): ties, NaN, ±Infinity, constant windows, slide > size, channels, batch cuts,
// Float32 input, async pushes, snapshots, and bad options.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, SlidingWindow, type SlidingAggregate } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { mulberry32 as random } from '../../lib/runtime/random'
import { QUANTILE_NAMES, type QuantileName } from '../../lib/windows/aggregates'
import { expectSluiceError } from '../helpers'
import { naiveQuantile } from '../reference/quantile'

interface Case {
  size: number
  slide: number
  channels: number
  aggregates: SlidingAggregate[]
  quantiles: number[]
  emitPartial: boolean
}

/** Every emitted window's quantile columns ([window][channel][column], other aggregates left out). */
function reference(c: Case, values: ArrayLike<number>): number[] {
  const names = c.aggregates.filter((a): a is QuantileName => a in QUANTILE_NAMES)
  const result: number[] = []
  const rows = values.length / c.channels
  for (let r = 0; r < rows; r++) {
    if (r < c.size - 1 && !c.emitPartial) continue
    if ((((r - (c.size - 1)) % c.slide) + c.slide) % c.slide !== 0) continue
    for (let ch = 0; ch < c.channels; ch++) {
      const window: number[] = []
      for (let i = Math.max(0, r - c.size + 1); i <= r; i++) window.push(values[i * c.channels + ch]!)
      for (const name of names) result.push(naiveQuantile(window, QUANTILE_NAMES[name]))
      for (const q of c.quantiles) result.push(naiveQuantile(window, q))
    }
  }
  return result
}

/** The quantile columns of a window's output. */
function quantileColumns(c: Case, out: Float64Array): number[] {
  const columns = [...c.aggregates.map((a) => a in QUANTILE_NAMES), ...c.quantiles.map(() => true)]
  return Array.from(out).filter((_, i) => columns[i % columns.length])
}

function sameBits(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false
  const x = Float64Array.from(a), y = Float64Array.from(b)
  return Buffer.from(x.buffer).equals(Buffer.from(y.buffer))
}

type Shape = 'continuous' | 'ties' | 'special' | 'constant'
function stream(rand: () => number, shape: Shape, length: number): Float64Array {
  const v = new Float64Array(length)
  for (let i = 0; i < length; i++) {
    const p = rand()
    switch (shape) {
      case 'continuous': v[i] = 1000 * (rand() - 0.5); break
      case 'ties': v[i] = Math.floor(rand() * 4) - 1; break
      case 'special': v[i] = p < 0.15 ? NaN : p < 0.22 ? (rand() < 0.5 ? Infinity : -Infinity) : Math.floor(rand() * 8); break
      case 'constant': v[i] = Math.floor(i / 50) % 2 === 0 ? 2.5 : p < 0.5 ? NaN : 2.5; break
    }
  }
  return v
}

function pushInCuts(w: SlidingWindow, values: Float64Array | Float32Array, rand: () => number): Float64Array {
  const parts: number[] = []
  const rows = values.length / w.channels
  for (let at = 0; at < rows;) {
    const n = Math.min(rows - at, rand() < 0.3 ? Math.floor(rand() * 4) : Math.floor(rand() * 300))
    parts.push(...w.push(values.subarray(at * w.channels, (at + n) * w.channels)))
    at += n
  }
  return Float64Array.from(parts)
}

const shapes: Shape[] = ['continuous', 'ties', 'special', 'constant']

describe('SlidingWindow exact quantiles', () => {
  it('equal sorting each window, for any size, slide (also > size), channels and partial windows, however the stream is cut', () => {
    const rand = random(19)
    for (let trial = 0; trial < 48; trial++) {
      const size = trial % 8 === 0 ? 1 : 1 + Math.floor(rand() * (trial % 3 === 0 ? 400 : 30))
      const names = (['p50', 'p90', 'p99', 'p999'] as const).filter(() => rand() < 0.4)
      const others: SlidingAggregate[] = rand() < 0.5 ? ['count', 'mean'] : []
      const c: Case = {
        size,
        slide: 1 + Math.floor(rand() * (trial % 4 === 0 ? 2 * size + 3 : 4)),
        channels: 1 + Math.floor(rand() * 3),
        aggregates: [...others, ...names],
        quantiles: [0, 0.25, 1, 0.7].filter(() => rand() < 0.5),
        emitPartial: rand() < 0.5,
      }
      if (names.length + c.quantiles.length === 0) c.quantiles.push(0.5)
      if (c.aggregates.length === 0) c.aggregates.push('max')
      const values = stream(rand, shapes[trial % shapes.length]!, c.channels * (200 + Math.floor(rand() * 2000)))
      const whole = new SlidingWindow(c).push(values)
      const got = quantileColumns(c, whole)
      const want = reference(c, values)
      expect(got.length).toBe(want.length)
      for (let i = 0; i < want.length; i++) {
        if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
          expect.fail(`trial ${trial} index ${i}: got ${got[i]}, want ${want[i]}`)
        }
      }
      expect(sameBits(pushInCuts(new SlidingWindow(c), values, rand), whole)).toBe(true)
      // Float32 input is its conversion to doubles.
      const f32 = Float32Array.from(values)
      expect(sameBits(new SlidingWindow(c).push(f32), new SlidingWindow(c).push(Float64Array.from(f32)))).toBe(true)
    }
  })

  it('interpolate linearly between order statistics, as numpy.quantile and pandas rolling().quantile() do', () => {
    const w = new SlidingWindow({ size: 10, aggregates: ['p50', 'p90', 'min'], quantiles: [0.25, 0.1] })
    expect(w.windowWidth).toBe(5)
    // numpy.quantile(1..10, [0.5, 0.9, 0.25, 0.1]) = 5.5, 9.1, 3.25, 1.9 (columns: p50, p90, min, then 0.25, 0.1).
    const out = w.push(Float64Array.from({ length: 10 }, (_, i) => 10 - i))
    expect(out[0]).toBe(5.5)
    expect(out[1]).toBeCloseTo(9.1, 12)
    expect(out[2]).toBe(1)
    expect(out[3]).toBe(3.25)
    expect(out[4]).toBeCloseTo(1.9, 12)
    // pandas.Series([1, 5, 2, 8, 3]).rolling(3).quantile(0.5) = NaN, NaN, 2, 5, 3.
    const median = new SlidingWindow({ size: 3, aggregates: ['p50'] })
    expect(Array.from(median.push(Float64Array.of(1, 5, 2, 8, 3)))).toEqual([2, 5, 3])
  })

  it('skip NaN, give NaN for windows without values, and follow the rules for infinite neighbours', () => {
    const w = new SlidingWindow({ size: 2, aggregates: ['p50', 'count'], quantiles: [0.25], emitPartial: true })
    const out = w.push(Float64Array.of(NaN, NaN, 4, NaN, -Infinity, 1, Infinity, Infinity, -Infinity, Infinity))
    // rows: {NaN} {NaN,NaN} {4} {4} {−∞} {−∞,1} {1,∞} {∞,∞} {∞,−∞} {−∞,∞}
    const rows = Array.from({ length: out.length / 3 }, (_, i) => Array.from(out.subarray(3 * i, 3 * i + 3)))
    expect(rows).toEqual([
      [NaN, 0, NaN], [NaN, 0, NaN], [4, 1, 4], [4, 1, 4], [-Infinity, 1, -Infinity], [-Infinity, 2, -Infinity],
      [Infinity, 2, Infinity], [Infinity, 2, Infinity], [NaN, 2, NaN], [NaN, 2, NaN],
    ])
  })

  it('continue after snapshot() / restore() and pushAsync exactly as one uninterrupted push', async () => {
    const rand = random(23)
    const options = { size: 120, slide: 3, channels: 2, aggregates: ['p99', 'sum'] as SlidingAggregate[], quantiles: [0.5], emitPartial: true }
    const values = stream(rand, 'special', 2 * 3000)
    const head = values.subarray(0, 2 * 1700), tail = values.subarray(2 * 1700)
    const uninterrupted = new SlidingWindow(options)
    uninterrupted.push(head)
    const want = uninterrupted.push(tail)
    const first = new SlidingWindow(options)
    await first.pushAsync(head)
    const second = new SlidingWindow(options)
    second.restore(first.snapshot())
    expect(sameBits(second.push(tail), want)).toBe(true)
    expect(sameBits(await first.pushAsync(tail), want)).toBe(true)
    // A window with other quantiles refuses the snapshot and stays as it was.
    const other = new SlidingWindow({ ...options, quantiles: [0.6] })
    expectSluiceError(() => other.restore(first.snapshot()), 'ERR_INVALID_ARGUMENT')
    expect(other.rowsSeen).toBe(0)
  })

  // The blocks of 32 values are allocated up front for the worst fill (every block a quarter full): 4·size + 64
  // doubles, plus the per-block maxima, counts and ids (docs/windows.md#quantiles).
  it('report their memory: about 35 KB per channel more at size 1000', () => {
    const plain = new SlidingWindow({ size: 1000, aggregates: ['mean', 'count', 'sum'] }) // as many columns: the same scratch
    const quantiles = new SlidingWindow({ size: 1000, aggregates: ['mean', 'p50', 'p99'] })
    const extra = quantiles.memoryBytes - plain.memoryBytes
    expect(extra).toBeGreaterThan(34_500)
    expect(extra).toBeLessThan(36_000)
  })

  it('refuse bad options with codes before anything is created', () => {
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: [1.5] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: [-0.1] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: [NaN] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: ['0.5' as unknown as number] }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: 0.5 as unknown as number[] }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['p50'], quantiles: [0.5] }), 'ERR_INVALID_ARGUMENT', /duplicate quantile/)
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['p75' as SlidingAggregate] }), 'ERR_INVALID_ARGUMENT', /unknown aggregate/)
    expectSluiceError(() => new SlidingWindow({ size: 5, aggregates: ['mean'], quantiles: Array.from({ length: 257 }, (_, i) => i / 257) }), 'ERR_OUT_OF_RANGE')
    // The binding checks again when TypeScript is bypassed.
    const make = (options: object) => () => new (native().SlidingWindow)({ size: 5, slide: 1, channels: 1, emitPartial: false, threads: 1, ...options } as never)
    expectSluiceError(make({ aggregates: ['p50'], quantiles: [2] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make({ aggregates: ['p50'], quantiles: [0.5] }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(make({ aggregates: ['p42'] }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(make({ aggregates: ['mean'], quantiles: [null] }), 'ERR_INVALID_TYPE')
    // Event-time windows take the quantile names (as sketch estimates, test/windows/event_time_windows.sketches.test.ts), no other.
    expectSluiceError(() => new EventTimeWindows({ type: 'tumbling', size: 10, aggregates: ['p75' as never] }), 'ERR_INVALID_ARGUMENT', /aggregates\[0\] must be one of/)
  })
})
