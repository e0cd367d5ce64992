// EventTimeWindows: keyed tumbling / sliding / session windows driven by event time (Flink's rules), over
// columns. See docs/event-time.md for the firing rule, lateness, memory per key and NaN policy.
import type { NativeEventTimeWindows, NativeEventTimeWindowsOptions } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { withSnapshots } from '../runtime/snapshots'
import { allocate, expectFinite, expectInteger, expectLength, expectOneOf, expectTypedArray, outputArray } from '../runtime/validate'
import { AGGREGATES, type AggregateName } from './aggregates'
import type { WatermarkTracker } from './watermark_tracker'

export { AGGREGATES, type AggregateName } from './aggregates'
export type WindowType = 'tumbling' | 'sliding' | 'session'

export interface EventTimeWindowsOptions {
  type: WindowType
  /** tumbling / sliding: window length (integer time units). */
  size?: number
  /** sliding: step, an integer in [1, size]. */
  slide?: number
  /** session: inactivity gap; a session is [first event, last event + gap). */
  gap?: number
  /** tumbling / sliding: windows start at offset + k·slide; |offset| < slide. Default 0. */
  offset?: number
  /** A fired window stays updatable until watermark ≥ end − 1 + allowedLateness. Default 0. */
  allowedLateness?: number
  /**
   * tumbling / sliding: sets the pane ring, which holds the panes with live data (size + allowedLateness +
   * horizon of them, contiguous); pauses and watermark jumps cost no slots. Default 4·size.
   */
  horizon?: number
  /** Keys are dense ids in [0, keyCount). Default 1. */
  keyCount?: number
  /** Values per event. Default 1. */
  channels?: number
  /** Default ['count', 'sum', 'mean', 'min', 'max']. */
  aggregates?: readonly AggregateName[]
  /** Where advanceWatermark() without an argument takes the watermark from. */
  tracker?: WatermarkTracker
}

export interface EventBatch {
  timestamps: Float64Array
  /** Optional: all key 0. */
  keys?: Uint32Array
  /** Row-major [event][channel]. */
  values: Float64Array | Float32Array
}

export interface PushResult {
  /** Indices (in this batch) of events that belong to no live window. A view, valid until the next push unless `out` was given. */
  late: Uint32Array
}

/** Fired windows as columns, in (end, key) order. Views of reused arrays unless `out` arrays were given. */
export interface FiredWindows {
  length: number
  key: Uint32Array
  start: Float64Array
  end: Float64Array
  /** Events in the window (NaN values included). */
  count: Float64Array
  /** 1 when this is an update of a window that fired before (allowed lateness). */
  updated: Uint8Array
  /** [window][channel][aggregate]. */
  values: Float64Array
}

export interface FiredWindowsOut {
  key?: Uint32Array
  start?: Float64Array
  end?: Float64Array
  count?: Float64Array
  updated?: Uint8Array
  values?: Float64Array
}

export interface WindowMetrics {
  onTime: number
  updating: number
  late: number
  firedWindows: number
  updateFirings: number
  ignoredWatermarks: number
}

const MAX_DURATION = 2 ** 40

export class EventTimeWindows extends withSnapshots(NativeObject<NativeEventTimeWindows>) {
  readonly type: WindowType
  readonly keyCount: number
  readonly channels: number
  readonly aggregates: readonly AggregateName[]
  /** Numbers per fired window in `values`: channels × aggregates. */
  readonly valuesPerWindow: number
  private readonly tracker: WatermarkTracker | undefined
  private lateBuffer = new Uint32Array(0)
  private fired = { key: new Uint32Array(0), start: new Float64Array(0), end: new Float64Array(0), count: new Float64Array(0), updated: new Uint8Array(0), values: new Float64Array(0) }
  private firedCount = 0

  constructor(options: EventTimeWindowsOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.type = expectOneOf(options.type, 'type', ['tumbling', 'sliding', 'session'] as const)
    const duration = (value: unknown, name: string, min: number) => expectInteger(value, name, min, MAX_DURATION)
    let assigner: Pick<NativeEventTimeWindowsOptions, 'gap' | 'size' | 'slide' | 'offset' | 'horizon'>
    if (this.type === 'session') {
      assigner = { gap: duration(options.gap, 'gap', 1) }
    } else {
      const size = duration(options.size, 'size', 1)
      const slide = this.type === 'sliding' ? duration(options.slide, 'slide', 1) : size
      if (slide > size) throw new SluiceError(`slide must be <= size (${size}), got ${slide}`, 'ERR_OUT_OF_RANGE')
      const offset = expectInteger(options.offset ?? 0, 'offset', -(slide - 1), slide - 1)
      assigner = { size, slide, offset, horizon: duration(options.horizon ?? 0, 'horizon', 0) }
    }
    const allowedLateness = duration(options.allowedLateness ?? 0, 'allowedLateness', 0)
    this.keyCount = expectInteger(options.keyCount ?? 1, 'keyCount', 1, 2 ** 28)
    this.channels = expectInteger(options.channels ?? 1, 'channels', 1, 1024)
    const aggregates = options.aggregates ?? ['count', 'sum', 'mean', 'min', 'max']
    if (!Array.isArray(aggregates) || aggregates.length === 0 || aggregates.length > 64) {
      throw new SluiceError('aggregates must be an array of 1 to 64 names', 'ERR_INVALID_ARGUMENT')
    }
    this.aggregates = aggregates.map((a, i) => expectOneOf(a, `aggregates[${i}]`, AGGREGATES))
    this.valuesPerWindow = this.channels * this.aggregates.length
    if (options.tracker !== undefined && (typeof options.tracker !== 'object' || typeof options.tracker.currentWatermark !== 'function')) {
      throw new SluiceError('tracker must be a WatermarkTracker', 'ERR_INVALID_TYPE')
    }
    this.tracker = options.tracker
    const spec = { kind: this.type, ...assigner, allowedLateness, keyCount: this.keyCount, channels: this.channels, aggregates: this.aggregates }
    this.attach(new (native().EventTimeWindows)(spec))
  }

  /** Places every event in its windows (any order). Late events (in no live window) come back by index. */
  push(batch: EventBatch, out?: { late?: Uint32Array }): PushResult {
    const handle = this.native()
    if (typeof batch !== 'object' || batch === null) throw new SluiceError('batch must be an object', 'ERR_INVALID_TYPE')
    const timestamps = expectTypedArray(batch.timestamps, 'timestamps', Float64Array)
    const n = timestamps.length
    const keys = batch.keys === undefined ? undefined : expectTypedArray(batch.keys, 'keys', Uint32Array)
    if (keys) expectLength(keys, n, 'keys')
    const values = expectTypedArray<Float64ArrayConstructor | Float32ArrayConstructor>(batch.values, 'values', Float64Array, Float32Array)
    expectLength(values, n * this.channels, 'values')
    let late: Uint32Array
    if (out?.late !== undefined) {
      late = outputArray(out.late, Uint32Array, n, 'out.late')
    } else {
      if (this.lateBuffer.length < n) this.lateBuffer = new Uint32Array(Math.max(n, 2 * this.lateBuffer.length))
      late = this.lateBuffer
    }
    const lateCount = handle.push(timestamps, keys, values, late)
    return { late: late.subarray(0, lateCount) }
  }

  /**
   * Raises the watermark (or takes the attached tracker's) and returns the windows that fire: pending
   * updates of fired windows, then every window with end − 1 ≤ watermark, in (end, key) order. A watermark
   * below the current one is ignored (metrics().ignoredWatermarks) but pending updates still come out.
   */
  advanceWatermark(watermark?: number, out?: FiredWindowsOut): FiredWindows {
    const handle = this.native()
    let wm: number
    if (watermark === undefined) {
      if (!this.tracker) throw new SluiceError('advanceWatermark() needs a watermark or an attached tracker', 'ERR_INVALID_ARGUMENT')
      wm = this.tracker.currentWatermark()
    } else {
      if (typeof watermark !== 'number') throw new SluiceError('watermark must be a number', 'ERR_INVALID_TYPE')
      if (Number.isNaN(watermark) || watermark === Infinity) {
        throw new SluiceError(`watermark must be a number below Infinity (use flush()), got ${watermark}`, 'ERR_INVALID_ARGUMENT')
      }
      wm = watermark
    }
    this.checkOut(out, wm)
    this.firedCount = handle.advance(wm)
    return this.lastFired(out)
  }

  /** The windows issue's `advance(time)`: the same as advanceWatermark(time) (all data ≤ time has arrived). */
  advance(time: number, out?: FiredWindowsOut): FiredWindows {
    expectFinite(time, 'time')
    return this.advanceWatermark(time, out)
  }

  /** End of stream: fires every window (watermark +Infinity); later events are late. */
  flush(out?: FiredWindowsOut): FiredWindows {
    const handle = this.native()
    this.checkOut(out, Infinity)
    this.firedCount = handle.flush()
    return this.lastFired(out)
  }

  /** The windows of the last advance/flush again (e.g. into other arrays). */
  lastFired(out?: FiredWindowsOut): FiredWindows {
    const handle = this.native()
    const n = this.firedCount
    const m = n * this.valuesPerWindow
    let target: typeof this.fired
    if (out) {
      target = {
        key: outputArray(out.key, Uint32Array, n, 'out.key'),
        start: outputArray(out.start, Float64Array, n, 'out.start'),
        end: outputArray(out.end, Float64Array, n, 'out.end'),
        count: outputArray(out.count, Float64Array, n, 'out.count'),
        updated: outputArray(out.updated, Uint8Array, n, 'out.updated'),
        values: outputArray(out.values, Float64Array, m, 'out.values'),
      }
    } else {
      if (this.fired.key.length < n) {
        const c = Math.max(n, 2 * this.fired.key.length)
        this.fired = { key: new Uint32Array(c), start: new Float64Array(c), end: new Float64Array(c), count: new Float64Array(c), updated: new Uint8Array(c), values: allocate(Float64Array, c * this.valuesPerWindow, 'the fired windows\' values') }
      }
      target = this.fired
    }
    handle.readFired(target.key, target.start, target.end, target.count, target.updated, target.values)
    return {
      length: n,
      key: target.key.subarray(0, n),
      start: target.start.subarray(0, n),
      end: target.end.subarray(0, n),
      count: target.count.subarray(0, n),
      updated: target.updated.subarray(0, n),
      values: target.values.subarray(0, m),
    }
  }

  /** The current watermark (−Infinity at first, +Infinity after flush). */
  get watermark(): number {
    return this.native().watermark()
  }

  metrics(): WindowMetrics {
    return this.native().metrics()
  }

  /** Ring size in panes (tumbling / sliding) and native bytes held now. */
  info(): { ringPanes: number; memoryBytes: number } {
    return this.native().info()
  }

  /**
   * Checks caller arrays before anything fires: their types, then their lengths against the windows that
   * advancing to `watermark` (Infinity: flush) would fire, counted natively without firing them.
   */
  private checkOut(out: FiredWindowsOut | undefined, watermark: number): void {
    if (out === undefined) return
    if (typeof out !== 'object' || out === null) throw new SluiceError('out must be an object', 'ERR_INVALID_TYPE')
    const types: [keyof FiredWindowsOut, Uint32ArrayConstructor | Float64ArrayConstructor | Uint8ArrayConstructor][] = [
      ['key', Uint32Array], ['start', Float64Array], ['end', Float64Array], ['count', Float64Array], ['updated', Uint8Array], ['values', Float64Array],
    ]
    let given = false
    for (const [name, type] of types) {
      if (out[name] === undefined) continue
      expectTypedArray(out[name], `out.${name}`, type)
      given = true
    }
    if (!given) return
    const n = this.native().firing(watermark)
    for (const [name, type] of types) if (out[name] !== undefined) outputArray(out[name], type, name === 'values' ? n * this.valuesPerWindow : n, `out.${name}`)
  }
}
