// Pipeline: source batches → WatermarkTracker (one input per partition) → EventTimeWindows features →
// forward fill + scaler → LstmModel forecast per key → rolling z-score of the forecast residual → result
// batches (columns). The core is push-based (process / advance / finish, one call per source batch), so a
// Kafka consumer can drive it per partition; run() / readable() pull from an async source on top of it,
// one source batch per result batch, so backpressure reaches the source. See docs/pipeline.md.
import { Readable } from 'node:stream'
import { SluiceError } from '../runtime/errors'
import { openSnapshot, sealSnapshot } from '../runtime/snapshot_envelope'
import { EventTimeWindows, type FiredWindows } from '../windows/event_time_windows'
import type { LstmModel, LstmPredictOptions } from '../lstm/lstm_model'
import type { LstmState } from '../lstm/lstm_state'
import { RollingZScore, type RollingZScoreOptions } from '../windows/rolling_zscore'
import type { Scaler } from '../lstm/scalers'
import { expectFinite, expectInteger, expectLength, expectOneOf, expectTypedArray } from '../runtime/validate'
import { WatermarkTracker } from '../windows/watermark_tracker'
import { checkDetector, checkSink, drainInto, runDetector, type PipelineDetector, type PipelineDrainOptions } from './stages'

export interface PipelineForecaster {
  /** inputSize = outputSize = the pipeline's channels: it forecasts the next window's features. */
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

export interface PipelineOptions {
  /** Watermark inputs (partitions); a batch names its input. Default 1. */
  inputs?: number
  /** Keys are dense ids in [0, keyCount). Default 1. */
  keyCount?: number
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
  forecaster?: PipelineForecaster
  /** Rolling z-score of the forecast residual (in the target scaler's units when there is one). */
  anomaly?: Omit<RollingZScoreOptions, 'keyCount' | 'channels'>
  /** Your own detector over each finished result batch, in place of the z-score (then no `anomaly`). */
  detector?: PipelineDetector
}

/** One batch of one input's events, as columns. */
export interface SourceBatch {
  /** Which watermark input (partition) delivered it. Default 0. */
  input?: number
  timestamps: Float64Array
  /** Optional: all key 0. */
  keys?: Uint32Array
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
  /** 1 when the row (or one of its channels) was forward-filled. */
  filled: Uint8Array
  /** Window means after forward fill, [row][channel]. */
  values: Float64Array
  /** The forecast of this row made from the key's earlier rows, [row][channel]; NaN when there was none. */
  forecast: Float64Array
  /** max over channels of |z| of the residual; NaN while warming up, for filled rows and without a forecast. */
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
  /** Events inside fired windows; events = windowedEvents + lateEvents + pendingEvents. */
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
  /** The batchesOut number of the last result batch a drain() sink accepted (its promise resolved); 0: none.
   * Batches after it are not done, whatever batchesOut says. */
  acknowledged: number
}

export interface PipelineRunOptions {
  signal?: AbortSignal
}

/** A model call a batch's steps ask for: window mode's predict (answered by predict or predictAsync), or
 * state mode's step of the LstmState (answered by step or stepAsync). */
type ModelRequest =
  | { x: Float32Array; shape: LstmPredictOptions; keys?: undefined }
  | { x: Float32Array; keys: Uint32Array; shape?: undefined }

/** What one call fires, for the rows path: the windows, the late events to report, whether it ends the stream. */
interface Firing {
  fired: FiredWindows
  late: ResultBatch['late']
  final: boolean
}

const EMPTY_U32 = new Uint32Array(0)
const EMPTY_F64 = new Float64Array(0)

/**
 * Memory per key: channels · 8 · (anomaly.window + steps + 4) + 16 bytes in JS, plus the windows' panes
 * and (state mode) the LstmState's bytesPerKey in native memory.
 */
export class Pipeline {
  readonly inputs: number
  readonly keyCount: number
  readonly channels: number
  readonly size: number
  readonly slide: number
  readonly labels: boolean
  readonly maxFill: number
  readonly mode: 'window' | 'state' | 'none'
  readonly steps: number
  readonly target: 'level' | 'change'
  private readonly tracker: WatermarkTracker
  private readonly windows: EventTimeWindows
  private readonly model: LstmModel | undefined
  private readonly lstmState: LstmState | undefined
  private readonly inputScaler: Scaler | undefined
  private readonly targetScaler: Scaler | undefined
  private readonly zscore: RollingZScore
  private readonly detector: PipelineDetector | undefined
  private readonly clock: () => number
  // Per key: last row start (NaN: none), last values, model history (rows in feature units), pending forecast.
  private lastStart: Float64Array
  private lastValues: Float64Array
  private history: Float64Array
  private historyCount: Uint32Array
  private pending: Float64Array
  private counters = { events: 0, windowedEvents: 0, lateEvents: 0, windowsFired: 0, filledRows: 0, flaggedRows: 0, batchesIn: 0, batchesOut: 0, busyMs: 0, latencySumMs: 0, latencyMaxMs: 0, latencyLastMs: 0, acknowledged: 0 }
  private packed = new Float64Array(0)
  private roundScratch: Uint32Array
  private finished = false
  private closed = false
  private busy = false
  private midBatch = false
  private broken: string | undefined

  constructor(options: PipelineOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.inputs = expectInteger(options.inputs ?? 1, 'inputs', 1, 1 << 16)
    this.keyCount = expectInteger(options.keyCount ?? 1, 'keyCount', 1, 1 << 24)
    this.channels = expectInteger(options.channels ?? 1, 'channels', 1, 1024)
    if (typeof options.window !== 'object' || options.window === null) throw new SluiceError('window must be { size, slide? }', 'ERR_INVALID_TYPE')
    this.size = expectInteger(options.window.size, 'window.size', 1, 2 ** 40)
    this.slide = expectInteger(options.window.slide ?? this.size, 'window.slide', 1, this.size)
    if (options.labels !== undefined && typeof options.labels !== 'boolean') throw new SluiceError('labels must be a boolean', 'ERR_INVALID_TYPE')
    this.labels = options.labels ?? false
    this.maxFill = expectInteger(options.maxFill ?? 120, 'maxFill', 0, 1 << 20)
    const f = options.forecaster
    if (f !== undefined) {
      if (typeof f !== 'object' || f === null || typeof f.model?.predict !== 'function') throw new SluiceError('forecaster must be { model: LstmModel, … }', 'ERR_INVALID_TYPE')
      if (f.model.inputSize !== this.channels || f.model.outputSize !== this.channels) {
        throw new SluiceError(`forecaster.model must have inputSize = outputSize = channels (${this.channels}), got ${f.model.inputSize} → ${f.model.outputSize}`, 'ERR_INVALID_ARGUMENT')
      }
      this.mode = expectOneOf(f.mode ?? 'window', 'forecaster.mode', ['window', 'state'] as const)
      this.steps = this.mode === 'window' ? expectInteger(f.steps ?? 16, 'forecaster.steps', 1, 4096) : 1
      const scalers = f.model.scalers
      this.target = expectOneOf(f.target ?? 'level', 'forecaster.target', ['level', 'change'] as const)
      this.inputScaler = f.inputScaler ?? scalers?.input
      this.targetScaler = f.targetScaler ?? scalers?.target
      for (const [name, s] of [['inputScaler', this.inputScaler], ['targetScaler', this.targetScaler]] as const) {
        if (s !== undefined && s.channels !== this.channels) throw new SluiceError(`forecaster.${name} has ${s.channels} channels, the pipeline ${this.channels}`, 'ERR_INVALID_ARGUMENT')
      }
      this.model = f.model
    } else {
      this.mode = 'none'
      this.steps = 1
      this.target = 'level'
    }
    this.detector = checkDetector(options.detector, options.anomaly !== undefined)
    this.zscore = new RollingZScore({ ...(options.anomaly ?? {}), keyCount: this.keyCount, channels: this.channels })
    if (options.clock !== undefined && typeof options.clock !== 'function') throw new SluiceError('clock must be a function', 'ERR_INVALID_TYPE')
    this.clock = options.clock ?? (() => performance.now())
    const K = this.keyCount, C = this.channels
    this.lastStart = new Float64Array(K).fill(NaN)
    this.lastValues = new Float64Array(K * C).fill(NaN)
    this.history = new Float64Array(K * this.historyRows() * C)
    this.historyCount = new Uint32Array(K)
    this.roundScratch = new Uint32Array(K)
    this.pending = new Float64Array(K * C).fill(NaN)
    this.tracker = new WatermarkTracker({ inputs: this.inputs, bound: options.bound ?? 0, idleTimeout: options.idleTimeout ?? Infinity, clock: this.clock })
    try {
      this.windows = new EventTimeWindows({
        type: this.slide === this.size ? 'tumbling' : 'sliding',
        size: this.size,
        slide: this.slide,
        offset: options.window.offset ?? 0,
        horizon: options.window.horizon ?? 0,
        keyCount: K,
        channels: C + (this.labels ? 1 : 0),
        aggregates: ['mean', 'max'],
      })
      this.lstmState = this.mode === 'state' ? this.model!.createState({ capacity: K }) : undefined
    } catch (error) {
      this.tracker.close()
      throw error
    }
  }

  /**
   * One source batch: its events enter the tracker and the windows (late ones are reported, never dropped
   * silently), then every window the combined watermark closes becomes a scored row. The batch is checked
   * completely before anything changes.
   */
  process(batch: SourceBatch): ResultBatch {
    return this.drive(() => this.ingest(batch))
  }

  /**
   * process() with the LSTM's work on a native worker thread (LstmModel.predictAsync in window mode,
   * LstmState.stepAsync in state mode), so the event loop stays free; the results are process()'s. One call
   * at a time: another call while this one runs is ERR_INVALID_STATE.
   */
  processAsync(batch: SourceBatch): Promise<ResultBatch> {
    return this.driveAsync(() => this.ingest(batch))
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
    return this.drive(() => this.raiseWatermark(watermark))
  }

  /** advanceTo() with the LSTM's work on a native worker thread (see processAsync). */
  advanceToAsync(watermark: number): Promise<ResultBatch> {
    return this.driveAsync(() => this.raiseWatermark(watermark))
  }

  /** End of stream: fires every remaining window (the last result batch, final: true). Later events are late. */
  finish(): ResultBatch {
    return this.drive(() => this.fireAll())
  }

  /** finish() with the LSTM's work on a native worker thread (see processAsync). */
  finishAsync(): Promise<ResultBatch> {
    return this.driveAsync(() => this.fireAll())
  }

  /** Runs a batch's steps, answering each model request with predict() or LstmState.step(). */
  private drive(fire: () => Firing): ResultBatch {
    this.checkIdle()
    try {
      const steps = this.batchSteps(fire)
      let step = steps.next()
      while (!step.done) {
        const request = step.value
        step = steps.next(request.keys ? this.lstmState!.step(request.keys, request.x) : this.model!.predict(request.x, request.shape))
      }
      return step.value
    } catch (error) {
      this.noteFailure(error)
      throw error
    }
  }

  /** Runs a batch's steps, answering each model request with predictAsync() or LstmState.stepAsync(); one batch at a time. */
  private async driveAsync(fire: () => Firing): Promise<ResultBatch> {
    this.checkIdle()
    this.busy = true
    try {
      const steps = this.batchSteps(fire)
      let step = steps.next()
      while (!step.done) {
        const request = step.value
        step = steps.next(await (request.keys ? this.lstmState!.stepAsync(request.keys, request.x) : this.model!.predictAsync(request.x, request.shape)))
      }
      return step.value
    } catch (error) {
      this.noteFailure(error)
      throw error
    } finally {
      this.busy = false
    }
  }

  /** One call's steps: `fire` fires the windows, then they become rows, with model requests on the way. */
  private *batchSteps(fire: () => Firing): Generator<ModelRequest, ResultBatch, Float32Array> {
    const began = performance.now()
    this.checkOpen()
    const { fired, late, final } = fire()
    return yield* this.finishBatch(fired, late, final, began)
  }

  /** process(): the batch's events enter the windows and the tracker, then the combined watermark fires. */
  private ingest(batch: SourceBatch): Firing {
    const { input, timestamps, keys, values, labels, now } = this.checkBatch(batch)
    const n = timestamps.length
    let lateTimes = EMPTY_F64, lateKeys = EMPTY_U32
    if (n > 0) {
      const packed = this.pack(values, labels, n)
      // Windows first: if they refuse the batch (ERR_OUT_OF_RANGE beyond the horizon), nothing has changed.
      const { late } = this.windows.push({ timestamps, keys, values: packed })
      this.tracker.observe(input, timestamps, now)
      if (late.length > 0) {
        lateTimes = new Float64Array(late.length)
        lateKeys = new Uint32Array(late.length)
        for (let i = 0; i < late.length; i++) {
          lateTimes[i] = timestamps[late[i]!]!
          lateKeys[i] = keys ? keys[late[i]!]! : 0
        }
      }
      this.counters.events += n
      this.counters.lateEvents += late.length
    }
    this.counters.batchesIn++
    const watermark = this.tracker.currentWatermark(now)
    const fired = this.windows.advanceWatermark(watermark)
    return { fired, late: { input, timestamps: lateTimes, keys: lateKeys }, final: false }
  }

  /** advanceTo(): only a real advance goes to the windows (they count a lower one as ignored); either way one batch out. */
  private raiseWatermark(watermark: number): Firing {
    expectFinite(watermark, 'watermark')
    const fired = this.windows.advanceWatermark(Math.max(watermark, this.windows.watermark))
    return { fired, late: { input: 0, timestamps: EMPTY_F64, keys: EMPTY_U32 }, final: false }
  }

  /** finish(): every window fires. */
  private fireAll(): Firing {
    const fired = this.windows.flush()
    this.finished = true
    return { fired, late: { input: 0, timestamps: EMPTY_F64, keys: EMPTY_U32 }, final: true }
  }

  /** A failure after windows fired leaves rows that were never emitted: the pipeline refuses to go on. */
  private noteFailure(error: unknown): void {
    if (this.midBatch) this.broken = `a batch failed after its windows fired (${error instanceof Error ? error.message : String(error)}); restore() a snapshot or start again`
    this.midBatch = false
  }

  /**
   * Pulls source batches one at a time and yields one result batch per source batch (then the final one),
   * through processAsync (the LSTM runs off the event loop).
   * The next source batch is read only when the consumer asks for the next result, so a slow consumer
   * slows the source. An aborted signal stops it with the signal's reason, after returning the source
   * iterator (the pipeline itself stays usable: snapshot, metrics, close).
   */
  async *run(source: AsyncIterable<SourceBatch> | Iterable<SourceBatch>, options: PipelineRunOptions = {}): AsyncGenerator<ResultBatch, void, undefined> {
    const signal = options.signal
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
      () => { this.counters.acknowledged = this.counters.batchesOut },
      (error) => { this.broken = `the sink refused result batch ${this.counters.batchesOut} (${error instanceof Error ? error.message : String(error)}); restore() a snapshot or start again` })
  }

  /** run() as an object-mode Readable (highWaterMark 1 result batch); abort destroys it with the reason. */
  readable(source: AsyncIterable<SourceBatch> | Iterable<SourceBatch>, options: PipelineRunOptions = {}): Readable {
    return Readable.from(this.run(source, options), { objectMode: true, highWaterMark: 1 })
  }

  metrics(): PipelineMetrics {
    const c = this.counters
    const w = this.closed ? undefined : this.windows.metrics()
    return {
      events: c.events,
      windowedEvents: c.windowedEvents,
      lateEvents: c.lateEvents,
      pendingEvents: c.events - c.windowedEvents - c.lateEvents,
      windowsFired: w?.firedWindows ?? c.windowsFired,
      filledRows: c.filledRows,
      flaggedRows: c.flaggedRows,
      batchesIn: c.batchesIn,
      batchesOut: c.batchesOut,
      watermark: this.closed ? NaN : this.windows.watermark,
      busySeconds: c.busyMs / 1000,
      eventsPerSecond: c.busyMs > 0 ? c.events / (c.busyMs / 1000) : 0,
      latencyMs: { mean: c.batchesOut > 0 ? c.latencySumMs / c.batchesOut : 0, max: c.latencyMaxMs, last: c.latencyLastMs },
      acknowledged: c.acknowledged,
    }
  }

  /**
   * The whole state (tracker, windows, LSTM state, forward-fill and model history, residual statistics,
   * metrics) as versioned, checksummed bytes. Restoring into a pipeline built with the same options and
   * model and continuing gives exactly the results of never having stopped.
   */
  snapshot(): Uint8Array {
    this.checkIdle()
    this.checkOpen()
    const sections: [string, ArrayBufferView][] = [
      ['tracker', this.tracker.snapshot()],
      ['windows', this.windows.snapshot()],
      ['lstm', this.lstmState ? this.lstmState.snapshot() : new Uint8Array(0)],
      ['lastStart', this.lastStart], ['lastValues', this.lastValues], ['history', this.history],
      ['historyCount', this.historyCount], ['pending', this.pending],
      ['zRing', this.zscore.ring], ['zHead', this.zscore.head], ['zFill', this.zscore.fill],
    ]
    const header = JSON.stringify({
      shape: this.shape(),
      counters: this.counters,
      finished: this.finished,
      sections: sections.map(([name, v]) => [name, v.byteLength]),
    })
    const headerBytes = new TextEncoder().encode(header)
    // Payload of the common snapshot envelope (kind 'pipeline'): u32 header length | JSON header | sections.
    let total = 4 + headerBytes.length
    for (const [, v] of sections) total += v.byteLength
    const payload = new Uint8Array(total)
    new DataView(payload.buffer).setUint32(0, headerBytes.length, true)
    payload.set(headerBytes, 4)
    let at = 4 + headerBytes.length
    for (const [, v] of sections) {
      payload.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at)
      at += v.byteLength
    }
    return sealSnapshot('pipeline', payload)
  }

  /** Replaces the state with a snapshot of a pipeline with the same options; all or nothing (ERR_MALFORMED_DATA;
   * ERR_NOT_SUPPORTED for another envelope format version or a 0.1 snapshot). Also the way back after a batch
   * failed midway (which stops the pipeline). */
  restore(bytes: Uint8Array): void {
    if (this.closed) throw new SluiceError('the Pipeline is closed', 'ERR_INVALID_STATE')
    this.checkIdle()
    expectTypedArray(bytes, 'bytes', Uint8Array)
    const bad = (why: string) => new SluiceError(`pipeline snapshot: ${why}`, 'ERR_MALFORMED_DATA')
    const payload = openSnapshot(bytes, 'pipeline')
    if (payload.length < 4) throw bad('too short')
    const total = payload.length
    const headerLength = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true)
    if (4 + headerLength > total) throw bad('header length out of bounds')
    let header: { shape: unknown; counters: Pipeline["counters"]; finished: boolean; sections: [string, number][] }
    try {
      header = JSON.parse(new TextDecoder().decode(payload.subarray(4, 4 + headerLength)))
    } catch {
      throw bad('header is not JSON')
    }
    if (JSON.stringify(header.shape) !== JSON.stringify(this.shape())) throw bad(`taken from a pipeline of another shape (${JSON.stringify(header.shape)})`)
    const parts = new Map<string, Uint8Array>()
    let at = 4 + headerLength
    for (const [name, length] of header.sections) {
      if (!Number.isInteger(length) || length < 0 || at + length > total) throw bad(`section ${name} out of bounds`)
      parts.set(name, payload.slice(at, at + length))
      at += length
    }
    if (at !== total) throw bad('trailing bytes')
    const js: [string, Float64Array | Uint32Array][] = [
      ['lastStart', this.lastStart], ['lastValues', this.lastValues], ['history', this.history], ['historyCount', this.historyCount],
      ['pending', this.pending], ['zRing', this.zscore.ring], ['zHead', this.zscore.head], ['zFill', this.zscore.fill],
    ]
    for (const [name, target] of js) if (parts.get(name)?.byteLength !== target.byteLength) throw bad(`section ${name} has the wrong size`)
    // Native parts first, each all-or-nothing; keep the old bytes to roll back if a later one fails.
    const oldTracker = this.tracker.snapshot(), oldWindows = this.windows.snapshot()
    try {
      this.tracker.restore(parts.get('tracker') ?? new Uint8Array(0))
      this.windows.restore(parts.get('windows') ?? new Uint8Array(0))
      if (this.lstmState) this.lstmState.restore(parts.get('lstm') ?? new Uint8Array(0))
    } catch (error) {
      this.tracker.restore(oldTracker)
      this.windows.restore(oldWindows)
      throw error instanceof SluiceError ? error : bad(String(error))
    }
    for (const [name, target] of js) {
      const src = parts.get(name)!
      new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(src)
    }
    this.counters = { ...header.counters }
    this.finished = header.finished
    this.broken = undefined
  }

  /** Frees the native tracker, windows and LSTM state (not the model, which the caller owns). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.tracker.close()
    this.windows.close()
    this.lstmState?.close()
  }

  // ---- internals ----

  private shape() {
    return { v: 1, inputs: this.inputs, keyCount: this.keyCount, channels: this.channels, size: this.size, slide: this.slide, labels: this.labels, mode: this.mode, steps: this.steps, target: this.target, window: this.zscore.window }
  }

  private checkOpen(): void {
    if (this.closed) throw new SluiceError('the Pipeline is closed', 'ERR_INVALID_STATE')
    if (this.broken) throw new SluiceError(`the Pipeline stopped: ${this.broken}`, 'ERR_INVALID_STATE')
    if (this.finished) throw new SluiceError('the Pipeline has finished (finish() ended the stream)', 'ERR_INVALID_STATE')
  }

  private checkIdle(): void {
    if (this.busy) throw new SluiceError('the Pipeline is busy with an async batch (one at a time)', 'ERR_INVALID_STATE')
  }

  private checkBatch(batch: SourceBatch) {
    if (typeof batch !== 'object' || batch === null) throw new SluiceError('batch must be an object', 'ERR_INVALID_TYPE')
    const input = expectInteger(batch.input ?? 0, 'batch.input', 0, this.inputs - 1)
    const timestamps = expectTypedArray(batch.timestamps, 'batch.timestamps', Float64Array)
    const n = timestamps.length
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(timestamps[i]!)) throw new SluiceError(`batch.timestamps[${i}] is ${timestamps[i]}; timestamps must be finite`, 'ERR_INVALID_ARGUMENT')
    }
    const keys = batch.keys === undefined ? undefined : expectTypedArray(batch.keys, 'batch.keys', Uint32Array)
    if (keys) {
      expectLength(keys, n, 'batch.keys')
      for (let i = 0; i < n; i++) if (keys[i]! >= this.keyCount) throw new SluiceError(`batch.keys[${i}] is ${keys[i]}, keyCount is ${this.keyCount}`, 'ERR_OUT_OF_RANGE')
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
    const now = batch.now === undefined ? undefined : expectFinite(batch.now, 'batch.now')
    return { input, timestamps, keys, values, labels, now }
  }

  /** Values (+ the label column) as the windows' [event][channel] layout. */
  private pack(values: Float64Array | Float32Array, labels: Uint8Array | Float64Array | undefined, n: number): Float64Array | Float32Array {
    if (!this.labels) return values
    const C = this.channels, W = C + 1
    if (this.packed.length < n * W) this.packed = new Float64Array(Math.max(n * W, 2 * this.packed.length))
    const out = this.packed.subarray(0, n * W)
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < C; c++) out[i * W + c] = values[i * C + c]!
      out[i * W + C] = labels![i]!
    }
    return out
  }

  /** Fired windows → rows: forward fill, forecast (rounds of distinct keys), residual score. */
  private *finishBatch(fired: FiredWindows, late: ResultBatch['late'], final: boolean, began: number): Generator<ModelRequest, ResultBatch, Float32Array> {
    this.midBatch = true
    const C = this.channels, WC = C + (this.labels ? 1 : 0), A = 2 // aggregates: mean, max
    // Count the rows first: fired windows plus the gaps before them. lastStart moves on as we go; each
    // window keeps its key's previous start for the second pass.
    const n = fired.length
    const gaps = new Uint32Array(n)
    const previous = new Float64Array(n)
    const firedKey = fired.key, firedStart = fired.start, firedEnd = fired.end, firedCount = fired.count, firedValues = fired.values
    const lastStart = this.lastStart, lastValues = this.lastValues, slide = this.slide, size = this.size, maxFill = this.maxFill
    let rows = 0, windowed = 0
    for (let w = 0; w < n; w++) {
      const k = firedKey[w]!
      const prev = lastStart[k]!
      previous[w] = prev
      if (prev === prev) {
        const missing = Math.round((firedStart[w]! - prev) / slide) - 1
        if (missing > 0 && missing <= maxFill) gaps[w] = missing
      }
      lastStart[k] = firedStart[w]!
      rows += 1 + gaps[w]!
      windowed += firedCount[w]!
    }
    this.counters.windowedEvents += windowed
    this.counters.windowsFired += n
    // One buffer for all columns of the batch (one allocation, not ten): float64 columns, then key, then bytes.
    const f64 = rows * (4 + 2 * C + (this.labels ? 1 : 0))
    const buffer = new ArrayBuffer(f64 * 8 + rows * 4 + rows * 2)
    let at = 0
    const float = (length: number) => {
      const view = new Float64Array(buffer, at * 8, length)
      at += length
      return view
    }
    const start = float(rows), end = float(rows), count = float(rows), values = float(rows * C)
    const forecast = float(rows * C).fill(NaN), score = float(rows).fill(NaN)
    const label = this.labels ? float(rows).fill(NaN) : undefined
    const key = new Uint32Array(buffer, f64 * 8, rows)
    const filled = new Uint8Array(buffer, f64 * 8 + rows * 4, rows), flagged = new Uint8Array(buffer, f64 * 8 + rows * 5, rows)
    const out: ResultBatch = {
      length: rows, key, start, end, count, filled, values, forecast, score, flagged,
      watermark: final ? Infinity : this.windows.watermark, late, final,
    }
    if (label) out.label = label
    let r = 0, filledRows = 0
    for (let w = 0; w < n; w++) {
      const k = firedKey[w]!
      const s0 = firedStart[w]!
      if (previous[w] === previous[w] && gaps[w] === 0 && Math.round((s0 - previous[w]!) / slide) - 1 > maxFill) this.resetKey(k)
      for (let g = gaps[w]!; g > 0; g--) {
        const s = s0 - g * slide
        key[r] = k; start[r] = s; end[r] = s + size; filled[r] = 1
        for (let c = 0; c < C; c++) values[r * C + c] = lastValues[k * C + c]!
        filledRows++
        r++
      }
      key[r] = k; start[r] = s0; end[r] = firedEnd[w]!; count[r] = firedCount[w]!
      const base = w * WC * A
      for (let c = 0; c < C; c++) {
        let v = firedValues[base + c * A]!
        if (v !== v) {
          v = lastValues[k * C + c]!
          filled[r] = 1
        }
        values[r * C + c] = v
        lastValues[k * C + c] = v
      }
      filledRows += filled[r]!
      if (label) label[r] = firedValues[base + C * A + 1]!
      r++
    }
    this.counters.filledRows += filledRows
    // Rows whose channels are all known go through the model and the score, in rounds of distinct keys.
    if (this.mode !== 'none') yield* this.scoreRows(out)
    if (this.detector) this.counters.flaggedRows += runDetector(this.detector, out)
    this.midBatch = false
    this.counters.batchesOut++
    const elapsed = performance.now() - began
    this.counters.busyMs += elapsed
    this.counters.latencySumMs += elapsed
    this.counters.latencyLastMs = elapsed
    if (elapsed > this.counters.latencyMaxMs) this.counters.latencyMaxMs = elapsed
    return out
  }

  private *scoreRows(out: ResultBatch): Generator<ModelRequest, void, Float32Array> {
    const C = this.channels
    const residual = new Float64Array(C)
    // Round j holds each key's j-th row of the batch: the keys of a round are distinct, so one model call
    // serves the round, and a key's rows still go through the model in time order.
    const rounds: number[][] = []
    const seen = this.roundScratch
    for (let r = 0; r < out.length; r++) {
      const o = seen[out.key[r]!]!
      seen[out.key[r]!] = o + 1
      if (o === rounds.length) rounds.push([])
      rounds[o]!.push(r)
    }
    for (let r = 0; r < out.length; r++) seen[out.key[r]!] = 0
    for (const round of rounds) {
      const stepKeys: number[] = []
      for (const r of round) {
        const k = out.key[r]!
        let known = true
        for (let c = 0; c < C; c++) if (Number.isNaN(out.values[r * C + c]!)) known = false
        if (!known) continue
        for (let c = 0; c < C; c++) out.forecast[r * C + c] = this.pending[k * C + c]!
        if (this.mode !== 'none' && !out.filled[r] && !this.detector) {
          // The residual in feature units: the z-score divides by its own rolling spread.
          for (let c = 0; c < C; c++) residual[c] = out.values[r * C + c]! - this.pending[k * C + c]!
          const score = this.zscore.scoreAndUpdate(k, residual, 0)
          out.score[r] = score
          if (score > this.zscore.threshold) {
            out.flagged[r] = 1
            this.counters.flaggedRows++
          }
        }
        this.appendHistory(k, out.values, r * C)
        stepKeys.push(k)
      }
      yield* this.forecastNext(stepKeys)
    }
  }

  /** Rows kept per key: steps (level), steps + 1 (change: steps differences), 2 (state + change), 1 (state). */
  private historyRows(): number {
    if (this.mode === 'window') return this.steps + (this.target === 'change' ? 1 : 0)
    return this.target === 'change' ? 2 : 1
  }

  private appendHistory(k: number, values: Float64Array, offset: number): void {
    if (this.mode === 'none') return
    const C = this.channels, R = this.historyRows()
    const base = k * R * C
    const n = this.historyCount[k]!
    if (n < R) {
      this.history.set(values.subarray(offset, offset + C), base + n * C)
      this.historyCount[k] = n + 1
    } else {
      this.history.copyWithin(base, base + C, base + R * C)
      this.history.set(values.subarray(offset, offset + C), base + (R - 1) * C)
    }
  }

  /** The model's input rows of key k into x at `at`: scaled levels, or scaled changes between rows. */
  private modelInput(k: number, x: Float32Array, at: number): void {
    const C = this.channels, R = this.historyRows(), base = k * R * C
    const rows = this.target === 'change' ? R - 1 : R
    const scaler = this.inputScaler
    for (let t = 0; t < rows; t++) {
      for (let c = 0; c < C; c++) {
        const i = base + t * C + c
        let v = this.target === 'change' ? this.history[i + C]! - this.history[i]! : this.history[i]!
        if (scaler) v = (v - scaler.offset[c]!) / scaler.scale[c]!
        x[at + t * C + c] = v
      }
    }
  }

  /** Sets pending[k] (the forecast of key k's next row) for each key that just got a row. */
  private *forecastNext(keys: number[]): Generator<ModelRequest, void, Float32Array> {
    if (this.mode === 'none' || keys.length === 0) return
    const C = this.channels, R = this.historyRows()
    const T = this.target === 'change' ? R - 1 : R
    const ready = keys.filter((k) => this.historyCount[k] === R)
    for (const k of keys) if (this.historyCount[k] !== R) this.pending.fill(NaN, k * C, (k + 1) * C)
    if (ready.length === 0) return
    const x = new Float32Array(ready.length * T * C)
    ready.forEach((k, b) => this.modelInput(k, x, b * T * C))
    let prediction = this.mode === 'window'
      ? yield { x, shape: { steps: T, batch: ready.length, batchFirst: true } }
      : yield { x, keys: Uint32Array.from(ready) }
    if (this.targetScaler) prediction = this.targetScaler.inverse(prediction, prediction) as Float32Array
    ready.forEach((k, b) => {
      const last = k * R * C + (R - 1) * C
      for (let c = 0; c < C; c++) this.pending[k * C + c] = prediction[b * C + c]! + (this.target === 'change' ? this.history[last + c]! : 0)
    })
  }

  private resetKey(k: number): void {
    const C = this.channels
    this.historyCount[k] = 0
    this.pending.fill(NaN, k * C, (k + 1) * C)
    this.zscore.resetKey(k)
    this.lstmState?.reset(Uint32Array.of(k))
  }
}
