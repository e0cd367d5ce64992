// Pipeline: source batches → WatermarkTracker (one input per partition) → EventTimeWindows features →
// forward fill + scaler → LstmModel forecast per key → rolling z-score of the forecast residual → result
// batches (columns). All of it runs in one native pass per batch (native/core/pipeline/pipeline_core.h):
// this class checks types, routes batches and builds the result's views over the one buffer each pass
// fills. The core is push-based (process / advance / finish, one call per source batch), so a Kafka
// consumer can drive it per partition; run() / readable() pull from an async source on top of it, one
// source batch per result batch, so backpressure reaches the source. See docs/pipeline.md.
import { Readable } from 'node:stream'
import type { NativeLstmModel, NativePipeline, NativePipelineMetrics } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { openSnapshot, sealSnapshot } from '../runtime/snapshot_envelope'
import type { NativePipelineKeys } from '../runtime/addon_types'
import { expectKeyColumn, expectKeyKind, expireColumn, heldKeys, StringKeys, type KeyColumn, type KeyKind, type KeyValues, type PackedKeys } from '../keys/key_column'
import { EVENT_TIME_AGGREGATES, expectQuantiles, expectSketchOptions, type EventTimeAggregateName, type SketchOptions } from '../windows/aggregates'
import type { RollingZScoreOptions } from '../windows/rolling_zscore'
import type { LstmModel } from '../lstm/lstm_model'
import type { Scaler } from '../lstm/scalers'
import { expectFinite, expectInteger, expectLength, expectOneOf, expectOptions, expectTypedArray } from '../runtime/validate'
import { checkDetector, checkSink, drainInto, runDetector, type PipelineDetector, type PipelineDrainOptions } from './stages'

export interface PipelineForecaster {
  /** inputSize = outputSize = the pipeline's feature count (channels × (features.aggregates + features.quantiles); = channels by
   * default): it forecasts the next window's features. A CUDA model runs on the CPU here: the pipeline
   * keeps a CPU copy of its weights (the native pass calls the CPU LSTM kernels directly). */
  model: LstmModel
  /** 'window' (default): predict from each key's last `steps` rows, from zero state, as the model was
   * trained; 'state': one LstmState step per row (the state carries the whole history). */
  mode?: 'window' | 'state'
  /** Rows per forecast in 'window' mode. Default 16. */
  steps?: number
  /** What the model forecasts: 'level' (default), the next row's features; or 'change', the next row's
   * change from the current one (the forecast is then current + change). With 'change' the model's inputs
   * are the changes between consecutive rows and both scalers are scalers of changes. */
  target?: 'level' | 'change'
  /** Scales the model's inputs (default model.scalers.input, else none). */
  inputScaler?: Scaler
  /** Maps the model's outputs back to feature units (default model.scalers.target, else none). */
  targetScaler?: Scaler
}

export interface PipelineFeatures {
  /**
   * Window aggregates per channel, each at most once; a row's features are [channel][column]: these in this
   * order, then one per `quantiles` entry. Default ['mean']. Besides count, sum, mean, min, max, var, std,
   * first, last: the sketch aggregates of EventTimeWindows (docs/event-time.md, Sketch aggregates) — `p50`,
   * `p90`, `p99`, `p999` (DDSketch quantiles within relative error `accuracy`) and `distinct` (HyperLogLog).
   */
  aggregates?: readonly EventTimeAggregateName[]
  /** More quantile features (DDSketch), each q in [0, 1], after the `aggregates` columns in this order. */
  quantiles?: readonly number[]
  /** DDSketch relative accuracy of the quantile features, in [1e-6, 1). Default 0.01. */
  accuracy?: number
  /** HyperLogLog precision p of `distinct`, an integer in [4, 18]. Default 14. */
  distinctPrecision?: number
}

export interface PipelineOptions {
  /** Watermark inputs (partitions); a batch names its input. Default 1. */
  inputs?: number
  /** Dense ids: keys are in [0, keyCount), fixed. Default 1. With interned `keys`: the starting capacity
   * (default 64); the key space grows on demand (doubling, amortised) and shrinks when expiry leaves most
   * of it unused. */
  keyCount?: number
  /** The kind of the batches' keys: 'dense' ids (default), or 'string' (string[]), 'bigint' / 'bigint64'
   * (BigUint64Array / BigInt64Array) or 'bytes' ({ bytes, offsets }), interned natively into ids that every
   * stage shares (windows, rows state, LSTM state, z-score). Results carry the ids; keysOf(ids) gives the
   * keys back in their kind. Snapshots carry the key space. See docs/keys.md. */
  keys?: KeyKind
  /** Interned keys only: the most live keys; a batch with new keys beyond is ERR_OUT_OF_RANGE and changes
   * nothing (the Kafka adapter dead-letters its message). Default 2^28. */
  maxKeys?: number
  /** Interned keys only: a key with no event for keyTtl (event time) behind the watermark and no window
   * open is freed with everything it holds (forward-fill history, pending forecast, residual statistics,
   * LSTM state, its dictionary entry); its id is reused, and the key starts afresh if it comes back. */
  keyTtl?: number
  /** Values per event. Default 1. */
  channels?: number
  /** Feature windows (event-time units): tumbling of `size`, or sliding with `slide` < size. The rows of a
   * key are one per `slide` (= size when tumbling); a missing row is forward-filled. `horizon`:
   * EventTimeWindows' horizon (default 4·size): its ring holds the panes of size + horizon with data at once
   * (pauses and jumps in event time cost nothing), so at least bound + the event time an idle input can hold
   * the watermark back. */
  window: { size: number; slide?: number; offset?: number; horizon?: number }
  /** Bounded out-of-orderness of each input (WatermarkTracker bound). Default 0. */
  bound?: number
  /** Processing time after which a silent input stops holding back the watermark. Default Infinity. */
  idleTimeout?: number
  /** Processing-time clock for idleness when a batch carries no `now`. Default performance.now(). */
  clock?: () => number
  /** Batches carry `labels` (0/1 per event); a row's label is the max over its window. Default false. */
  labels?: boolean
  /** Longest gap (rows) that is forward-filled; a longer gap restarts the key's history. Default 120. */
  maxFill?: number
  /** The features of a row (the `values` column). Default: the window mean of each channel. */
  features?: PipelineFeatures
  forecaster?: PipelineForecaster
  /** Rolling z-score of the forecast residual (in the target scaler's units when there is one); false: no
   * built-in score (score stays NaN, nothing is flagged). Needs a forecaster. */
  anomaly?: Omit<RollingZScoreOptions, 'keyCount' | 'channels'> | false
  /** Your own detector over each finished result batch, in place of the z-score (then no `anomaly`). */
  detector?: PipelineDetector
  /** true: every result batch's columns are views of one buffer the pipeline rewrites, valid until the next
   * call that returns a result batch (process, advance, advanceTo, finish or their async forms; run() and
   * drain() make that call once you ask for the next batch or your sink resolved); copy what you keep.
   * Saves writing fresh memory per batch (the bench's no-model pass: about 1.2× less CPU time). readable()
   * refuses it: a stream reads one result ahead.
   * Default false: each result batch has its own buffer. */
  reuseResults?: boolean
}

/** One batch of one input's events, as columns. */
export interface SourceBatch {
  /** Which watermark input (partition) delivered it. Default 0. */
  input?: number
  timestamps: Float64Array
  /** Optional (dense keys only): all key 0. A column of the pipeline's `keys` kind. */
  keys?: KeyColumn
  /** Row-major [event][channel]. NaN is a missing value. */
  values: Float64Array | Float32Array
  /** 0/1 per event when the pipeline has `labels`. */
  labels?: Uint8Array | Float64Array
  /** Processing time of arrival (for idleness); default the clock. */
  now?: number
}

/** Rows of one result batch: one per (key, window) that fired, plus forward-filled rows, per key in time order. */
export interface ResultBatch {
  length: number
  key: Uint32Array
  start: Float64Array
  end: Float64Array
  /** Events in the window; 0 for a forward-filled row. */
  count: Float64Array
  /** 1 when the row (or one of its features) was forward-filled. */
  filled: Uint8Array
  /** The row's features after forward fill, [row][feature] (pipeline.features per row: the window means of
   * the channels by default). */
  values: Float64Array
  /** The forecast of this row made from the key's earlier rows, [row][feature]; NaN when there was none. */
  forecast: Float64Array
  /** max over features of |z| of the residual; NaN while warming up, for filled rows and without a forecast. */
  score: Float64Array
  flagged: Uint8Array
  /** max label in the window (with `labels`); NaN for filled rows. */
  label?: Float64Array
  /** The combined watermark after this batch. */
  watermark: number
  /** Events of the source batch that arrived after their windows had fired (copies). */
  late: { input: number; timestamps: Float64Array; keys: Uint32Array }
  /** True only for the batch produced by finish() (end of stream: every window fired). */
  final: boolean
}

export interface PipelineMetrics {
  events: number
  /** Events inside fired windows; events = windowedEvents + lateEvents + pendingEvents with tumbling windows
   * (sliding windows count an event once per fired window that holds it). */
  windowedEvents: number
  lateEvents: number
  /** Events in windows that have not fired yet. */
  pendingEvents: number
  windowsFired: number
  filledRows: number
  flaggedRows: number
  batchesIn: number
  batchesOut: number
  watermark: number
  /** Events per second of time spent inside the pipeline (not waiting for the source or the consumer). */
  eventsPerSecond: number
  busySeconds: number
  /** Per batch: time from entering process() to its result. */
  latencyMs: { mean: number; max: number; last: number }
  /** Interned keys live now (absent for dense ids). */
  liveKeys?: number
  /** Interned keys freed so far, by keyTtl or expire() (absent for dense ids). */
  expiredKeys?: number
  /** The batchesOut number of the last result batch a drain() sink accepted (its promise resolved); 0: none.
   * Batches after it are not done, whatever batchesOut says. Not in snapshots: a restore sets it to the
   * restored batchesOut (a snapshot is taken at a committed point). */
  acknowledged: number
  /** Native bytes the pipeline holds now: the windows' cells and sketches, the per-key rows state, the
   * z-score rings, the LSTM state and the key space (capacities; the model's weights are the model's). 0 once
   * closed. */
  memoryBytes: number
}

export interface PipelineRunOptions {
  signal?: AbortSignal
}

const EMPTY_F64 = new Float64Array(0)

/**
 * The result's columns over the one buffer a native pass filled, in native/core/pipeline's ResultLayout
 * order: float64 start, end, count, values, forecast, score, label?, late timestamps; uint32 key, late keys;
 * uint8 filled, flagged. Without `scores` the buffer has no forecast, score and flagged (empty views here).
 */
function resultViews(buffer: ArrayBuffer, rows: number, late: number, features: number, labels: boolean, scores: boolean) {
  let at = 0
  const f64 = (length: number) => {
    const view = new Float64Array(buffer, at, length)
    at += length * 8
    return view
  }
  const scored = scores ? rows : 0
  const start = f64(rows), end = f64(rows), count = f64(rows), values = f64(rows * features), forecast = f64(scored * features)
  const score = f64(scored), label = labels ? f64(rows) : undefined, lateTimestamps = f64(late)
  const key = new Uint32Array(buffer, at, rows)
  const lateKeys = new Uint32Array(buffer, at + rows * 4, late)
  at += (rows + late) * 4
  return { key, start, end, count, filled: new Uint8Array(buffer, at, rows), values, forecast, score, flagged: new Uint8Array(buffer, at + rows, scored), label, lateTimestamps, lateKeys }
}

/** Defines `column` as `batch`'s own property `name`, as a plain object's (writable, enumerable). */
function ownColumn<T>(batch: object, name: 'forecast' | 'score' | 'flagged', column: T): T {
  Object.defineProperty(batch, name, { value: column, writable: true, enumerable: true, configurable: true })
  return column
}

/**
 * A result batch of a pipeline without a forecaster and a detector: its forecast, score and flagged hold
 * nothing (all NaN, NaN and 0), so the native pass leaves them out of the result's buffer (each result is
 * fresh memory, which costs by the byte; see docs/pipeline.md, Speed). Each is made the first time it is read
 * (or set): an array of this batch's own, an own property from then on, as in every other result batch.
 */
class UnscoredResultBatch {
  declare length: number
  declare key: Uint32Array
  declare start: Float64Array
  declare end: Float64Array
  declare count: Float64Array
  declare filled: Uint8Array
  declare values: Float64Array
  declare watermark: number
  declare late: ResultBatch['late']
  declare final: boolean
  declare label?: Float64Array
  readonly #features: number

  constructor(v: ReturnType<typeof resultViews>, rows: number, features: number, watermark: number, input: number, final: boolean) {
    this.length = rows
    this.key = v.key
    this.start = v.start
    this.end = v.end
    this.count = v.count
    this.filled = v.filled
    this.values = v.values
    this.watermark = watermark
    this.late = { input, timestamps: v.lateTimestamps, keys: v.lateKeys }
    this.final = final
    if (v.label) this.label = v.label
    this.#features = features
  }

  get forecast(): Float64Array {
    return ownColumn(this, 'forecast', new Float64Array(this.length * this.#features).fill(NaN))
  }
  set forecast(column: Float64Array) {
    ownColumn(this, 'forecast', column)
  }
  get score(): Float64Array {
    return ownColumn(this, 'score', new Float64Array(this.length).fill(NaN))
  }
  set score(column: Float64Array) {
    ownColumn(this, 'score', column)
  }
  get flagged(): Uint8Array {
    return ownColumn(this, 'flagged', new Uint8Array(this.length))
  }
  set flagged(column: Uint8Array) {
    ownColumn(this, 'flagged', column)
  }
}

/**
 * Memory per key (native): 8 · (2 + features · (historyRows + 2)) bytes for the rows path (historyRows:
 * steps (+1 with target 'change') in window mode, 1 (2) in state mode, none without a forecaster), plus
 * features · (anomaly.window + 4) · 8 for the z-score, the windows' panes and (state mode) the LstmState's
 * bytesPerKey; with interned keys, per key of capacity (it doubles), plus the dictionary's. metrics()
 * .memoryBytes gives the figure held now.
 */
export class Pipeline {
  readonly inputs: number
  readonly keyCount: number
  /** The batches' key kind ('dense': ids as given). */
  readonly keyKind: KeyKind
  /** Interned keys: the most live keys, and the time-to-live (undefined: none). */
  readonly maxKeys: number | undefined
  readonly keyTtl: number | undefined
  /** string keys: a JS map of live keys in front of the native dictionary (only unseen strings cross). */
  private readonly strings: StringKeys | undefined
  private ids = new Uint32Array(0)  // string keys' ids for a pass (reused: the native pass copies what it keeps)
  readonly channels: number
  /** Features per row: channels × (features.aggregates + features.quantiles). */
  readonly features: number
  readonly aggregates: readonly EventTimeAggregateName[]
  /** The features.quantiles option's q, whose features follow the aggregates' in each channel. */
  readonly quantiles: readonly number[]
  readonly size: number
  readonly slide: number
  readonly labels: boolean
  readonly maxFill: number
  /** Result batches are views of one reused buffer (see PipelineOptions.reuseResults). */
  readonly reuseResults: boolean
  readonly mode: 'window' | 'state' | 'none'
  readonly steps: number
  readonly target: 'level' | 'change'
  private readonly model: LstmModel | undefined
  private readonly clock: () => number
  private readonly core: NativePipeline
  /** The CPU model the native pass runs (a CUDA model's CPU copy is released with the pipeline). */
  private readonly releaseModel: () => void
  /** rows, late events and watermark of the last result, written by the native pass. */
  private readonly status = new Float64Array(3)
  private closedMetrics: NativePipelineMetrics | undefined
  private busy = false
  private readonly detector: PipelineDetector | undefined
  /** Results carry forecast, score and flagged in their buffer: with a forecaster or a detector (without
   * both they hold nothing, and UnscoredResultBatch makes them when read). */
  private readonly scoreColumns: boolean
  /** Rows the user's detector flagged (the native pass counts the built-in z-score's). */
  private detectorFlagged = 0
  private acknowledged = 0
  /** Why a JS stage (the detector, a drain() sink) stopped the pipeline; restore() clears it. */
  private stopped: string | undefined

  constructor(options: PipelineOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.inputs = expectInteger(options.inputs ?? 1, 'inputs', 1, 1 << 16)
    this.keyKind = expectKeyKind(options.keys ?? 'dense', 'keys')
    const dense = this.keyKind === 'dense'
    if (dense && (options.maxKeys !== undefined || options.keyTtl !== undefined)) {
      throw new SluiceError("maxKeys and keyTtl need interned keys (keys: 'string', 'bigint', 'bigint64' or 'bytes')", 'ERR_INVALID_ARGUMENT')
    }
    this.maxKeys = options.maxKeys === undefined ? undefined : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    this.keyTtl = options.keyTtl === undefined ? undefined : expectInteger(options.keyTtl, 'keyTtl', 1, 2 ** 40)
    this.keyCount = expectInteger(options.keyCount ?? (dense ? 1 : Math.min(64, this.maxKeys ?? 64)), 'keyCount', 1, dense ? 1 << 24 : 2 ** 28)
    this.channels = expectInteger(options.channels ?? 1, 'channels', 1, 1024)
    if (typeof options.window !== 'object' || options.window === null) throw new SluiceError('window must be { size, slide? }', 'ERR_INVALID_TYPE')
    this.size = expectInteger(options.window.size, 'window.size', 1, 2 ** 40)
    this.slide = expectInteger(options.window.slide ?? this.size, 'window.slide', 1, this.size)
    if (options.labels !== undefined && typeof options.labels !== 'boolean') throw new SluiceError('labels must be a boolean', 'ERR_INVALID_TYPE')
    this.labels = options.labels ?? false
    this.maxFill = expectInteger(options.maxFill ?? 120, 'maxFill', 0, 1 << 20)
    if (options.reuseResults !== undefined && typeof options.reuseResults !== 'boolean') throw new SluiceError('reuseResults must be a boolean', 'ERR_INVALID_TYPE')
    this.reuseResults = options.reuseResults ?? false
    const chosen = options.features?.aggregates ?? ['mean']
    if (typeof options.features !== 'undefined' && (typeof options.features !== 'object' || options.features === null)) throw new SluiceError('features must be { aggregates, quantiles?, accuracy?, distinctPrecision? }', 'ERR_INVALID_TYPE')
    if (!Array.isArray(chosen) || chosen.length === 0 || chosen.length > EVENT_TIME_AGGREGATES.length) throw new SluiceError(`features.aggregates must be an array of 1 to ${EVENT_TIME_AGGREGATES.length} aggregate names`, 'ERR_INVALID_ARGUMENT')
    this.aggregates = Object.freeze(chosen.map((a, i) => expectOneOf(a, `features.aggregates[${i}]`, EVENT_TIME_AGGREGATES)))
    if (new Set(this.aggregates).size !== this.aggregates.length) throw new SluiceError('features.aggregates names an aggregate twice', 'ERR_INVALID_ARGUMENT')
    // The windows compute at most 64 columns per channel, the label's max among them when labels need it.
    const room = 64 - this.aggregates.length - (this.labels && !this.aggregates.includes('max') ? 1 : 0)
    this.quantiles = Object.freeze([...expectQuantiles(options.features?.quantiles, this.aggregates, room, `at most ${room} features.quantiles: 64 window columns per channel, aggregates${this.labels ? ' and the label\'s max' : ''} included`)])
    const sketches: SketchOptions = expectSketchOptions(options.features ?? {}, 'features.')
    this.features = this.channels * (this.aggregates.length + this.quantiles.length)
    const f = options.forecaster
    let inputScaler: Scaler | undefined, targetScaler: Scaler | undefined
    if (f !== undefined) {
      if (typeof f !== 'object' || f === null || typeof f.model?.predict !== 'function') throw new SluiceError('forecaster must be { model: LstmModel, … }', 'ERR_INVALID_TYPE')
      if (f.model.inputSize !== this.features || f.model.outputSize !== this.features) {
        throw new SluiceError(`forecaster.model must have inputSize = outputSize = the feature count (${this.channels} channels × ${this.features / this.channels} aggregates = ${this.features}), got ${f.model.inputSize} → ${f.model.outputSize}`, 'ERR_INVALID_ARGUMENT')
      }
      this.mode = expectOneOf(f.mode ?? 'window', 'forecaster.mode', ['window', 'state'] as const)
      this.steps = this.mode === 'window' ? expectInteger(f.steps ?? 16, 'forecaster.steps', 1, 4096) : 1
      const scalers = f.model.scalers
      this.target = expectOneOf(f.target ?? 'level', 'forecaster.target', ['level', 'change'] as const)
      inputScaler = f.inputScaler ?? scalers?.input
      targetScaler = f.targetScaler ?? scalers?.target
      for (const [name, s] of [['inputScaler', inputScaler], ['targetScaler', targetScaler]] as const) {
        if (s !== undefined && s.channels !== this.features) throw new SluiceError(`forecaster.${name} has ${s.channels} channels, the pipeline ${this.features} features`, 'ERR_INVALID_ARGUMENT')
      }
      this.model = f.model
    } else {
      this.mode = 'none'
      this.steps = 1
      this.target = 'level'
    }
    this.detector = checkDetector(options.detector, options.anomaly !== undefined)
    this.scoreColumns = this.mode !== 'none' || this.detector !== undefined
    const anomaly = this.detector ? { anomaly: false } : anomalyOptions(options.anomaly)
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new SluiceError('clock must be a function', 'ERR_INVALID_TYPE')
    this.clock = options.clock ?? (() => performance.now())
    const cpu: { model: NativeLstmModel | undefined; release(): void } = this.model ? this.model.cpuNativeModel() : { model: undefined, release: () => {} }
    try {
      this.core = new (native().NativePipeline)({
        inputs: this.inputs, keyCount: this.keyCount, channels: this.channels,
        ...(dense ? {} : { keys: this.keyKind, maxKeys: this.maxKeys, keyTtl: this.keyTtl }),
        size: this.size, slide: this.slide, offset: options.window.offset ?? 0, horizon: options.window.horizon ?? 0,
        bound: options.bound ?? 0, idleTimeout: options.idleTimeout ?? Infinity,
        labels: this.labels, maxFill: this.maxFill, aggregates: this.aggregates, reuseResults: this.reuseResults, scoreColumns: this.scoreColumns,
        mode: this.mode, steps: this.steps, changeTarget: this.target === 'change',
        inputScaler: inputScaler && { offset: inputScaler.offset, scale: inputScaler.scale },
        targetScaler: targetScaler && { offset: targetScaler.offset, scale: targetScaler.scale },
        quantiles: this.quantiles, ...sketches, // with `aggregates`: the windows' sketch features
        ...anomaly,
      }, cpu.model, this.clock())
    } catch (error) {
      cpu.release()
      throw error
    }
    this.releaseModel = cpu.release
    this.strings = this.keyKind === 'string' ? new StringKeys() : undefined
  }

  /**
   * One source batch: its events enter the tracker and the windows (late ones are reported, never dropped
   * silently), then every window the combined watermark closes becomes a scored row. The batch is checked
   * completely before anything changes.
   */
  process(batch: SourceBatch): ResultBatch {
    this.checkIdle()
    const b = this.checkBatch(batch)
    const core = this.running()
    const keys = this.translateKeys(core, b.keys, b.timestamps.length)
    let buffer: ArrayBuffer
    try {
      buffer = core.process(b.input, b.timestamps, keys.column, b.values, b.labels, b.now, this.modelOpen(), this.status)
    } catch (error) {
      this.undoKeys(core, keys.created)
      throw error
    }
    this.forgetExpired(core)
    return this.result(buffer, b.input, false)
  }

  /**
   * process() on a native worker thread: the whole pass is one queued work item over copies of the batch's
   * columns (the caller may reuse or detach them at once), so the event loop stays free; the results are
   * process()'s. One call at a time: another call while this one runs is ERR_INVALID_STATE.
   */
  processAsync(batch: SourceBatch): Promise<ResultBatch> {
    return rejectingThrows(() => {
      this.checkIdle()
      const b = this.checkBatch(batch)
      const core = this.running()
      const keys = this.translateKeys(core, b.keys, b.timestamps.length)
      let pass: Promise<ArrayBuffer>
      try {
        pass = core.processAsync(b.input, b.timestamps, keys.column, b.values, b.labels, b.now, this.modelOpen(), this.status)
      } catch (error) {
        this.undoKeys(core, keys.created)
        throw error
      }
      if (keys.created !== undefined) pass = pass.catch((error: unknown) => { this.undoKeys(core, keys.created); throw error })
      return this.settle(pass, b.input, false)
    })
  }

  /** No events, only time: applies idleness at `now` and fires what the watermark closes. */
  advance(now?: number): ResultBatch {
    return this.process({ timestamps: EMPTY_F64, values: EMPTY_F64, now })
  }

  /**
   * No events: raises the windows' watermark to an external `watermark` (e.g. a Kafka adapter's combined
   * watermark for an idle partition) and fires what it closes, through the same rows path as process().
   * A watermark at or below the current one changes nothing (an empty batch). Later events at or below it
   * are late. Finite watermarks only (end of stream is finish()).
   */
  advanceTo(watermark: number): ResultBatch {
    this.checkIdle()
    expectFinite(watermark, 'watermark')
    const core = this.running()
    const buffer = core.advanceTo(watermark, this.modelOpen(), this.status)
    this.forgetExpired(core)
    return this.result(buffer, 0, false)
  }

  /** advanceTo() on a native worker thread (see processAsync). */
  advanceToAsync(watermark: number): Promise<ResultBatch> {
    return rejectingThrows(() => {
      this.checkIdle()
      expectFinite(watermark, 'watermark')
      const core = this.running()
      return this.settle(core.advanceToAsync(watermark, this.modelOpen(), this.status), 0, false)
    })
  }

  /** End of stream: fires every remaining window (the last result batch, final: true). Later events are late. */
  finish(): ResultBatch {
    this.checkIdle()
    const core = this.running()
    const buffer = core.finish(this.modelOpen(), this.status)
    this.forgetExpired(core)
    return this.result(buffer, 0, true)
  }

  /** finish() on a native worker thread (see processAsync). */
  finishAsync(): Promise<ResultBatch> {
    return rejectingThrows(() => {
      this.checkIdle()
      const core = this.running()
      return this.settle(core.finishAsync(this.modelOpen(), this.status), 0, true)
    })
  }


  /**
   * Pulls source batches one at a time and yields one result batch per source batch (then the final one),
   * through processAsync (the LSTM runs off the event loop).
   * The next source batch is read only when the consumer asks for the next result, so a slow consumer
   * slows the source. An aborted signal stops it with the signal's reason, after returning the source
   * iterator (the pipeline itself stays usable: snapshot, metrics, close).
   */
  async *run(source: AsyncIterable<SourceBatch> | Iterable<SourceBatch>, options: PipelineRunOptions = {}): AsyncGenerator<ResultBatch, void, undefined> {
    const signal = expectOptions(options).signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new SluiceError('signal must be an AbortSignal', 'ERR_INVALID_TYPE')
    if (source === null || typeof source !== 'object' || (typeof (source as AsyncIterable<SourceBatch>)[Symbol.asyncIterator] !== 'function' && typeof (source as Iterable<SourceBatch>)[Symbol.iterator] !== 'function')) {
      throw new SluiceError('source must be an async iterable, an iterable or a Readable (object mode) of batches', 'ERR_INVALID_TYPE')
    }
    signal?.throwIfAborted()
    for await (const batch of source) {
      signal?.throwIfAborted()
      yield await this.processAsync(batch)
      signal?.throwIfAborted()
    }
    yield await this.finishAsync()
  }

  /**
   * Runs the whole source into `sink`, one result batch at a time: the next source batch is read only after
   * the sink's promise for the previous result resolved, so the source is at most one batch ahead of the
   * sink. Resolves after the sink accepted the final batch. A sink that throws or rejects: the error
   * surfaces here, the source iterator is returned, nothing more is read, `metrics().acknowledged` stays at
   * the last batch the sink accepted, and the pipeline stops (as after a failed batch) until restore().
   * Abort: as run().
   */
  async drain(source: AsyncIterable<SourceBatch> | Iterable<SourceBatch>, options: PipelineDrainOptions): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { sink, signal? }', 'ERR_INVALID_TYPE')
    const sink = checkSink(options.sink)
    await drainInto(this.run(source, { signal: options.signal }), sink,
      () => { this.acknowledged = this.metrics().batchesOut },
      (error) => { this.stopped = `the sink refused result batch ${this.metrics().batchesOut} (${error instanceof Error ? error.message : String(error)}); restore() a snapshot or start again` })
  }

  /** run() as an object-mode Readable (highWaterMark 1 result batch); abort destroys it with the reason. */
  readable(source: AsyncIterable<SourceBatch> | Iterable<SourceBatch>, options: PipelineRunOptions = {}): Readable {
    expectOptions(options) // now, not when the stream is first read
    // The stream reads one result ahead of its consumer, which would rewrite the result being consumed.
    if (this.reuseResults) throw new SluiceError('readable() needs a pipeline without reuseResults (the stream reads ahead); use run() or drain()', 'ERR_INVALID_STATE')
    return Readable.from(this.run(source, options), { objectMode: true, highWaterMark: 1 })
  }


  metrics(): PipelineMetrics {
    const c = this.closedMetrics ?? this.open().metrics()
    return {
      events: c.events,
      windowedEvents: c.windowedEvents,
      lateEvents: c.lateEvents,
      pendingEvents: c.events - c.windowedEvents - c.lateEvents,
      ...(this.keyKind === 'dense' ? {} : { liveKeys: c.liveKeys, expiredKeys: c.expiredKeys }),
      memoryBytes: this.closedMetrics ? 0 : c.memoryBytes,
      windowsFired: c.windowsFired,
      filledRows: c.filledRows,
      flaggedRows: c.flaggedRows + this.detectorFlagged,
      batchesIn: c.batchesIn,
      batchesOut: c.batchesOut,
      watermark: this.closedMetrics ? NaN : c.watermark,
      busySeconds: c.busyMs / 1000,
      eventsPerSecond: c.busyMs > 0 ? c.events / (c.busyMs / 1000) : 0,
      latencyMs: { mean: c.batchesOut > 0 ? c.latencySumMs / c.batchesOut : 0, max: c.latencyMaxMs, last: c.latencyLastMs },
      acknowledged: this.acknowledged,
    }
  }

  /**
   * The whole state (tracker, windows, LSTM state, forward-fill and model history, residual statistics,
   * metrics) as versioned, checksummed bytes (the native core's, kind pipeline). Restoring into a pipeline
   * built with the same options and model and continuing gives exactly the results of never having stopped.
   */
  snapshot(): Uint8Array {
    this.checkIdle()
    const bytes = this.running().snapshot()
    // keyed-pipeline: the pipeline's snapshot, whose windows carry the key space (dictionary, expired count,
    // each key's latest event time with keyTtl); the envelope keeps it apart from a dense pipeline's.
    return this.keyKind === 'dense' ? bytes : sealSnapshot('keyed-pipeline', bytes)
  }

  /** The keys of result ids (a result's `key` or `late.keys`) in the kind the batches gave them; dense ids
   * come back as they are. ERR_OUT_OF_RANGE for an id that is not a live key. */
  keysOf(ids: Uint32Array): KeyValues {
    this.open()
    const checked = expectTypedArray(ids, 'ids', Uint32Array)
    if (this.keyKind === 'dense') return checked
    if (this.strings) return this.strings.stringsOf(checked)
    return this.core.keysOf(checked) as KeyValues
  }

  /** For each key (of the pipeline's kind): 1 when the pipeline holds it now (a live key), else 0. Adds
   * nothing. With maxKeys, a batch fits when its keys not held are at most maxKeys − metrics().liveKeys. */
  held(keys: KeyColumn): Uint8Array {
    this.open()
    return heldKeys(keys, this.keyKind, this.strings, (column, out) => this.core.held(column, out))
  }

  /**
   * Frees keys now, with everything they hold (open windows are dropped, not fired; rows state, pending
   * forecast, residual statistics, LSTM state, the dictionary entry); their ids are reused and a key that
   * comes back starts afresh. `keys` of the pipeline's kind (unknown ones are skipped) or their ids (each
   * live, else ERR_OUT_OF_RANGE and nothing freed). Returns how many were freed.
   */
  expire(keys: KeyColumn): number {
    this.checkIdle()
    const core = this.running()
    const freed = core.expire(expireColumn(keys, this.keyKind, this.strings) as NativePipelineKeys)
    this.strings?.forget(core.expired())
    return freed
  }

  /** Replaces the state with a snapshot of a pipeline with the same options; all or nothing: every field is
   * checked against the options and its invariants (ERR_MALFORMED_DATA naming it; ERR_NOT_SUPPORTED for
   * another envelope format version or a 0.1 snapshot). Also the way back after a batch failed midway
   * (which stops the pipeline). */
  restore(bytes: Uint8Array): void {
    const core = this.open()
    this.checkIdle()
    expectTypedArray(bytes, 'bytes', Uint8Array)
    if (this.keyKind !== 'dense') {
      const payload = openSnapshot(bytes, 'keyed-pipeline')
      openSnapshot(payload, 'pipeline')
      core.restore(payload)
      if (this.strings) {
        const ids = core.liveIds()
        this.strings.reset(ids, core.keysOf(ids) as PackedKeys)
      }
    } else {
      openSnapshot(bytes, 'pipeline') // the envelope's own messages (kind, version, the 0.1 layout) first
      core.restore(bytes)
    }
    this.stopped = undefined
    this.detectorFlagged = 0
    this.acknowledged = core.metrics().batchesOut
  }

  /**
   * An incremental checkpoint: the windows' delta (EventTimeWindows.snapshotDelta), the tracker and metrics,
   * and the rows state (forward fill, history, pending forecast, residual statistics, LSTM state) of every
   * key that emitted rows or was freed since the last checkpoint (snapshot(), restore(), or the last
   * snapshotDelta()). Restore = restore(full) then applyDelta() of each delta taken after it, in order.
   * ERR_INVALID_STATE before the first snapshot()/restore(); ERR_NOT_SUPPORTED with sketch features.
   */
  snapshotDelta(): Uint8Array {
    this.checkIdle()
    return this.running().snapshotDelta()
  }

  /**
   * Brings a pipeline that stands at a checkpoint (restored from it, or the delta before applied) to the
   * next delta's state; the result equals a restore of a full snapshot taken there, byte for byte. All or
   * nothing: ERR_MALFORMED_DATA for bytes that do not parse or fail a check, ERR_INVALID_ARGUMENT for a
   * delta of another chain (one missing, repeated or out of order), ERR_INVALID_STATE when this pipeline
   * changed since its checkpoint.
   */
  applyDelta(bytes: Uint8Array): void {
    const core = this.running()
    this.checkIdle()
    const { changed, live } = core.applyDelta(expectTypedArray(bytes, 'bytes', Uint8Array))
    // The string map follows the delta's keys only (a restore rebuilds it whole).
    if (this.strings) this.strings.replace(changed, live, core.keysOf(live) as PackedKeys)
    this.acknowledged = core.metrics().batchesOut
  }

  /** Frees the native state (not the model, which the caller owns). */
  close(): void {
    if (this.closedMetrics) return
    this.closedMetrics = this.core.metrics()
    this.core.close()
    this.releaseModel()
  }

  // ---- internals ----

  private open(): NativePipeline {
    if (this.closedMetrics) throw new SluiceError('the Pipeline is closed', 'ERR_INVALID_STATE')
    return this.core
  }

  /** open(), and not stopped by a JS stage: what the calls that move the stream (and snapshot) use. */
  private running(): NativePipeline {
    const core = this.open()
    if (this.stopped) throw new SluiceError(`the Pipeline stopped: ${this.stopped}`, 'ERR_INVALID_STATE')
    return core
  }

  private checkIdle(): void {
    if (this.busy) throw new SluiceError('the Pipeline is busy with an async batch (one at a time)', 'ERR_INVALID_STATE')
  }

  /** Whether the native pass may use the model: a closed model fails the batch where it is needed. */
  private modelOpen(): boolean {
    return this.model === undefined || !this.model.closed
  }

  /** Types and lengths; keys, timestamps and values are checked natively where they are used. */
  private checkBatch(batch: SourceBatch) {
    if (typeof batch !== 'object' || batch === null) throw new SluiceError('batch must be an object', 'ERR_INVALID_TYPE')
    const input = expectInteger(batch.input ?? 0, 'batch.input', 0, this.inputs - 1)
    const timestamps = expectTypedArray(batch.timestamps, 'batch.timestamps', Float64Array)
    const n = timestamps.length
    // Interned keys: their kind and length here, their bytes natively (after every other check, so a
    // refused batch adds no key).
    let keys: KeyColumn | undefined
    if (this.keyKind === 'dense') {
      keys = batch.keys === undefined ? undefined : expectTypedArray(batch.keys, 'batch.keys', Uint32Array)
      if (keys) expectLength(keys, n, 'batch.keys')
    } else if (n > 0) {
      if (batch.keys === undefined) throw new SluiceError(`batch.keys is required (the pipeline has keys: '${this.keyKind}')`, 'ERR_INVALID_ARGUMENT')
      keys = expectKeyColumn(batch.keys, this.keyKind, n, 'batch.keys')
    }
    const values = expectTypedArray<Float64ArrayConstructor | Float32ArrayConstructor>(batch.values, 'batch.values', Float64Array, Float32Array)
    expectLength(values, n * this.channels, 'batch.values')
    let labels: Uint8Array | Float64Array | undefined
    if (this.labels) {
      if (batch.labels === undefined && n > 0) throw new SluiceError('batch.labels is required (the pipeline has labels: true)', 'ERR_INVALID_ARGUMENT')
      if (batch.labels !== undefined) {
        labels = expectTypedArray<Uint8ArrayConstructor | Float64ArrayConstructor>(batch.labels, 'batch.labels', Uint8Array, Float64Array)
        expectLength(labels, n, 'batch.labels')
      }
    }
    const now = batch.now === undefined ? this.clock() : expectFinite(batch.now, 'batch.now')
    return { input, timestamps, keys, values, labels, now }
  }

  /** What the native pass takes for the batch's keys: string keys become ids (known ones from the JS map,
   * new ones interned in one native call: `created`, undone if the pass refuses the batch); other kinds go
   * as they are (the pass interns them, all or nothing). */
  private translateKeys(core: NativePipeline, keys: KeyColumn | undefined, length: number): { column: NativePipelineKeys | undefined; created: Uint32Array | undefined } {
    if (!this.strings || keys === undefined) return { column: keys as NativePipelineKeys | undefined, created: undefined }
    if (this.ids.length < length) this.ids = new Uint32Array(Math.max(length, 2 * this.ids.length))
    const ids = this.ids.subarray(0, length)
    const created = this.strings.translate(keys as readonly string[], ids, (packed, into) => core.intern(packed, into), 'batch.keys')
    return { column: ids, created: created.length > 0 ? created : undefined }
  }

  /** A refused pass: the string keys it created go again (natively only if no batch used them). */
  private undoKeys(core: NativePipeline, created: Uint32Array | undefined): void {
    if (created !== undefined && core.undoIntern()) this.strings?.forget(created)
  }

  /** After a pass with keyTtl: the string map forgets the keys that expired. */
  private forgetExpired(core: NativePipeline): void {
    if (this.strings !== undefined && this.keyTtl !== undefined) this.strings.forget(core.expired())
  }

  /** An async pass: the pipeline is busy until it settles. One `then` on the native promise, no async
   * function around it: each promise layer costs microtask hops per batch. */
  private settle(pass: Promise<ArrayBuffer>, input: number, final: boolean): Promise<ResultBatch> {
    this.busy = true
    return pass.then(
      (buffer) => {
        this.busy = false
        this.forgetExpired(this.core)
        return this.result(buffer, input, final)
      },
      (error: unknown) => {
        this.busy = false
        throw error
      })
  }

  /** The result batch over the buffer the native pass filled (its row and late counts in `status`). */
  private result(buffer: ArrayBuffer, input: number, final: boolean): ResultBatch {
    const rows = this.status[0]!, late = this.status[1]!
    const v = resultViews(buffer, rows, late, this.features, this.labels, this.scoreColumns)
    if (!this.scoreColumns) return new UnscoredResultBatch(v, rows, this.features, this.status[2]!, input, final)
    const out: ResultBatch = {
      length: rows, key: v.key, start: v.start, end: v.end, count: v.count, filled: v.filled, values: v.values,
      forecast: v.forecast, score: v.score, flagged: v.flagged,
      watermark: this.status[2]!, late: { input, timestamps: v.lateTimestamps, keys: v.lateKeys }, final,
    }
    if (v.label) out.label = v.label
    if (this.detector) {
      try {
        this.detectorFlagged += runDetector(this.detector, out)
      } catch (error) {
        this.stopped = `the detector threw on result batch ${this.metrics().batchesOut} (${error instanceof Error ? error.message : String(error)}); its rows were not delivered; restore() a snapshot or start again`
        throw error
      }
    }
    return out
  }
}

/** `start()`'s promise, or what it throws as a rejected promise (as an async function would give it). */
function rejectingThrows<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start()
  } catch (error) {
    return Promise.reject(error)
  }
}

/** The anomaly option as the native pass takes it (checked here, with RollingZScore's rules and defaults). */
function anomalyOptions(anomaly: PipelineOptions['anomaly']) {
  if (anomaly === false) return { anomaly: false }
  if (anomaly !== undefined && (typeof anomaly !== 'object' || anomaly === null)) throw new SluiceError('anomaly must be an object or false', 'ERR_INVALID_TYPE')
  const a = anomaly ?? {}
  const zWindow = expectInteger(a.window ?? 60, 'anomaly.window', 2, 1 << 20)
  const zWarmup = expectInteger(a.warmup ?? Math.min(10, zWindow), 'anomaly.warmup', 2, zWindow)
  const zMinStd = expectFinite(a.minStd ?? 1e-9, 'anomaly.minStd')
  if (zMinStd < 0) throw new SluiceError(`anomaly.minStd must be >= 0, got ${zMinStd}`, 'ERR_OUT_OF_RANGE')
  const zThreshold = expectFinite(a.threshold ?? 4, 'anomaly.threshold')
  if (zThreshold <= 0) throw new SluiceError(`anomaly.threshold must be > 0, got ${zThreshold}`, 'ERR_OUT_OF_RANGE')
  if (a.excludeFlagged !== undefined && typeof a.excludeFlagged !== 'boolean') throw new SluiceError('anomaly.excludeFlagged must be a boolean', 'ERR_INVALID_TYPE')
  return { anomaly: true, zWindow, zWarmup, zMinStd, zThreshold, zExcludeFlagged: a.excludeFlagged ?? true }
}
