// EventTimeWindows: keyed tumbling / sliding / session windows driven by event time (Flink's rules), over
// columns. See docs/event-time.md for the firing rule, lateness, memory per key and NaN policy.
import { expectKeyColumn, expectKeyKind, expireColumn, heldKeys, StringKeys, unpackStrings, type KeyColumn, type KeyKind, type KeyValues, type PackedKeys } from '../keys/key_column'
import type { NativeEventTimeWindows, NativeEventTimeWindowsOptions } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { withSnapshots } from '../runtime/snapshots'
import { allocate, expectFinite, expectInteger, expectLength, expectOneOf, expectTypedArray, outputArray } from '../runtime/validate'
import { EVENT_TIME_AGGREGATES, expectQuantiles, expectSketchOptions, type EventTimeAggregateName } from './aggregates'
import type { WatermarkTracker } from './watermark_tracker'

export { AGGREGATES, EVENT_TIME_AGGREGATES, type AggregateName, type EventTimeAggregateName } from './aggregates'
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
  /**
   * How batches carry keys (docs/keys.md): 'dense' Uint32Array ids (default, the fast path), or keys interned
   * natively into ids — 'string' (string[]), 'bigint' / 'bigint64' (BigUint64Array / BigInt64Array back;
   * either array goes in), 'bytes' ({ bytes, offsets }). Fired windows then carry `keys` of that kind too.
   */
  keys?: KeyKind
  /**
   * Dense ids: given, ids are in [0, keyCount) (unless maxKeys is larger); omitted, the key space grows on
   * demand. Other kinds: the starting capacity (default 64); it doubles as keys arrive.
   */
  keyCount?: number
  /**
   * The most keys: dense ids below maxKeys (the key space growing up to it), or live interned keys (a batch
   * with new keys beyond is ERR_OUT_OF_RANGE and changes nothing). Default 2^28.
   */
  maxKeys?: number
  /**
   * Interned keys only: a key with no event for keyTtl (event time) behind the watermark and no window
   * still open is freed (its state, its dictionary entry; its id is reused) at the next advance. Default: never.
   */
  keyTtl?: number
  /** Values per event. Default 1. */
  channels?: number
  /**
   * Default ['count', 'sum', 'mean', 'min', 'max']. Sketch aggregates (docs/event-time.md, Sketches): `p50`,
   * `p90`, `p99`, `p999` are DDSketch quantile estimates (q = 0.5 …; within relative error `accuracy` of the
   * exact order statistic of rank ⌊q·(n − 1)⌋), `distinct` a HyperLogLog estimate of the number of distinct
   * values (relative standard error 1.04/√2^distinctPrecision).
   */
  aggregates?: readonly EventTimeAggregateName[]
  /** More quantile columns, each q in [0, 1]: one column each after the `aggregates` columns, in this order (at most 64 columns in all). */
  quantiles?: readonly number[]
  /** DDSketch relative accuracy α of the quantile columns, in [1e-6, 1). Default 0.01 (1 %). */
  accuracy?: number
  /** HyperLogLog precision p of `distinct`, an integer in [4, 18]: 2^p bytes per sketch, error 1.04/√2^p. Default 14 (0.81 %, 16 KiB). */
  distinctPrecision?: number
  /** Where advanceWatermark() without an argument takes the watermark from. */
  tracker?: WatermarkTracker
}

export interface EventBatch {
  timestamps: Float64Array
  /** Of the windows' `keys` kind, one per event. Optional for dense ids: all key 0. */
  keys?: KeyColumn
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
  /** Dense ids (interned keys: their ids, valid while the key lives). */
  key: Uint32Array
  /**
   * Interned keys: the windows' keys in their kind (string[], BigUint64Array, …, { bytes, offsets }). string[]
   * is built when first read; read it before the next call that frees keys (advance with keyTtl, expire,
   * restore), as the reused columns (ERR_INVALID_STATE after that, never another key's string).
   */
  keys?: KeyValues
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
  /** Interned keys live now (absent for dense ids). */
  liveKeys?: number
  /** Interned keys freed so far, by keyTtl or expire() (absent for dense ids). */
  expiredKeys?: number
}

const MAX_DURATION = 2 ** 40

export class EventTimeWindows extends withSnapshots(NativeObject<NativeEventTimeWindows>) {
  readonly type: WindowType
  /** How batches carry keys. */
  readonly keyKind: KeyKind
  /** The starting key capacity (dense ids without maxKeys: the fixed key count). */
  readonly keyCount: number
  readonly channels: number
  readonly aggregates: readonly EventTimeAggregateName[]
  /** The `quantiles` option's q, whose columns follow the `aggregates` columns. */
  readonly quantiles: readonly number[]
  /** Numbers per fired window in `values`: channels × (aggregates + quantiles). */
  readonly valuesPerWindow: number
  private readonly tracker: WatermarkTracker | undefined
  private lateBuffer = new Uint32Array(0)
  private fired = { key: new Uint32Array(0), start: new Float64Array(0), end: new Float64Array(0), count: new Float64Array(0), updated: new Uint8Array(0), values: new Float64Array(0) }
  private firedCount = 0
  private firedKeys: KeyValues | undefined
  private readonly strings: StringKeys | undefined
  private readonly keyTtl: number | undefined
  /** Interned keys: the maxKeys option (undefined: the default, 2^28 live keys). */
  readonly maxKeys: number | undefined
  private ids = new Uint32Array(0)  // string keys' ids for a push (reused)

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
    this.keyKind = expectKeyKind(options.keys ?? 'dense')
    const maxKeys = options.maxKeys === undefined ? undefined : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    const keyTtl = options.keyTtl === undefined ? undefined : duration(options.keyTtl, 'keyTtl', 1)
    if (keyTtl !== undefined && this.keyKind === 'dense') {
      throw new SluiceError("keyTtl needs interned keys (keys: 'string', 'bigint', 'bigint64' or 'bytes')", 'ERR_INVALID_ARGUMENT')
    }
    const dense = this.keyKind === 'dense'
    this.keyCount = expectInteger(options.keyCount ?? (dense && maxKeys === undefined ? 64 : Math.min(64, maxKeys ?? 64)), 'keyCount', 1, 2 ** 28)
    // Dense ids without keyCount grow on demand up to maxKeys (default 2^28); with keyCount they are fixed.
    const denseLimit = options.keyCount === undefined ? (maxKeys ?? 2 ** 28) : maxKeys
    if (dense && denseLimit !== undefined && denseLimit < this.keyCount) {
      throw new SluiceError(`maxKeys must be >= keyCount (${this.keyCount}), got ${denseLimit}`, 'ERR_OUT_OF_RANGE')
    }
    this.strings = this.keyKind === 'string' ? new StringKeys() : undefined
    this.keyTtl = keyTtl
    this.maxKeys = dense ? undefined : maxKeys
    this.channels = expectInteger(options.channels ?? 1, 'channels', 1, 1024)
    const aggregates = options.aggregates ?? ['count', 'sum', 'mean', 'min', 'max']
    if (!Array.isArray(aggregates) || aggregates.length === 0 || aggregates.length > 64) {
      throw new SluiceError('aggregates must be an array of 1 to 64 names', 'ERR_INVALID_ARGUMENT')
    }
    this.aggregates = aggregates.map((a, i) => expectOneOf(a, `aggregates[${i}]`, EVENT_TIME_AGGREGATES))
    const quantiles = expectQuantiles(options.quantiles, this.aggregates, 64 - aggregates.length, 'at most 64 columns: aggregates and quantiles together')
    this.quantiles = Object.freeze([...quantiles])
    const { accuracy, distinctPrecision } = expectSketchOptions(options)
    this.valuesPerWindow = this.channels * (this.aggregates.length + this.quantiles.length)
    if (options.tracker !== undefined && (typeof options.tracker !== 'object' || typeof options.tracker.currentWatermark !== 'function')) {
      throw new SluiceError('tracker must be a WatermarkTracker', 'ERR_INVALID_TYPE')
    }
    this.tracker = options.tracker
    const keySpace = dense ? { maxKeys: denseLimit } : { keys: this.keyKind, maxKeys, keyTtl }
    const spec = { kind: this.type, ...assigner, allowedLateness, keyCount: this.keyCount, ...keySpace, channels: this.channels, aggregates: this.aggregates, quantiles: this.quantiles, accuracy, distinctPrecision }
    this.attach(new (native().EventTimeWindows)(spec))
  }

  /** Places every event in its windows (any order). Late events (in no live window) come back by index. */
  push(batch: EventBatch, out?: { late?: Uint32Array }): PushResult {
    const handle = this.native()
    if (typeof batch !== 'object' || batch === null) throw new SluiceError('batch must be an object', 'ERR_INVALID_TYPE')
    const timestamps = expectTypedArray(batch.timestamps, 'timestamps', Float64Array)
    const n = timestamps.length
    const keys = batch.keys === undefined && this.keyKind === 'dense' ? undefined : expectKeyColumn(batch.keys, this.keyKind, n)
    const values = expectTypedArray<Float64ArrayConstructor | Float32ArrayConstructor>(batch.values, 'values', Float64Array, Float32Array)
    expectLength(values, n * this.channels, 'values')
    let late: Uint32Array
    if (out?.late !== undefined) {
      late = outputArray(out.late, Uint32Array, n, 'out.late')
    } else {
      if (this.lateBuffer.length < n) this.lateBuffer = new Uint32Array(Math.max(n, 2 * this.lateBuffer.length))
      late = this.lateBuffer
    }
    if (this.strings === undefined) {
      const lateCount = handle.push(timestamps, keys as Exclude<KeyColumn, readonly string[]> | undefined, values, late)
      return { late: late.subarray(0, lateCount) }
    }
    // string[]: ids from the JS map, new keys interned natively in one call; undone if the push fails.
    if (this.ids.length < n) this.ids = new Uint32Array(Math.max(n, 2 * this.ids.length))
    const ids = this.ids.subarray(0, n)
    const created = this.strings.translate(keys as readonly string[], ids, (packed, into) => handle.intern(packed, into))
    try {
      const lateCount = handle.push(timestamps, ids, values, late)
      return { late: late.subarray(0, lateCount) }
    } catch (error) {
      if (created.length > 0) {
        handle.undoIntern()
        this.strings.forget(created)
      }
      throw error
    }
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
    return this.fired_(out)
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
    return this.fired_(out)
  }

  /** After advance / flush: forget the string keys that expired, read the windows, resolve their keys once. */
  private fired_(out: FiredWindowsOut | undefined): FiredWindows {
    if (this.strings !== undefined && this.keyTtl !== undefined) this.strings.forget(this.native().expired())
    this.firedKeys = undefined
    if (this.keyKind !== 'dense' && this.strings === undefined) {
      // Keys of the native kinds are read now: the native dictionary may reuse their ids at the next call.
      const fired = this.lastFired(out)
      this.firedKeys = this.native().keysOf(fired.key) as KeyValues
      fired.keys = this.firedKeys
      return fired
    }
    return this.lastFired(out)
  }

  /**
   * Frees keys now, with whatever they hold (their open windows are dropped, not fired); their ids are
   * reused. `keys` of the windows' kind (unknown ones are skipped) or their ids. Returns how many were freed.
   */
  expire(keys: KeyColumn | Uint32Array): number {
    const handle = this.native()
    const freed = handle.expire(expireColumn(keys, this.keyKind, this.strings))
    if (this.strings !== undefined) this.strings.forget(handle.expired())
    return freed
  }

  /** For each key (of the windows' kind): 1 when the windows hold it now (a live key), else 0. Adds nothing. */
  held(keys: KeyColumn): Uint8Array {
    const handle = this.native()
    return heldKeys(keys, this.keyKind, this.strings, (column, out) => handle.held(column, out))
  }

  /** Replaces the state with a snapshot's (the key dictionary included); see Snapshots.restore. */
  override restore(bytes: Uint8Array): void {
    super.restore(bytes)
    const handle = this.native()
    if (this.strings !== undefined) {
      const ids = handle.liveIds()
      this.strings.reset(ids, handle.keysOf(ids) as PackedKeys)
    }
  }

  /**
   * An incremental checkpoint: the state of every key that changed since the last checkpoint (snapshot(),
   * restore(), or the last snapshotDelta()), with the watermark and metrics, then that set is cleared. Its
   * size and cost follow what changed, not the whole state. Restore = restore(full) then applyDelta() of
   * each delta taken after it, in order. ERR_INVALID_STATE before the first snapshot()/restore();
   * ERR_NOT_SUPPORTED with sketch aggregates (quantiles, distinct).
   */
  snapshotDelta(): Uint8Array {
    return this.native().snapshotDelta()
  }

  /**
   * Brings windows that stand at a checkpoint (restored from it, or the delta before applied) to the next
   * delta's state; the result equals a restore of a full snapshot taken there, byte for byte. All or nothing:
   * ERR_MALFORMED_DATA for bytes that do not parse or fail a check, ERR_INVALID_ARGUMENT for a delta of
   * other options or of another chain (one missing, repeated or out of order), ERR_INVALID_STATE when these
   * windows changed since their checkpoint.
   */
  applyDelta(bytes: Uint8Array): void {
    const handle = this.native()
    const { changed, live } = handle.applyDelta(expectTypedArray(bytes, 'bytes', Uint8Array))
    // The string map follows the delta's keys only (a restore rebuilds it whole).
    if (this.strings !== undefined) this.strings.replace(changed, live, handle.keysOf(live) as PackedKeys)
  }

  /** Keys that the next snapshotDelta() holds (changed since the last checkpoint). */
  changedKeys(): number {
    return this.native().changedKeys()
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
    const fired: FiredWindows = {
      length: n,
      ...(this.firedKeys !== undefined ? { keys: this.firedKeys } : {}),
      key: target.key.subarray(0, n),
      start: target.start.subarray(0, n),
      end: target.end.subarray(0, n),
      count: target.count.subarray(0, n),
      updated: target.updated.subarray(0, n),
      values: target.values.subarray(0, m),
    }
    // string[] keys: resolved on first read of `keys` (see StringKeys.lazyStringsOf).
    if (this.strings !== undefined) Object.defineProperty(fired, 'keys', { get: this.strings.lazyStringsOf(fired.key), enumerable: true })
    return fired
  }

  /** The current watermark (−Infinity at first, +Infinity after flush). */
  get watermark(): number {
    return this.native().watermark()
  }

  metrics(): WindowMetrics {
    return this.native().metrics()
  }

  /**
   * Ring size in panes (tumbling / sliding), native bytes held now (the key dictionary included), the key
   * capacity of the per-key arrays, and with interned keys the keys' own bytes and the dictionary's bytes.
   */
  info(): { ringPanes: number; memoryBytes: number; keyCapacity: number; keyBytes?: number; dictionaryBytes?: number } {
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
