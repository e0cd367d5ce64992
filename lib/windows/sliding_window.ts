// Count-based sliding windows over rows of `channels` values (native/core/sliding_window.h).
import type { NativeSlidingWindow } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { withSnapshots } from '../runtime/snapshots'
import { expectInteger, expectMultipleOf, expectTypedArray, outputArray } from '../runtime/validate'
import { AGGREGATES, QUANTILE_NAMES, expectQuantiles, type AggregateName, type QuantileName } from './aggregates'

/** The aggregates a window can compute (NaN is a missing value; see docs/windows.md, NaN policy), and the quantile names. */
export const slidingAggregates: readonly SlidingAggregate[] = [...AGGREGATES, ...(Object.keys(QUANTILE_NAMES) as QuantileName[])]
export type SlidingAggregate = AggregateName | QuantileName

export interface SlidingWindowOptions {
  /** Rows per window, 1 … 2^26. */
  size: number
  /** Rows between consecutive windows, 1 … 2^40 (default 1: a result for every row once the window is full). May exceed `size`. */
  slide?: number
  /** Values per row (default 1), 1 … 65536. */
  channels?: number
  /**
   * What to compute, in output order; no duplicates. `p50`, `p90`, `p99`, `p999` are exact quantiles of the
   * window's non-NaN values (linear interpolation between order statistics, as numpy's and pandas' default).
   */
  aggregates: readonly SlidingAggregate[]
  /**
   * More exact quantiles, each a number q in [0, 1] (default none): one output column each, after the
   * `aggregates` columns, in this order. No q twice (counting the quantile names among `aggregates`); at most 256.
   */
  quantiles?: readonly number[]
  /** Also emit the windows that end before `size` rows were seen, over the rows seen so far (default false). */
  emitPartial?: boolean
  /**
   * Most threads one push may use (default 1), 1 … 256. A large push is cut into pieces at resync
   * boundaries (every max(16·size, 8192) rows; each piece at least 2^16 values) that run at once on a
   * process-wide pool of hardware-concurrency threads, with results bit-for-bit those of one thread. Small
   * pushes, and pushes that find the pool busy with another window's push, run on the calling thread.
   * Costs one more copy of the window's native state per extra thread, made at the first push that is cut.
   */
  threads?: number
}

/** ⌊a / b⌋ for integers, exact where a / b in floating point might round across an integer. */
function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b)
  if (q * b > a) q--
  else if ((q + 1) * b <= a) q++
  return q
}

const maxSize = 2 ** 26
const maxSlide = 2 ** 40
const maxChannels = 65536
const maxThreads = 256
const maxQuantiles = 256

/**
 * Count-based sliding windows: window k covers rows [k·slide, k·slide + size) of the stream and is emitted
 * when its last row arrives. `push` takes whole rows, row-major `[row][channel]`, without copying.
 */
export class SlidingWindow extends withSnapshots(NativeObject<NativeSlidingWindow>) {
  readonly size: number
  readonly slide: number
  readonly channels: number
  readonly aggregates: readonly SlidingAggregate[]
  /** The `quantiles` option's q, whose columns follow the `aggregates` columns. */
  readonly quantiles: readonly number[]
  readonly emitPartial: boolean
  readonly threads: number
  /** Doubles per emitted window: channels × (aggregates.length + quantiles.length). */
  readonly windowWidth: number
  private rows = 0
  private pushing = false // a pushAsync is in flight

  constructor(options: SlidingWindowOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.size = expectInteger(options.size, 'size', 1, maxSize)
    this.slide = expectInteger(options.slide ?? 1, 'slide', 1, maxSlide)
    this.channels = expectInteger(options.channels ?? 1, 'channels', 1, maxChannels)
    if (!Array.isArray(options.aggregates) || options.aggregates.length === 0) {
      throw new SluiceError('aggregates must be a non-empty array of aggregate names', 'ERR_INVALID_ARGUMENT')
    }
    const seen = new Set<string>()
    const qs = new Set<number>()
    for (const name of options.aggregates) {
      if (!(slidingAggregates as readonly unknown[]).includes(name)) {
        throw new SluiceError(`unknown aggregate ${String(name)}; expected one of ${slidingAggregates.join(', ')}`, 'ERR_INVALID_ARGUMENT')
      }
      if (seen.has(name)) throw new SluiceError(`duplicate aggregate ${name}`, 'ERR_INVALID_ARGUMENT')
      seen.add(name)
      if (name in QUANTILE_NAMES) qs.add(QUANTILE_NAMES[name as QuantileName])
    }
    const quantiles = expectQuantiles(options.quantiles, options.aggregates, maxQuantiles - qs.size, `at most ${maxQuantiles} quantiles`)
    this.aggregates = Object.freeze([...options.aggregates])
    this.quantiles = Object.freeze([...quantiles])
    this.emitPartial = options.emitPartial === true
    this.threads = expectInteger(options.threads ?? 1, 'threads', 1, maxThreads)
    this.windowWidth = this.channels * (this.aggregates.length + this.quantiles.length)
    this.attach(new (native().SlidingWindow)({ size: this.size, slide: this.slide, channels: this.channels, aggregates: this.aggregates, quantiles: this.quantiles, emitPartial: this.emitPartial, threads: this.threads }))
  }

  /** Rows pushed since construction, reset() or the restored snapshot's rows. */
  get rowsSeen(): number {
    this.native()
    return this.rows
  }

  /** Bytes held natively (ring buffers, min/max arrays, scratch, parallel helpers), as of the last push that ended. */
  get memoryBytes(): number {
    return this.native().memoryBytes
  }

  /** How many windows pushing `rows` more rows will emit. */
  windowsFor(rows: number): number {
    this.native()
    expectInteger(rows, 'rows')
    const anchor = this.size - 1
    const lo = Math.max(this.rows, this.emitPartial ? 0 : anchor)
    const hi = this.rows + rows
    if (lo >= hi) return 0
    const kMin = -floorDiv(anchor - lo, this.slide)
    const kMax = floorDiv(hi - 1 - anchor, this.slide)
    return Math.max(0, kMax - kMin + 1)
  }

  /**
   * Appends whole rows (`values.length` a multiple of `channels`) and returns one row per emitted window,
   * laid out `[window][channel][aggregate]`, as a view of `out` (or of a new array) of exactly that length.
   */
  push(values: Float64Array | Float32Array, out?: Float64Array): Float64Array {
    const { handle, input, target } = this.preparePush(values, out)
    const windows = handle.push(input, target)
    return this.pushed(input, target, windows)
  }

  /**
   * push() on a native worker thread, for large batches that should not hold the event loop; the fixed cost
   * is a thread round trip (a few µs) and a copy of `values`. Every check runs before anything is queued (a
   * bad call rejects with push()'s code and changes nothing). The results are copied into `out` when the
   * push ends: if `out` was detached (transferred) or shrunk meanwhile, the promise rejects with
   * ERR_INVALID_STATE (the window has still taken the rows). Until the promise settles the window is busy:
   * push, pushAsync, snapshot, restore and reset throw ERR_INVALID_STATE, rowsSeen still counts the rows
   * before this push, and close() frees the window only once the push has ended.
   */
  pushAsync(values: Float64Array | Float32Array, out?: Float64Array): Promise<Float64Array> {
    try {
      const { handle, input, target } = this.preparePush(values, out)
      const promise = handle.pushAsync(input, target)
      this.pushing = true
      return promise.then(
        (windows) => {
          this.pushing = false
          return this.pushed(input, target, windows)
        },
        (error: unknown) => {
          this.pushing = false
          throw error
        },
      )
    } catch (error) {
      return Promise.reject(error)
    }
  }

  private preparePush(values: Float64Array | Float32Array, out: Float64Array | undefined) {
    const handle = this.native()
    // Before the output size is worked out from rows that the push in flight will change.
    if (this.pushing) throw new SluiceError('a pushAsync is in flight on this SlidingWindow: await it first', 'ERR_INVALID_STATE')
    const input: Float64Array | Float32Array = expectTypedArray<Float64ArrayConstructor | Float32ArrayConstructor>(values, 'values', Float64Array, Float32Array)
    expectMultipleOf(input, this.channels, 'values', 'channels')
    const length = this.windowsFor(input.length / this.channels) * this.windowWidth
    const target = outputArray(out, Float64Array, length) // ERR_OUT_OF_MEMORY for more windows than an array holds
    return { handle, input, target }
  }

  private pushed(input: Float64Array | Float32Array, target: Float64Array, windows: number): Float64Array {
    this.rows += input.length / this.channels
    return target.length === windows * this.windowWidth ? target : target.subarray(0, windows * this.windowWidth)
  }

  /** Restores a snapshot of a SlidingWindow with the same options (see Snapshots.restore); rowsSeen becomes the snapshot's. */
  override restore(bytes: Uint8Array): void {
    super.restore(bytes)
    this.rows = this.native().rowsSeen
  }

  /** Forgets every row: the next push starts a new stream. */
  reset(): void {
    this.native().reset()
    this.rows = 0
  }
}
