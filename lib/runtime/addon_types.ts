// The native addon's surface as JavaScript sees it: every class and function that native/addon exports,
// with the argument and result shapes of its binding. native() returns this type, so the classes in lib/
// call the addon without casts. The shapes are the bindings' own (plain objects, typed arrays); the public
// types of each domain are structurally the same where they pass straight through (LstmWeights,
// WindowMetrics, WatermarkInputState). runtime/ imports no other domain, so nothing here does either.
import type { CudaBackend } from './backends'
import type { SluiceError } from './errors'

export interface NativeAddon {
  /** The folder holding sluice.node (and, optionally, libsluice_cuda.so). */
  directory: string
  /** Registers the class native errors are raised as (called once, by native()). */
  setErrorClass(ctor: typeof SluiceError): void
  backends(): NativeBackends
  /** The sealed, versioned, checksummed envelope every snapshot travels in. */
  snapshotEnvelope: NativeSnapshotEnvelope
  /** Content-defined chunking and a 128-bit content hash (incremental checkpoints). */
  contentChunks: NativeContentChunks
  testing: NativeTesting

  SlidingWindow: new (options: NativeSlidingWindowOptions) => NativeSlidingWindow
  EventTimeWindows: new (options: NativeEventTimeWindowsOptions) => NativeEventTimeWindows
  WatermarkTracker: new (inputs: number, bound: number, idleTimeout: number, now: number) => NativeWatermarkTracker

  // A `model` argument is a NativeLstmModel or a NativeCudaLstmModel, as each binding says; the binding
  // checks which (ERR_INVALID_TYPE for the other).
  NativeLstmModel: new (weights: NativeLstmWeights, threads: number | undefined) => NativeLstmModel
  /** Over a CPU model. */
  /** keys: a key space ('string' | 'bigint' | 'bigint64' | 'bytes'; string keys arrive packed as UTF-8). */
  NativeLstmState: new (model: NativeLstmModel, capacity: number, keys?: { keys: string; maxKeys?: number }) => NativeLstmState
  /** Over a CPU or a CUDA model. */
  NativeLstmWindows: new (model: NativeLstmModel, capacity: number, steps: number, keys?: { keys: string; maxKeys?: number }) => NativeLstmWindows
  /** Over a CPU model; copies its weights. */
  NativeLstmTrainer: new (model: NativeLstmModel, threads: number | undefined, options: NativeLstmTrainerOptions) => NativeLstmTrainer
  /** A CPU model's current weights (copies). */
  lstmModelWeights(model: NativeLstmModel): NativeLstmWeights
  /** ERR_NOT_SUPPORTED (naming backends().cuda.reason) where CUDA is unusable. */
  NativeCudaLstmModel: new (weights: NativeLstmWeights, algorithm: NativeCudnnAlgorithm | undefined) => NativeCudaLstmModel
  /** Over a CUDA model; the table lives in device memory. */
  NativeCudaLstmState: new (model: NativeLstmModel, capacity: number) => NativeLstmState
  /** The Pipeline's native pass; `model` (a CPU model) when options.mode is not 'none'; `now` the tracker's start. */
  NativePipeline: new (options: NativePipelineOptions, model: NativeLstmModel | undefined, now: number) => NativePipeline
  /** kind: 'string' | 'bigint' | 'bigint64' | 'bytes'. */
  KeyDictionary: new (kind: string, maxKeys: number | undefined) => NativeKeyDictionary
}

/** Keys as packed bytes: key i is bytes[offsets[i] … offsets[i + 1]). */
export interface NativePackedKeys {
  bytes: Uint8Array
  offsets: Uint32Array
}

export interface NativeKeyDictionary extends NativeSnapshotHandle {
  intern(keys: BigInt64Array | BigUint64Array | NativePackedKeys, ids: Uint32Array): void
  /** ids[i] = the id of key i, or 0xFFFFFFFF. */
  find(keys: BigInt64Array | BigUint64Array | NativePackedKeys, ids: Uint32Array): void
  release(ids: Uint32Array): void
  keysOf(ids: Uint32Array): BigInt64Array | BigUint64Array | NativePackedKeys
  info(): { size: number; idCapacity: number; keyBytes: number; memoryBytes: number }
}

/** Every native object: close() frees its memory now (the finalizer does otherwise). */
export interface NativeHandle {
  close(): void
}

/** A native object whose whole state travels as snapshot bytes. */
export interface NativeSnapshotHandle extends NativeHandle {
  snapshot(): Uint8Array
  restore(bytes: Uint8Array): void
}

export interface NativeBackends {
  cpu: { available: true; simd: string; simdSupported: string; threads: number }
  cuda: CudaBackend
}

export interface NativeContentChunks {
  /** `bytes` cut into content-defined chunks: their lengths in order and their hashes (16 bytes each). */
  cut(bytes: Uint8Array, minSize: number, averageSize: number, maxSize: number): { lengths: Uint32Array; hashes: Uint8Array }
  /** The 128-bit content hash of `bytes` (the same as a chunk's). */
  hash(bytes: Uint8Array): Uint8Array
  /** The hashes (16 bytes each) of `bytes` cut at `lengths`; ERR_INVALID_LENGTH unless they add up to its length. */
  hashChunks(bytes: Uint8Array, lengths: Uint32Array): Uint8Array
}

export interface NativeSnapshotEnvelope {
  /** `payload` inside an envelope of `kind` (magic, format version, length, checksum). */
  seal(kind: string, payload: Uint8Array): Uint8Array
  /** The payload of an envelope of `kind`; ERR_MALFORMED_DATA for another kind, version or a bad checksum. */
  open(bytes: Uint8Array, kind: string): Uint8Array
}

/** Internal functions for tests and benchmarks; not public API. */
export interface NativeTesting {
  /** Writes 0, 1, 2, … through the native span; returns the elements written. */
  fillIota(array: Float64Array | Float32Array | Uint32Array, expectedLength?: number): number
  /** Raises a core error with `code`, to test that codes cross the binding unchanged. */
  throwCoreError(code: string): never
  /** Throws a C++ exception of the kind named in the binding (or, async, in lane work: a rejected Promise). */
  throwNative(kind: 'system_error' | 'length_error' | 'bad_alloc' | 'exception' | 'int', async: boolean): Promise<undefined>
  /** Resolves after an empty libuv work request (one Napi::AsyncWorker): the bare round trip. */
  noopAsync(): Promise<undefined>
  /** Resolves after work on the async lane every async call uses: empty, or busy-waiting `busyUs` µs. */
  noopLane(busyUs?: number): Promise<undefined>
  /** [byLoop, byWake]: lane jobs completed by the polling event loop itself, and after a wake-up. */
  laneDeliveries(): [number, number]
  /** Sets how long the call lane's thread and the event loop spin before they sleep (µs); returns the previous pair. */
  setLaneSpin(workerUs: number, loopUs: number): [number, number]
  /** One thread's FMA throughput with the active LSTM kernels (bench/lstm.bench.js's "physical limit"). */
  lstmFmaProbe(iterations: number): { flops: number; seconds: number; simd: string; sink: number }
}

// ---- windows ----

export interface NativeSlidingWindowOptions {
  size: number
  slide: number
  channels: number
  aggregates: readonly string[]
  quantiles: readonly number[]
  emitPartial: boolean
  threads: number
}

export interface NativeSlidingWindow extends NativeSnapshotHandle {
  /** Returns the windows emitted. */
  push(values: Float64Array | Float32Array, out: Float64Array): number
  pushAsync(values: Float64Array | Float32Array, out: Float64Array): Promise<number>
  windowsFor(rows: number): number
  /** Returns the restored rowsSeen. */
  restore(bytes: Uint8Array): number
  reset(): void
  readonly rowsSeen: number
  readonly memoryBytes: number
}

/** The binding reads each duration by name (a missing one is 0; slide defaults to size for tumbling). */
export type NativeEventTimeWindowsOptions = Partial<Record<'size' | 'slide' | 'gap' | 'offset' | 'allowedLateness' | 'horizon' | 'maxKeys' | 'keyTtl' | 'accuracy' | 'distinctPrecision', number>> & {
  /** The q of each quantile column, appended after the `aggregates` columns. */
  quantiles?: readonly number[]
  kind: 'tumbling' | 'sliding' | 'session'
  keyCount: number
  /** Interned keys' kind ('string' | 'bigint' | 'bigint64' | 'bytes'); absent: dense ids. */
  keys?: string
  channels: number
  aggregates: readonly string[]
}

export interface NativeEventTimeWindows extends NativeSnapshotHandle {
  /** Returns how many indices it wrote to lateOut. */
  /** keys: dense ids (or the ids intern() gave), or 64-bit / packed keys interned natively first. */
  push(timestamps: Float64Array, keys: Uint32Array | BigInt64Array | BigUint64Array | { bytes: Uint8Array; offsets: Uint32Array } | undefined, values: Float64Array | Float32Array, lateOut: Uint32Array): number
  intern(keys: BigInt64Array | BigUint64Array | { bytes: Uint8Array; offsets: Uint32Array }, ids: Uint32Array): void
  undoIntern(): void
  expire(keys: Uint32Array | BigInt64Array | BigUint64Array | { bytes: Uint8Array; offsets: Uint32Array }): number
  expired(): Uint32Array
  keysOf(ids: Uint32Array): BigInt64Array | BigUint64Array | { bytes: Uint8Array; offsets: Uint32Array }
  /** held[i] = 1 when key i is live (adds nothing). */
  held(keys: BigInt64Array | BigUint64Array | { bytes: Uint8Array; offsets: Uint32Array }, held: Uint8Array): void
  liveIds(): Uint32Array
  /** advance, flush: the windows that fired, staged for readFired. */
  advance(watermark: number): number
  flush(): number
  /** How many windows advancing to `watermark` would fire, without firing them. */
  firing(watermark: number): number
  readFired(key: Uint32Array, start: Float64Array, end: Float64Array, count: Float64Array, updated: Uint8Array, values: Float64Array): number
  watermark(): number
  metrics(): { onTime: number; updating: number; late: number; firedWindows: number; updateFirings: number; ignoredWatermarks: number; liveKeys?: number; expiredKeys?: number }
  info(): { ringPanes: number; memoryBytes: number; keyCapacity: number; keyBytes?: number; dictionaryBytes?: number }
  snapshotDelta(): Uint8Array
  applyDelta(bytes: Uint8Array): { changed: Uint32Array; live: Uint32Array }
  changedKeys(): number
}

export interface NativeWatermarkTracker extends NativeSnapshotHandle {
  /** observe, markIdle, markActive, update: the combined watermark afterwards. */
  observe(input: number, timestamps: Float64Array, now: number): number
  markIdle(input: number): number
  markActive(input: number, now: number): number
  update(now: number): number
  idle(): boolean
  input(index: number): { watermark: number; idle: boolean; aligned: boolean }
}

// ---- lstm ----

/** lib/lstm/lstm_weights.ts's LstmWeights, as the bindings read and return it (PyTorch layout). */
export interface NativeLstmWeights {
  inputSize: number
  hiddenSize: number
  layers: { weightIh: Float32Array; weightHh: Float32Array; biasIh?: Float32Array; biasHh?: Float32Array }[]
  head?: { weight: Float32Array; bias?: Float32Array }
}

export type NativeCudnnAlgorithm = 'auto' | 'standard' | 'persist-static'

export interface NativeLstmModelInfo {
  inputSize: number
  hiddenSize: number
  numLayers: number
  outputSize: number
  hasHead: boolean
  threads: number
  simd: string
  weightBytes: number
}

export interface NativeLstmModel extends NativeHandle {
  /** Returns the floats written. */
  predict(x: Float32Array, steps: number, batch: number, batchFirst: boolean, sequence: boolean, out: Float32Array): number
  /** Resolves with `out`. */
  predictAsync(x: Float32Array, steps: number, batch: number, batchFirst: boolean, sequence: boolean, out: Float32Array): Promise<Float32Array>
  info(): NativeLstmModelInfo
}

export interface NativeCudaLstmModel extends NativeLstmModel {
  /** The device memory held, page-locked staging bytes, the cuDNN algorithm of the last call and the GPU's name. */
  info(): NativeLstmModelInfo & { deviceBytes: number; pinnedBytes: number; algorithm: string; device: string }
  setAlgorithm(algorithm: NativeCudnnAlgorithm): void
}

/** Keys a keyed native object interns itself: 64-bit ids or packed bytes. */
export type NativeKeyColumn = BigInt64Array | BigUint64Array | NativePackedKeys

/** NativeLstmState and NativeCudaLstmState (the key-space calls: keyed CPU states only). */
export interface NativeLstmState extends NativeSnapshotHandle {
  /** Returns the floats written. Keyed states: ids of live keys, or keys interned in the same call. */
  step(keys: Uint32Array | NativeKeyColumn, x: Float32Array, out: Float32Array): number
  /** Resolves with `out`. */
  stepAsync(keys: Uint32Array | NativeKeyColumn, x: Float32Array, out: Float32Array): Promise<Float32Array>
  reset(keys?: Uint32Array): void
  info(): { capacity: number; bytesPerKey: number; bytes: number; liveKeys?: number; expiredKeys?: number; keyBytes?: number; dictionaryBytes?: number }
  intern(keys: NativeKeyColumn, ids: Uint32Array): void
  undoIntern(): void
  /** Returns how many keys were freed. */
  expire(keys: Uint32Array | NativeKeyColumn): number
  keysOf(ids: Uint32Array): BigInt64Array | BigUint64Array | NativePackedKeys
  liveIds(): Uint32Array
}

/** The key-space calls: keyed CPU windows only. */
export interface NativeLstmWindows extends NativeHandle {
  /** Returns the distinct keys evaluated (their ids in outKeys). */
  push(keys: Uint32Array | NativeKeyColumn, x: Float32Array, outKeys: Uint32Array, out: Float32Array): number
  reset(): void
  info(): { capacity: number; steps: number; bytesPerKey: number; backend: 'cpu' | 'cuda'; liveKeys?: number; expiredKeys?: number; bytes?: number }
  intern(keys: NativeKeyColumn, ids: Uint32Array): void
  undoIntern(): void
  expire(keys: Uint32Array | NativeKeyColumn): number
  keysOf(ids: Uint32Array): BigInt64Array | BigUint64Array | NativePackedKeys
}

/** Adam's and the clipping's numbers by name (a missing one takes the core's default), and the loss. */
export type NativeLstmTrainerOptions = Partial<Record<'learningRate' | 'beta1' | 'beta2' | 'epsilon' | 'weightDecay' | 'clipNorm', number>> & {
  loss?: 'mse' | 'mae'
}

export interface NativeEpochResult {
  loss: number
  mae: number
  valLoss?: number
  valMae?: number
  examples: number
  batches: number
  aborted: boolean
}

export interface NativeLstmTrainer extends NativeHandle {
  trainEpoch(x: Float32Array, steps: number, examples: number, y: Float32Array, order: Uint32Array, batchSize: number, valBegin: number, valEnd: number): NativeEpochResult
  trainEpochAsync(x: Float32Array, steps: number, examples: number, y: Float32Array, order: Uint32Array, batchSize: number, valBegin: number, valEnd: number): Promise<NativeEpochResult>
  lossAndGradient(x: Float32Array, steps: number, examples: number, y: Float32Array): { loss: number; gradient: NativeLstmWeights }
  weights(): NativeLstmWeights
  saveBest(): void
  restoreBest(): void
  abort(): void
  info(): { threads: number; simd: string; parameters: number; bytes: number }
}

export interface NativePipelineOptions {
  /** Every result is written into one buffer the native object keeps (the Pipeline's reuseResults). */
  reuseResults: boolean
  /** Results carry the forecast, score and flagged columns (always with a forecaster; lib asks for them
   * with a detector, which writes them). */
  scoreColumns: boolean
  inputs: number
  keyCount: number
  /** A key space: 'string' | 'bigint' | 'bigint64' | 'bytes' (absent: dense ids), its maxKeys and keyTtl. */
  keys?: string
  maxKeys?: number
  keyTtl?: number
  channels: number
  size: number
  slide: number
  offset: number
  horizon: number
  bound: number
  idleTimeout: number
  labels: boolean
  maxFill: number
  /** Per channel, the features of a row: these, then one DDSketch quantile per `quantiles` entry. */
  aggregates: readonly string[]
  quantiles: readonly number[]
  accuracy: number
  distinctPrecision: number
  mode: 'none' | 'window' | 'state'
  steps: number
  changeTarget: boolean
  inputScaler?: { offset: Float64Array; scale: Float64Array }
  targetScaler?: { offset: Float64Array; scale: Float64Array }
  anomaly: boolean
  zWindow?: number
  zWarmup?: number
  zMinStd?: number
  zExcludeFlagged?: boolean
  zThreshold?: number
}

/** Counters of the last settled call (readable while an async pass runs). */
export interface NativePipelineMetrics {
  events: number
  windowedEvents: number
  lateEvents: number
  windowsFired: number
  filledRows: number
  flaggedRows: number
  batchesIn: number
  batchesOut: number
  busyMs: number
  latencySumMs: number
  latencyMaxMs: number
  latencyLastMs: number
  watermark: number
  /** Interned keys live now and freed so far (0 for dense ids). */
  liveKeys: number
  expiredKeys: number
  /** Keys the per-key state has room for now. */
  keyCapacity: number
  /** Native bytes held (capacities). */
  memoryBytes: number
}

/** Keys of a pipeline with a key space, as process() takes them: ids of live keys, 64-bit ids or packed bytes. */
export type NativePipelineKeys = Uint32Array | BigInt64Array | BigUint64Array | NativePackedKeys

/**
 * A pass returns the result batch's columns in one ArrayBuffer (native/core/pipeline's ResultLayout) and
 * writes its rows, late events and watermark into `status` (a Float64Array of 3). `modelOpen`: whether the
 * forecaster's model may be used. The async forms run the whole pass as one queued work item over copies of
 * the inputs; the object is busy (ERR_INVALID_STATE) until it settles.
 */
export interface NativePipeline extends NativeSnapshotHandle {
  snapshotDelta(): Uint8Array
  applyDelta(bytes: Uint8Array): { changed: Uint32Array; live: Uint32Array }
  process(input: number, timestamps: Float64Array, keys: NativePipelineKeys | undefined, values: Float64Array | Float32Array, labels: Uint8Array | Float64Array | undefined, now: number, modelOpen: boolean, status: Float64Array): ArrayBuffer
  processAsync(input: number, timestamps: Float64Array, keys: NativePipelineKeys | undefined, values: Float64Array | Float32Array, labels: Uint8Array | Float64Array | undefined, now: number, modelOpen: boolean, status: Float64Array): Promise<ArrayBuffer>
  advanceTo(watermark: number, modelOpen: boolean, status: Float64Array): ArrayBuffer
  advanceToAsync(watermark: number, modelOpen: boolean, status: Float64Array): Promise<ArrayBuffer>
  finish(modelOpen: boolean, status: Float64Array): ArrayBuffer
  finishAsync(modelOpen: boolean, status: Float64Array): Promise<ArrayBuffer>
  metrics(): NativePipelineMetrics
  /** Key space only: ids of keys (new ones added, all or nothing). */
  intern(keys: BigInt64Array | BigUint64Array | NativePackedKeys, ids: Uint32Array): void
  /** Forgets the last intern()'s new keys unless a batch used them; whether it did. */
  undoIntern(): boolean
  expire(keys: NativePipelineKeys): number
  /** Ids freed by the last process / advanceTo / finish (keyTtl) or expire(). */
  expired(): Uint32Array
  keysOf(ids: Uint32Array): BigInt64Array | BigUint64Array | NativePackedKeys
  /** held[i] = 1 when key i is live (adds nothing). */
  held(keys: BigInt64Array | BigUint64Array | NativePackedKeys, held: Uint8Array): void
  liveIds(): Uint32Array
}
