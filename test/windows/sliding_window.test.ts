// SlidingWindow against a naive recomputation of every window in TypeScript (the reference), plus its
// guarantees: batch cuts, Float32 input, long-stream accuracy, snapshots, SIMD levels and bad input.
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { backends, SlidingWindow, slidingAggregates, type SlidingAggregate, type SlidingWindowOptions } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { expectSluiceError, repoRoot, runNode, runnableSimdLevels } from '../helpers'
import { mulberry32 as random } from '../../lib/runtime/random'
import { QUANTILE_NAMES } from '../../lib/windows/aggregates'
import { naiveQuantile } from '../reference/quantile'

// ---- the reference -------------------------------------------------------------------------------------

/** One window's aggregate, from its values: NaN is missing, ±∞ propagate as in plain IEEE arithmetic. */
function naiveAggregate(values: number[], aggregate: SlidingAggregate): number {
  const valid = values.filter((x) => !Number.isNaN(x))
  const n = valid.length
  const sum = valid.reduce((a, x) => a + x, 0)
  const mean = sum / n
  const variance = () => {
    if (n < 2) return NaN
    if (valid.some((x) => !Number.isFinite(x))) return NaN
    return valid.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1)
  }
  switch (aggregate) {
    case 'count': return n
    case 'sum': return n === 0 ? 0 : sum
    case 'mean': return n === 0 ? NaN : mean
    case 'min': return n === 0 ? NaN : Math.min(...valid)
    case 'max': return n === 0 ? NaN : Math.max(...valid)
    case 'var': return variance()
    case 'std': return Math.sqrt(variance())
    case 'first': return n === 0 ? NaN : valid[0]!
    case 'last': return n === 0 ? NaN : valid[n - 1]!
    case 'p50': case 'p90': case 'p99': case 'p999': return naiveQuantile(valid, QUANTILE_NAMES[aggregate])
  }
}

/** Every emitted window of the whole stream, [window][channel][aggregate]. */
function naive(options: Required<SlidingWindowOptions>, values: ArrayLike<number>): number[] {
  const { size, slide, channels, aggregates, emitPartial } = options
  const rows = values.length / channels
  const result: number[] = []
  for (let r = 0; r < rows; r++) {
    if (r < size - 1 && !emitPartial) continue
    if ((((r - (size - 1)) % slide) + slide) % slide !== 0) continue
    for (let c = 0; c < channels; c++) {
      const window: number[] = []
      for (let i = Math.max(0, r - size + 1); i <= r; i++) window.push(values[i * channels + c]!)
      for (const a of aggregates) result.push(naiveAggregate(window, a))
    }
  }
  return result
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: (want: number) => number): void {
  expect(got.length).toBe(want.length)
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) expect.fail(`index ${i}: got ${g}, want ${w}`)
      continue
    }
    if (!(Math.abs(g - w) <= tolerance(w))) expect.fail(`index ${i}: got ${g}, want ${w}`)
  }
}

function bytesOf(array: Float64Array): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength)
}

// A deterministic generator (mulberry32), so failures reproduce.

type Shape = 'random' | 'constant' | 'rising' | 'falling' | 'nan' | 'infinite'
function stream(rand: () => number, shape: Shape, length: number, offset: number): Float64Array {
  const v = new Float64Array(length)
  for (let i = 0; i < length; i++) {
    switch (shape) {
      case 'random': v[i] = offset + 100 * (rand() - 0.5); break
      case 'constant': v[i] = offset; break
      case 'rising': v[i] = offset + i * 0.25; break
      case 'falling': v[i] = offset - i * 0.25; break
      case 'nan': v[i] = rand() < 0.2 ? NaN : offset + rand(); break
      case 'infinite': { const p = rand(); v[i] = p < 0.1 ? NaN : p < 0.13 ? (rand() < 0.5 ? Infinity : -Infinity) : offset + rand(); break }
    }
  }
  if (shape === 'nan') v.fill(NaN, Math.floor(length / 3), Math.floor(length / 3) + 60) // NaN-only windows
  return v
}

function pushInCuts(window: SlidingWindow, values: Float64Array | Float32Array, rand: () => number): Float64Array {
  const parts: Float64Array[] = []
  const rows = values.length / window.channels
  for (let at = 0; at < rows;) {
    const n = Math.min(rows - at, rand() < 0.3 ? Math.floor(rand() * 4) : Math.floor(rand() * 400))
    parts.push(window.push(values.subarray(at * window.channels, (at + n) * window.channels)).slice())
    at += n
  }
  const all = new Float64Array(parts.reduce((a, p) => a + p.length, 0))
  let k = 0
  for (const p of parts) { all.set(p, k); k += p.length }
  return all
}

const shapes: Shape[] = ['random', 'constant', 'rising', 'falling', 'nan', 'infinite']

// ---- behaviour -----------------------------------------------------------------------------------------

describe('SlidingWindow against a naive recomputation', () => {
  it('matches for random sizes, slides, channels, partial windows and stream shapes, however the stream is cut', () => {
    const rand = random(1)
    for (let trial = 0; trial < 72; trial++) {
      const options: Required<SlidingWindowOptions> = {
        size: 1 + Math.floor(rand() * (trial % 4 === 0 ? 300 : 40)),
        slide: 1 + Math.floor(rand() * 9),
        channels: 1 + Math.floor(rand() * 3),
        aggregates: [...slidingAggregates].sort(() => rand() - 0.5).slice(0, 1 + Math.floor(rand() * 9)),
        emitPartial: rand() < 0.5,
      }
      const shape = shapes[trial % shapes.length]!
      const offset = trial % 2 ? 1e6 : -3
      const values = stream(rand, shape, options.channels * (500 + Math.floor(rand() * 2500)), offset)
      const want = naive(options, values)
      const whole = new SlidingWindow(options).push(values)
      expectClose(whole, want, (w) => 1e-9 * (1 + Math.abs(w)) + 1e-12 * Math.abs(offset) * options.size)
      // Results do not depend on how the stream is cut into batches, to the last bit.
      expect(bytesOf(pushInCuts(new SlidingWindow(options), values, rand)).equals(bytesOf(whole))).toBe(true)
    }
  })

  it('stays exact across the periodic resyncs of its running sums (every max(16·size, 8192) rows)', () => {
    const rand = random(7)
    for (const shape of ['rising', 'nan', 'infinite'] as Shape[]) {
      const options = { size: 5, slide: 1, channels: 1, aggregates: [...slidingAggregates], emitPartial: false }
      const values = stream(rand, shape, 40_000, 1e5)
      const whole = new SlidingWindow(options).push(values)
      expectClose(whole, naive(options, values), (w) => 1e-9 * (1 + Math.abs(w)))
      expect(bytesOf(pushInCuts(new SlidingWindow(options), values, rand)).equals(bytesOf(whole))).toBe(true)
    }
  })

  it('gives the same results for Float32 input as for the same values as doubles', () => {
    const rand = random(2)
    const options = { size: 37, slide: 3, channels: 2, aggregates: [...slidingAggregates], emitPartial: true }
    const f32 = Float32Array.from(stream(rand, 'nan', 2 * 3000, 20))
    const got = pushInCuts(new SlidingWindow(options), f32, rand)
    expect(bytesOf(got).equals(bytesOf(new SlidingWindow(options).push(Float64Array.from(f32))))).toBe(true)
    expectClose(got, naive(options, f32), (w) => 1e-9 * (1 + Math.abs(w)))
  })

  it('follows the NaN policy: missing values skipped; NaN-only windows give count 0, sum 0 and NaN otherwise', () => {
    const w = new SlidingWindow({ size: 2, aggregates: [...slidingAggregates] })
    const out = w.push(new Float64Array([NaN, NaN, 5, NaN, NaN]))
    // count sum mean min max var std first last, then the quantiles p50 p90 p99 p999
    expect(out.length).toBe(4 * 13)
    expect(Array.from(out.subarray(0, 13))).toEqual([0, 0, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN])
    expect(Array.from(out.subarray(13, 26))).toEqual([1, 5, 5, 5, 5, NaN, NaN, 5, 5, 5, 5, 5, 5])
    expect(Array.from(out.subarray(39, 52))).toEqual([0, 0, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN])
  })

  it('emits exactly the windows of the documented grid', () => {
    const w = new SlidingWindow({ size: 4, slide: 3, aggregates: ['first', 'last'] })
    expect(w.windowsFor(10)).toBe(3)
    expect(Array.from(w.push(Float64Array.from({ length: 10 }, (_, i) => i)))).toEqual([0, 3, 3, 6, 6, 9])
    const partial = new SlidingWindow({ size: 4, slide: 3, aggregates: ['first', 'last'], emitPartial: true })
    expect(Array.from(partial.push(Float64Array.from({ length: 7 }, (_, i) => i)))).toEqual([0, 0, 0, 3, 3, 6])
    const gaps = new SlidingWindow({ size: 2, slide: 5, aggregates: ['sum'] })
    expect(Array.from(gaps.push(Float64Array.from({ length: 12 }, (_, i) => i)))).toEqual([1, 11, 21])
  })

  it('stays accurate over 10^7 rows with a large offset and a huge spike (no drift)', () => {
    const size = 1000
    const options = { size, aggregates: ['sum', 'mean', 'var'] as SlidingAggregate[] }
    const w = new SlidingWindow(options)
    const rand = random(3)
    const batch = new Float64Array(1_000_000)
    const out = new Float64Array(3 * batch.length)
    let last = new Float64Array(0)
    for (let b = 0; b < 10; b++) {
      for (let i = 0; i < batch.length; i++) batch[i] = 1e9 + (b * batch.length + i) * 1e-3 + rand()
      if (b === 2) batch[10] = 1e17
      last = w.push(batch, out)
    }
    // Exact recomputation of the final window: compensated two-pass sums.
    const x = Array.from(batch.subarray(batch.length - size))
    let sum = 0, c = 0
    for (const v of x) { const t = sum + v; c += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum; sum = t }
    const exactSum = sum + c
    const mean = exactSum / size
    const exactVar = x.reduce((a, v) => a + (v - mean) ** 2, 0) / (size - 1)
    const [gotSum, gotMean, gotVar] = Array.from(last.subarray(last.length - 3))
    expect(Math.abs(gotSum! - exactSum)).toBeLessThan(1e-12 * exactSum)
    expect(Math.abs(gotMean! - mean)).toBeLessThan(1e-12 * mean)
    expect(Math.abs(gotVar! - exactVar)).toBeLessThan(1e-8 * exactVar)
  })
})

describe('SlidingWindow state', () => {
  const options = { size: 50, slide: 2, channels: 2, aggregates: [...slidingAggregates], emitPartial: true }

  it('snapshot() / restore() in a new window continues exactly as if it had never stopped', () => {
    const rand = random(4)
    const values = stream(rand, 'nan', 2 * 5000, 7)
    const want = new SlidingWindow(options).push(values)
    for (const stop of [0, 1, 37, 1001, 2500]) {
      const first = new SlidingWindow(options)
      const head = first.push(values.subarray(0, 2 * stop)).slice()
      const second = new SlidingWindow(options)
      second.restore(first.snapshot())
      expect(second.rowsSeen).toBe(stop)
      const tail = second.push(values.subarray(2 * stop))
      const got = new Float64Array(head.length + tail.length)
      got.set(head)
      got.set(tail, head.length)
      expect(bytesOf(got).equals(bytesOf(want))).toBe(true)
    }
  })

  it('moves between processes', () => {
    const rand = random(5)
    const values = stream(rand, 'random', 2 * 3000, 100)
    const want = new SlidingWindow(options).push(values)
    const head = Array.from(values.subarray(0, 2 * 1700))
    const encoded = runNode(`
      const { SlidingWindow } = require('./dist')
      const w = new SlidingWindow(${JSON.stringify(options)})
      w.push(Float64Array.from(${JSON.stringify(head)}))
      process.stdout.write(Buffer.from(w.snapshot()).toString('base64'))`).trim()
    const resumed = new SlidingWindow(options)
    resumed.restore(new Uint8Array(Buffer.from(encoded, 'base64')))
    const tail = resumed.push(values.subarray(2 * 1700))
    expect(bytesOf(tail).equals(bytesOf(want.subarray(want.length - tail.length)))).toBe(true)
  })

  it('reset() starts a new stream; close() releases it and later calls are ERR_INVALID_STATE', () => {
    const w = new SlidingWindow({ size: 3, aggregates: ['sum'] })
    w.push(new Float64Array([1, 2, 3, 4]))
    w.reset()
    expect(w.rowsSeen).toBe(0)
    expect(Array.from(w.push(new Float64Array([10, 20, 30])))).toEqual([60])
    w.close()
    w.close()
    expectSluiceError(() => w.push(new Float64Array(3)), 'ERR_INVALID_STATE')
    expectSluiceError(() => w.snapshot(), 'ERR_INVALID_STATE')
    expectSluiceError(() => w.rowsSeen, 'ERR_INVALID_STATE')
  })

  it('every SIMD level gives the same bits (SLUICE_SIMD=portable in a child process)', () => {
    const script = `
      const { SlidingWindow } = require('./dist')
      const values = Float64Array.from({ length: 20000 }, (_, i) => 1e5 + 50 * Math.sin(i * 0.7) + (i % 13))
      const out = new SlidingWindow({ size: 333, aggregates: ['sum', 'mean', 'var', 'max', 'min'] }).push(values)
      const hash = require('node:crypto').createHash('sha256').update(new Uint8Array(out.buffer)).digest('hex')
      process.stdout.write(out.length + ' ' + out[out.length - 1] + ' ' + hash)`
    const here = runNode(script)
    for (const level of runnableSimdLevels(backends().cpu.simdSupported)) expect(runNode(script, { SLUICE_SIMD: level })).toBe(here)
  })

  it('runs in several worker threads at once, each with its own windows', async () => {
    const source = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { SlidingWindow } = require(${JSON.stringify(path.join(repoRoot, 'dist'))})
      const w = new SlidingWindow({ size: 10, aggregates: ['sum', 'max'] })
      const values = Float64Array.from({ length: 1000 }, (_, i) => (i * workerData) % 17)
      parentPort.postMessage(Array.from(w.push(values)))
      w.close()`
    const factors = [1, 3, 7]
    const results = await Promise.all(factors.map((factor) => new Promise<number[]>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: factor })
      worker.once('message', resolve)
      worker.once('error', reject)
    })))
    factors.forEach((factor, k) => {
      const values = Float64Array.from({ length: 1000 }, (_, i) => (i * factor) % 17)
      expect(results[k]).toEqual(Array.from(new SlidingWindow({ size: 10, aggregates: ['sum', 'max'] }).push(values)))
    })
  })

  it('writes into the caller’s out and reads subarrays in place (zero-copy)', () => {
    const backing = new Float64Array(10).fill(-1)
    const input = new Float64Array([0, 0, 1, 2, 3, 4, 0])
    const w = new SlidingWindow({ size: 2, aggregates: ['sum'] })
    const view = w.push(input.subarray(2, 6), backing.subarray(3))
    expect(view.buffer).toBe(backing.buffer)
    expect(Array.from(backing)).toEqual([-1, -1, -1, 3, 5, 7, -1, -1, -1, -1])
  })
})

describe('SlidingWindow bad input', () => {
  it('rejects invalid options with stable codes', () => {
    const make = (o: unknown) => () => new SlidingWindow(o as SlidingWindowOptions)
    expectSluiceError(make({ size: 0, aggregates: ['sum'] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make({ size: 2 ** 26 + 1, aggregates: ['sum'] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make({ size: 2.5, aggregates: ['sum'] }), 'ERR_INVALID_TYPE')
    expectSluiceError(make({ size: 3, slide: 0, aggregates: ['sum'] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make({ size: 3, channels: 0, aggregates: ['sum'] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(make({ size: 3, aggregates: [] }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(make({ size: 3, aggregates: ['median'] }), 'ERR_INVALID_ARGUMENT', /unknown aggregate median/)
    expectSluiceError(make({ size: 3, aggregates: ['sum', 'max', 'sum'] }), 'ERR_INVALID_ARGUMENT', /duplicate/)
    expectSluiceError(make(null), 'ERR_INVALID_TYPE')
    expect(new SlidingWindow({ size: 3, slide: 10, aggregates: ['sum'] }).slide).toBe(10) // slide > size: hopping windows
  })

  it('rejects bad pushes and snapshots before changing state, and keeps working afterwards', () => {
    const options = { size: 4, channels: 2, aggregates: ['sum', 'max'] as SlidingAggregate[] }
    const w = new SlidingWindow(options)
    const reference = new SlidingWindow(options)
    const rows = Float64Array.from({ length: 20 }, (_, i) => i * 1.5)
    w.push(rows.subarray(0, 6))
    reference.push(rows.subarray(0, 6))
    expectSluiceError(() => w.push(new Int32Array(4) as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push([1, 2] as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push(new Float64Array(5)), 'ERR_INVALID_LENGTH', /multiple of channels/)
    expectSluiceError(() => w.push(new Float64Array(4), new Float64Array(3)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => w.push(new Float64Array(4), new Float32Array(8) as never), 'ERR_INVALID_TYPE')
    const snapshot = w.snapshot()
    const corrupt = snapshot.slice()
    corrupt[corrupt.length >> 1]! ^= 4
    expectSluiceError(() => w.restore(corrupt), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => w.restore(snapshot.subarray(0, 20)), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => w.restore([1, 2] as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new SlidingWindow({ ...options, size: 5 }).restore(snapshot), 'ERR_INVALID_ARGUMENT', /other options/)
    const shared = new Float64Array(64)
    expectSluiceError(() => w.push(shared.subarray(0, 8), shared.subarray(4)), 'ERR_INVALID_ARGUMENT', /overlap/)
    expect(w.push(new Float64Array(0)).length).toBe(0)
    expectSluiceError(() => w.windowsFor(-1), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => w.windowsFor(1.5), 'ERR_INVALID_TYPE')
    // The native layer checks again when the TypeScript checks are bypassed.
    const raw = new (native().SlidingWindow as new (o: object) => { push(v: unknown, o: unknown): number })({ size: 4, slide: 1, channels: 2, aggregates: ['sum'], emitPartial: false })
    expectSluiceError(() => raw.push(new Float64Array(8), new Float64Array(1)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => raw.push(new Float64Array(7), new Float64Array(8)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => raw.push(new Uint8Array(8), new Float64Array(8)), 'ERR_INVALID_TYPE')
    // Nothing changed: the window goes on exactly like one that saw no bad input.
    expect(w.rowsSeen).toBe(3)
    expect(Array.from(w.push(rows.subarray(6)))).toEqual(Array.from(reference.push(rows.subarray(6))))
  })
})
