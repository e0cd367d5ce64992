// EventTimeWindows' sketch aggregates: DDSketch quantiles (p50 … p999, `quantiles`) within their relative
// accuracy of each window's exact order statistic, HyperLogLog `distinct` within 3 standard errors, exact
// sketch merges (sliding windows over panes and merged sessions equal one sketch over the same events), late
// updates, and bad options refused with codes.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, type EventTimeWindowsOptions, type FiredWindows } from '../../lib/index'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

type Distribution = 'uniform' | 'lognormal' | 'all-equal' | 'alternating extremes'
const distributions: Distribution[] = ['uniform', 'lognormal', 'all-equal', 'alternating extremes']

function values(kind: Distribution, n: number, random: () => number): Float64Array {
  const out = new Float64Array(n)
  for (let i = 0; i < n; ++i) {
    if (kind === 'uniform') out[i] = random() * 1000
    else if (kind === 'lognormal') {
      // Latencies: exp(N(3, 1.5)) by Box-Muller.
      const u = 1 - random(), v = random()
      out[i] = Math.exp(3 + 1.5 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
    } else if (kind === 'all-equal') out[i] = 42.5
    else out[i] = [-1e6, 1e-3, 1e9][i % 3]
  }
  return out
}

const QS = [0.5, 0.9, 0.99, 0.999]
const EXTRA_QS = [0, 0.25, 1]

/** The exact order statistic that DDSketch estimates: rank ⌊q·(n − 1)⌋ of the sorted non-NaN values. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]
}

interface Event {
  t: number
  key: number
  v: number
}

/** Every fired window as (key, start, end) → its values row, checking the window's events exactly. */
function checkQuantiles(f: FiredWindows, w: EventTimeWindows, eventsOf: (key: number, start: number, end: number) => number[], accuracy: number): number {
  const columns = [...QS, ...EXTRA_QS]
  let checked = 0
  for (let i = 0; i < f.key.length; ++i) {
    const sorted = eventsOf(f.key[i], f.start[i], f.end[i]).sort((a, b) => a - b)
    expect(f.count[i]).toBe(sorted.length)
    for (let j = 0; j < columns.length; ++j) {
      const exact = exactQuantile(sorted, columns[j])
      const got = f.values[i * w.valuesPerWindow + j]
      // DDSketch: |estimate − exact| ≤ α·|exact| (a hair of slack for the rounding of γ^i).
      expect(Math.abs(got - exact), `window ${f.start[i]} key ${f.key[i]} q ${columns[j]}: ${got} vs ${exact}`).toBeLessThanOrEqual(accuracy * Math.abs(exact) * (1 + 1e-9))
      checked++
    }
  }
  return checked
}

const sketchOptions = (extra: Partial<EventTimeWindowsOptions>): EventTimeWindowsOptions =>
  ({ type: 'tumbling', keyCount: 3, aggregates: ['p50', 'p90', 'p99', 'p999'], quantiles: EXTRA_QS, ...extra }) as EventTimeWindowsOptions

describe('EventTimeWindows sketch quantiles', () => {
  for (const accuracy of [0.01, 0.05]) {
    for (const kind of distributions) {
      for (const type of ['tumbling', 'sliding', 'session'] as const) {
        it(`${type}, ${kind}, accuracy ${accuracy}: every quantile within the relative accuracy of the exact one, late updates included`, () => {
          const random = rng(7 + accuracy * 1000 + distributions.indexOf(kind) * 31)
          const shape = type === 'tumbling' ? { size: 100 } : type === 'sliding' ? { size: 100, slide: 25 } : { gap: 15 }
          const w = new EventTimeWindows(sketchOptions({ type, ...shape, accuracy, allowedLateness: 3000 }))
          const events: Event[] = []
          const n = 6000
          const vs = values(kind, n, random)
          const ts = new Float64Array(n), keys = new Uint32Array(n)
          for (let i = 0; i < n; ++i) {
            // Sessions: bursts with pauses longer than the gap, so several sessions per key.
            ts[i] = type === 'session' ? Math.floor(i / 3) + 20 * Math.floor(i / 600) : Math.floor(random() * 1000)
            keys[i] = Math.floor(random() * 3)
          }
          // A random two thirds first, the watermark past half of them, then the rest: those behind the
          // watermark are late but allowed, and fire their fired windows again with the updated sketches.
          const first: number[] = [], second: number[] = []
          for (let i = 0; i < n; ++i) (random() < 2 / 3 ? first : second).push(i)
          const push = (part: number[]) => {
            const pick = <A extends Float64Array | Uint32Array>(a: A) => (a.constructor as { from(x: number[]): A }).from(part.map((i) => a[i]))
            const late = w.push({ timestamps: pick(ts), keys: pick(keys), values: pick(vs) })
            expect(late.late.length).toBe(0)
            for (const i of part) events.push({ t: ts[i], key: keys[i], v: vs[i] })
          }
          push(first)
          // Every window's exact events: its key's events in [start, end) (sessions too).
          const eventsOf = (key: number, start: number, end: number) => events.filter((e) => e.key === key && e.t >= start && e.t < end).map((e) => e.v)
          const watermark = type === 'session' ? 1000 : 500
          let checked = checkQuantiles(w.advanceWatermark(watermark), w, eventsOf, accuracy)
          push(second)
          const f = w.flush()
          expect(Array.from(f.updated).some((u) => u === 1)).toBe(true)
          checked += checkQuantiles(f, w, eventsOf, accuracy)
          expect(checked).toBeGreaterThan(50)
        })
      }
    }
  }

  it('skips NaN in quantiles and distinct (a window of NaN only: NaN quantiles, 0 distinct)', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, aggregates: ['count', 'p50', 'distinct'] })
    w.push({ timestamps: new Float64Array([1, 2, 3, 11]), values: new Float64Array([NaN, 5, 5, NaN]) })
    const f = w.flush()
    expect(Array.from(f.count)).toEqual([3, 1])
    expect(f.values[0]).toBe(2)
    expect(Math.abs(f.values[1] - 5)).toBeLessThanOrEqual(0.01 * 5)
    expect(Math.abs(f.values[2] - 1)).toBeLessThan(0.1)
    expect(Array.from(f.values.subarray(3))).toEqual([0, NaN, 0])
  })
})

describe('EventTimeWindows sketch merges are exact', () => {
  // A window [s, s + size) of a sliding window is the window of a tumbling window of the same size whose
  // offset is s mod size: fed the same events, the merged pane sketches must equal the one-pane sketch.
  for (const [size, slide] of [
    [40, 10],
    [200, 10], // 20 panes per window: beyond the pane-merge limit (Two-Stacks for plain aggregates)
  ]) {
    it(`sliding ${size}/${slide} over panes gives the outputs of tumbling windows of the same span, bit for bit`, () => {
      const random = rng(size)
      const n = 20000
      const ts = new Float64Array(n), keys = new Uint32Array(n)
      const vs = values('lognormal', n, random)
      for (let i = 0; i < n; ++i) {
        ts[i] = Math.floor(random() * 2000)
        keys[i] = Math.floor(random() * 4)
      }
      const aggregates = ['count', 'p50', 'p99', 'distinct'] as const
      const common = { keyCount: 4, aggregates, quantiles: [0.25, 0.999], accuracy: 0.02, distinctPrecision: 10, horizon: 2000 }
      const sliding = new EventTimeWindows({ type: 'sliding', size, slide, ...common })
      sliding.push({ timestamps: ts, keys, values: vs })
      const s = sliding.flush()
      const rows = new Map<string, number[]>()
      for (let offset = 0; offset < size; offset += slide) {
        const tumbling = new EventTimeWindows({ type: 'tumbling', size, offset: offset, ...common })
        tumbling.push({ timestamps: ts, keys, values: vs })
        const t = tumbling.flush()
        for (let i = 0; i < t.key.length; ++i) rows.set(`${t.key[i]}@${t.start[i]}`, Array.from(t.values.subarray(i * 6, i * 6 + 6)))
      }
      let compared = 0
      for (let i = 0; i < s.key.length; ++i) {
        const row = rows.get(`${s.key[i]}@${s.start[i]}`)
        if (!row) continue // windows that start before 0 or a tumbling offset's window cut elsewhere
        expect(Array.from(s.values.subarray(i * 6, i * 6 + 6))).toEqual(row)
        compared++
      }
      expect(compared).toBeGreaterThan(s.key.length * 0.9)
    })
  }

  it('merged sessions equal a session fed in order (the bridging event merges their sketches)', () => {
    const random = rng(5)
    const n = 3000
    const vs = values('uniform', n, random)
    const ts = new Float64Array(n)
    for (let i = 0; i < n; ++i) ts[i] = 2 * i // one session with gap 3
    const options = { type: 'session' as const, gap: 3, aggregates: ['p50', 'p90', 'distinct'] as const, quantiles: [0.1] }
    const inOrder = new EventTimeWindows(options)
    inOrder.push({ timestamps: ts, values: vs })
    // Events 0, 2, 4, … first (timestamps 4 apart: one session each, [t, t + 3) do not touch), then the odd
    // ones bridge them into one session.
    const bridged = new EventTimeWindows(options)
    const even = [...ts.keys()].filter((i) => i % 2 === 0), odd = [...ts.keys()].filter((i) => i % 2 === 1)
    for (const part of [even, odd]) {
      bridged.push({ timestamps: Float64Array.from(part, (i) => ts[i]), values: Float64Array.from(part, (i) => vs[i]) })
    }
    const a = inOrder.flush(), b = bridged.flush()
    expect(a.key.length).toBe(1)
    expect(Array.from(b.start)).toEqual(Array.from(a.start))
    expect(Array.from(b.count)).toEqual([n])
    expect(Array.from(b.values)).toEqual(Array.from(a.values))
  })
})

describe('EventTimeWindows distinct', () => {
  for (const distinct of [1e3, 1e4, 1e5]) {
    it(`estimates ${distinct} distinct values within 3 standard errors (1.04/√2^p), sliding over panes`, () => {
      for (const precision of [12, 14]) {
        const w = new EventTimeWindows({ type: 'sliding', size: 100, slide: 50, aggregates: ['distinct', 'count'], distinctPrecision: precision })
        // Each value repeats 3 times; the window [0, 100) holds them all, spread over two panes.
        const n = distinct * 3
        const ts = new Float64Array(n), vs = new Float64Array(n)
        for (let i = 0; i < n; ++i) {
          ts[i] = i % 100
          vs[i] = (i % distinct) * 1.5 + 0.25
        }
        w.push({ timestamps: ts, values: vs })
        const f = w.flush()
        const at = Array.from(f.start).indexOf(0)
        expect(f.values[at * 2 + 1]).toBe(n)
        const error = 1.04 / Math.sqrt(2 ** precision)
        expect(Math.abs(f.values[at * 2] - distinct) / distinct).toBeLessThanOrEqual(3 * error)
      }
    })
  }
})

describe('EventTimeWindows sketch options', () => {
  const base = { type: 'tumbling' as const, size: 10 }
  it('refuses bad options with codes', () => {
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p50'], accuracy: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p50'], accuracy: 1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p50'], accuracy: -0.5 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p50'], accuracy: NaN }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['count'], quantiles: [1.5] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['count'], quantiles: [-0.1] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['count'], quantiles: ['0.5' as unknown as number] }), 'ERR_INVALID_TYPE')
    // The same q twice, or a q that repeats a named quantile, as SlidingWindow refuses them (one shared check).
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['count'], quantiles: [0.2, 0.2] }), 'ERR_INVALID_ARGUMENT', /duplicate quantile 0.2/)
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p99'], quantiles: [0.99] }), 'ERR_INVALID_ARGUMENT', /duplicate quantile 0.99/)
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['p75' as 'p50'] }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['distinct'], distinctPrecision: 3 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['distinct'], distinctPrecision: 19 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new EventTimeWindows({ ...base, aggregates: ['distinct'], distinctPrecision: 14.5 }), 'ERR_INVALID_TYPE')
  })

  for (const type of ['tumbling', 'sliding', 'session'] as const) {
    it(`${type}: snapshot/restore carries the sketches (continuing gives the outputs of the uninterrupted windows)`, () => {
      const shape = type === 'tumbling' ? { size: 50, horizon: 2000 } : type === 'sliding' ? { size: 50, slide: 10, horizon: 2000 } : { gap: 4 }
      const options = { type, ...shape, keyCount: 3, channels: 2, allowedLateness: 100, aggregates: ['count', 'p50', 'distinct'], quantiles: [0.9], accuracy: 0.02, distinctPrecision: 8 } as EventTimeWindowsOptions
      const random = rng(11)
      const n = 4000
      // Out of order by up to 30 (sessions: bursts of 10 time units, 10 apart, out of order by up to 3).
      const ts = Float64Array.from({ length: n }, (_, i) =>
        type === 'session' ? Math.floor(i / 4) + 10 * Math.floor(i / 40) + Math.floor(random() * 3) : Math.floor(i / 4) + Math.floor(random() * 30))
      const keys = Uint32Array.from({ length: n }, () => Math.floor(random() * 3))
      const vs = values('lognormal', 2 * n, random)
      const whole = new EventTimeWindows(options), first = new EventTimeWindows(options)
      // Two thirds, the watermark, a snapshot, then the last third: much of it late, updating fired windows.
      const part = (keep: (i: number) => boolean) => {
        const at = [...ts.keys()].filter(keep)
        return { timestamps: Float64Array.from(at, (i) => ts[i]), keys: Uint32Array.from(at, (i) => keys[i]), values: Float64Array.from(at.flatMap((i) => [vs[2 * i], vs[2 * i + 1]])) }
      }
      for (const w of [whole, first]) w.push(part((i) => i % 3 !== 0))
      const watermark = type === 'session' ? 900 : 500
      const a1 = whole.advanceWatermark(watermark), b1 = first.advanceWatermark(watermark)
      expect(Array.from(b1.values)).toEqual(Array.from(a1.values))
      const restored = new EventTimeWindows(options)
      restored.restore(first.snapshot())
      for (const w of [whole, restored]) w.push(part((i) => i % 3 === 0))
      const a = whole.flush(), b = restored.flush()
      expect(a.key.length).toBeGreaterThan(20)
      expect(Array.from(b.updated).some((u) => u === 1)).toBe(true)
      for (const column of ['key', 'start', 'end', 'count', 'updated', 'values'] as const) expect(Array.from(b[column])).toEqual(Array.from(a[column]))
      // Other sketch options: refused, the state unchanged.
      const other = new EventTimeWindows({ ...options, accuracy: 0.03 })
      expectSluiceError(() => other.restore(first.snapshot()), 'ERR_INVALID_ARGUMENT')
      const plain = new EventTimeWindows({ ...options, aggregates: ['count'], quantiles: [] })
      expectSluiceError(() => plain.restore(first.snapshot()), 'ERR_INVALID_ARGUMENT')
      expectSluiceError(() => first.restore(plain.snapshot()), 'ERR_INVALID_ARGUMENT')
      expect(other.flush().key.length).toBe(0)
    })
  }

  it('an expired key leaves no sketch behind: the key that reuses its id starts empty', () => {
    for (const type of ['tumbling', 'sliding'] as const) {
      const w = new EventTimeWindows({ type, size: 10, slide: type === 'sliding' ? 5 : undefined, keys: 'string', aggregates: ['p50', 'distinct', 'count'] })
      w.push({ timestamps: new Float64Array([1, 2, 3]), keys: ['a', 'a', 'c'], values: new Float64Array([1000, 1000, 7]) })
      w.expire(['a'])
      w.push({ timestamps: new Float64Array([4]), keys: ['b'], values: new Float64Array([5]) })
      const f = w.flush()
      const b = Array.from(f.keys as string[]).indexOf('b')
      expect(b).toBeGreaterThanOrEqual(0)
      expect(Math.abs(f.values[3 * b] - 5)).toBeLessThanOrEqual(0.05)
      expect(f.values[3 * b + 1]).toBeCloseTo(1, 1)
      expect(f.values[3 * b + 2]).toBe(1)
      expect(Array.from(f.keys as string[])).not.toContain('a')
    }
  })

  it('lays out [window][channel][aggregates then quantiles] and keeps working after a refused push', () => {
    const w = new EventTimeWindows({ ...base, channels: 2, aggregates: ['distinct', 'max'], quantiles: [1] })
    expect(w.valuesPerWindow).toBe(6)
    expectSluiceError(() => w.push({ timestamps: new Float64Array([1, 2]), values: new Float64Array([1, 2, 3]) }), 'ERR_INVALID_LENGTH')
    w.push({ timestamps: new Float64Array([1, 2]), values: new Float64Array([1, 10, 2, 10]) })
    const f = w.flush()
    expect(f.count[0]).toBe(2)
    expect(Array.from(f.values.subarray(1, 2))).toEqual([2])
    expect(Math.abs(f.values[0] - 2)).toBeLessThan(0.1)
    expect(Math.abs(f.values[2] - 2)).toBeLessThanOrEqual(0.02)
    expect(Math.abs(f.values[3] - 1)).toBeLessThan(0.1) // one distinct value, 10
    expect(f.values[4]).toBe(10)
  })
})
