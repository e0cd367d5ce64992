// SlidingWindow with threads > 1: large pushes cut into pieces that run in parallel give exactly the bits
// of one thread (and leave a state that continues exactly alike, also restored into a one-thread window), through push and pushAsync, also when
// several windows push at once and some find the shared pool busy; bad `threads` options are refused.
import { describe, expect, it } from 'vitest'
import { SlidingWindow, slidingAggregates, type SlidingAggregate } from '../../lib/index'
import { mulberry32 as random } from '../../lib/runtime/random'
import { AGGREGATES } from '../../lib/windows/aggregates'
import { expectSluiceError } from '../helpers'

// The first index where two results differ bit for bit (NaN payloads included), or -1 (-2: lengths differ).
// A diff of whole arrays this large would exhaust the test's heap.
function firstDifference(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) return -2
  const x = new BigUint64Array(a.buffer, a.byteOffset, a.length), y = new BigUint64Array(b.buffer, b.byteOffset, b.length)
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i
  return -1
}

// Values around an offset, with NaN, ±∞ and NaN stretches longer than the window (all-NaN windows at cuts).
function stream(rand: () => number, rows: number, channels: number, size: number): Float64Array {
  const values = new Float64Array(rows * channels)
  const offset = rand() < 0.5 ? 0 : 1e6
  for (let i = 0; i < values.length; i++) {
    const p = rand()
    values[i] = p < 0.01 ? NaN : p < 0.012 ? (rand() < 0.5 ? Infinity : -Infinity) : offset + 10 * (rand() - 0.5)
  }
  for (let start = Math.floor(rand() * 5000); start < rows; start += 20000 + Math.floor(rand() * 20000)) {
    const end = Math.min(rows, start + size + Math.floor(rand() * 500))
    for (let r = start; r < end; r++) values[r * channels] = NaN
  }
  return values
}

// The named aggregates from `rand` (the trials' sizes and streams stay those this test was written with), and
// the quantiles from a generator of their own.
const quantileRand = random(73)
function pickAggregates(rand: () => number): SlidingAggregate[] {
  const chosen: SlidingAggregate[] = AGGREGATES.filter(() => rand() < 0.4)
  chosen.push(...slidingAggregates.filter((a) => !(AGGREGATES as readonly string[]).includes(a) && quantileRand() < 0.4))
  return chosen.length > 0 ? chosen : ['var']
}

describe('SlidingWindow threads', () => {
  it('gives the one-thread bits for large pushes cut into pieces, and continues alike', () => {
    const rand = random(71)
    for (let trial = 0; trial < 8; trial++) {
      const size = 1 + Math.floor(rand() * 1500)
      const channels = 1 + Math.floor(rand() * 2)
      const options = { size, slide: 1 + Math.floor(rand() * 3), channels, aggregates: pickAggregates(rand), emitPartial: rand() < 0.3 }
      const rows = 200_000 + Math.floor(rand() * 100_000)
      const values = stream(rand, rows + 5000, channels, size)
      const alone = new SlidingWindow(options)
      const parallel = new SlidingWindow({ ...options, threads: 2 + Math.floor(rand() * 3) })
      const before = parallel.memoryBytes
      const input = trial % 3 === 2 ? Float32Array.from(values) : values // float input is converted in the pieces alike
      const head = input.subarray(0, rows * channels), tail = input.subarray(rows * channels)
      expect(firstDifference(parallel.push(head), alone.push(head))).toBe(-1)
      expect(parallel.memoryBytes).toBeGreaterThan(before) // the push was cut: helpers hold their own state
      expect(parallel.rowsSeen).toBe(alone.rowsSeen)
      // The state moves between windows whatever their threads: a one-thread window restored from it goes on alike.
      const restored = new SlidingWindow(options)
      restored.restore(parallel.snapshot())
      const want = alone.push(tail)
      expect(firstDifference(parallel.push(tail), want)).toBe(-1)
      expect(firstDifference(restored.push(tail), want)).toBe(-1)
      for (const w of [parallel, alone, restored]) w.close()
    }
  })

  it('gives the same bits through pushAsync, with several windows pushing at once', async () => {
    const rand = random(73)
    const jobs = Array.from({ length: 4 }, () => {
      const options = { size: 100 + Math.floor(rand() * 900), aggregates: pickAggregates(rand) }
      const values = stream(rand, 150_000, 1, options.size)
      return { values, parallel: new SlidingWindow({ ...options, threads: 2 }), alone: new SlidingWindow(options) }
    })
    // All in flight together: those that find the shared pool busy run alone, with the same results.
    const results = await Promise.all(jobs.map((job) => job.parallel.pushAsync(job.values)))
    for (let i = 0; i < jobs.length; i++) {
      expect(firstDifference(results[i], jobs[i].alone.push(jobs[i].values))).toBe(-1)
      jobs[i].parallel.close()
      jobs[i].alone.close()
    }
  })

  it('small pushes run on the calling thread: no helper state is made', () => {
    const window = new SlidingWindow({ size: 1000, aggregates: ['mean'], threads: 4 })
    const before = window.memoryBytes
    window.push(new Float64Array(20_000).fill(1))
    expect(window.memoryBytes).toBe(before)
    window.close()
  })

  it('refuses bad threads options with stable codes', () => {
    const make = (threads: unknown) => () => new SlidingWindow({ size: 3, aggregates: ['sum'], threads } as never)
    expectSluiceError(make(0), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make(257), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make(1.5), 'ERR_INVALID_TYPE')
    expectSluiceError(make('2'), 'ERR_INVALID_TYPE')
    expect(new SlidingWindow({ size: 3, aggregates: ['sum'], threads: 256 }).threads).toBe(256)
    expect(new SlidingWindow({ size: 3, aggregates: ['sum'] }).threads).toBe(1)
  })
})
