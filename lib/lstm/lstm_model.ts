// LstmModel: stacked unidirectional LSTM (+ optional linear head) inference on the CPU or, with cuDNN, an NVIDIA GPU; PyTorch semantics.
// Validation happens here, before any native call; the native core checks every length again.
import type { NativeCudaLstmModel, NativeLstmModel } from '../runtime/addon_types'
import { backends } from '../runtime/backends'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { expectInteger, expectOptions, expectTypedArray, outputArray } from '../runtime/validate'
import { lstmWeightsFromOnnx, lstmWeightsFromSafetensors, lstmWeightsToSafetensors, type LstmSafetensorsOptions, type LstmSafetensorsWriteOptions } from './formats/lstm_loaders'
import { readKerasModel, type KerasOptions } from './formats/keras'
import { readSafetensorsMetadata } from './formats/safetensors'
import { expectKeyKind, type KeyKind } from '../keys/key_column'
import { LstmState } from './lstm_state'
import { checkLstmWeights, type LstmWeights } from './lstm_weights'
import { LstmWindows, type LstmWindowsOptions } from './lstm_windows'
import { Scaler } from './scalers'
import { fitNative, fitNativeAsync, initialLstmWeights, lossAndGradient, type LstmCreateOptions, type LstmFitHistory, type LstmFitOptions } from './training'

/** Feature scalers kept with a model and saved in its safetensors __metadata__ ('sluice.scalers'). */
export interface LstmModelScalers {
  /** Scales the inputs (x) the model was trained on. */
  input?: Scaler
  /** Scales the targets (y); its inverse maps predictions back to the original units. */
  target?: Scaler
}
const SCALERS_KEY = 'sluice.scalers'

export type LstmBackend = 'auto' | 'cpu' | 'cuda'
export type CudnnAlgorithm = 'auto' | 'standard' | 'persist-static'

export interface LstmModelOptions {
  /** Threads that split the batch (the caller's thread included). Default: the machine's hardware threads. CPU only. */
  threads?: number
  /**
   * Where to compute: 'cpu', 'cuda' (ERR_NOT_SUPPORTED naming backends().cuda.reason where CUDA is unusable), or
   * 'auto' (default): CUDA when available, else the CPU; `model.backend` and `model.backendReason` say which and why.
   */
  backend?: LstmBackend
  /** CUDA only: cuDNN's RNN algorithm; 'auto' (default) picks per shape. */
  cudnnAlgorithm?: CudnnAlgorithm
}

export interface LstmPredictOptions {
  /** Time steps per sequence. */
  steps: number
  /** Sequences. */
  batch: number
  /** x is [batch][steps][inputSize] (and a sequence output [batch][steps][outputSize]); default [steps][batch][…]. */
  batchFirst?: boolean
  /** Return every step's output, not only the last step's. */
  sequence?: boolean
}

export interface LstmStateOptions {
  /**
   * Dense ids: keys 0 … capacity − 1, allocated up front (capacity · bytesPerKey). With `keys`: the starting
   * capacity (default 64), doubling as keys arrive.
   */
  capacity?: number
  /**
   * How steps carry keys (docs/keys.md): 'dense' Uint32Array ids (default), or keys interned natively:
   * 'string' (string[]), 'bigint' / 'bigint64' (BigUint64Array or BigInt64Array), 'bytes' ({ bytes, offsets }).
   * CPU models only (a CUDA state takes dense ids: ERR_NOT_SUPPORTED).
   */
  keys?: KeyKind
  /** With `keys`: the most live keys (a step bringing new keys beyond is ERR_OUT_OF_RANGE, nothing changed). Default 2^28. */
  maxKeys?: number
}

function copyWeights(w: LstmWeights): LstmWeights {
  const copy: LstmWeights = {
    inputSize: w.inputSize,
    hiddenSize: w.hiddenSize,
    layers: w.layers.map((l) => ({
      weightIh: l.weightIh.slice(),
      weightHh: l.weightHh.slice(),
      ...(l.biasIh ? { biasIh: l.biasIh.slice() } : {}),
      ...(l.biasHh ? { biasHh: l.biasHh.slice() } : {}),
    })),
  }
  if (w.head) copy.head = { weight: w.head.weight.slice(), ...(w.head.bias ? { bias: w.head.bias.slice() } : {}) }
  return copy
}

/** Whether a native model is the CUDA binding's (it alone has setAlgorithm). */
function isCudaModel(model: NativeLstmModel): model is NativeCudaLstmModel {
  return 'setAlgorithm' in model
}

/**
 * A stacked unidirectional LSTM with an optional linear head, float32, PyTorch semantics and weight layout
 * (gates i, f, g, o). Sequences start from zero state. Close it with close() to free its memory now.
 */
export class LstmModel extends NativeObject<NativeLstmModel> {
  readonly inputSize: number
  readonly hiddenSize: number
  readonly numLayers: number
  /** Floats per output row: the head's outputs, or hiddenSize without a head. */
  readonly outputSize: number
  readonly hasHead: boolean
  readonly threads: number
  /** The SIMD kernels in use ('avx512', 'avx2', 'neon', 'portable'), or 'cuda'. */
  readonly simd: string
  /** Where this model computes. */
  readonly backend: 'cpu' | 'cuda'
  /** Why an 'auto' model runs on the CPU (backends().cuda.reason or the GPU's refusal); null otherwise. */
  readonly backendReason: string | null
  /** Feature scalers saved with the model by toSafetensors and read back by fromSafetensors. */
  scalers: LstmModelScalers = {}
  /**
   * The sequence length the model was built for (a Keras model whose input shape fixes its steps): predict and
   * createWindows refuse other lengths. null: any length.
   */
  get inputSteps(): number | null {
    return this.#inputSteps
  }
  #inputSteps: number | null = null
  /** CUDA models only: a host copy of the weights (weights(), training on the CPU) and how to rebuild. */
  #cuda: { weights: LstmWeights; algorithm: CudnnAlgorithm | undefined; threads: number | undefined } | undefined

  private constructor(nativeModel: NativeLstmModel, backend: 'cpu' | 'cuda' = 'cpu', backendReason: string | null = null) {
    super()
    this.attach(nativeModel)
    this.backend = backend
    this.backendReason = backendReason
    const info = nativeModel.info()
    this.inputSize = info.inputSize
    this.hiddenSize = info.hiddenSize
    this.numLayers = info.numLayers
    this.outputSize = info.outputSize
    this.hasHead = info.hasHead
    this.threads = info.threads
    this.simd = info.simd
  }

  /** Validates and packs the weights (NaN/Infinity → ERR_INVALID_ARGUMENT naming the weight). */
  static fromWeights(weights: LstmWeights, options: LstmModelOptions = {}): LstmModel {
    expectOptions(options)
    checkLstmWeights(weights)
    const threads = options.threads === undefined ? undefined : expectInteger(options.threads, 'threads', 1, 1024)
    const backend = options.backend ?? 'auto'
    if (backend !== 'auto' && backend !== 'cpu' && backend !== 'cuda') {
      throw new SluiceError(`backend must be 'auto', 'cpu' or 'cuda', got ${String(backend)}`, 'ERR_INVALID_ARGUMENT')
    }
    const algorithm = options.cudnnAlgorithm
    if (algorithm !== undefined && algorithm !== 'auto' && algorithm !== 'standard' && algorithm !== 'persist-static') {
      throw new SluiceError(`cudnnAlgorithm must be 'auto', 'standard' or 'persist-static', got ${String(algorithm)}`, 'ERR_INVALID_ARGUMENT')
    }
    let reason: string | null = null
    if (backend !== 'cpu') {
      const cuda = backends().cuda
      if (cuda.available) {
        try {
          const model = new LstmModel(new (native().NativeCudaLstmModel)(weights, algorithm), 'cuda')
          model.#cuda = { weights: copyWeights(weights), algorithm, threads }
          return model
        } catch (error) {
          // The GPU refused (cuDNN, memory): 'auto' keeps the CPU path; bad weights fail on either backend.
          const code = error instanceof SluiceError ? error.code : undefined
          if (backend === 'cuda' || (code !== 'ERR_NOT_SUPPORTED' && code !== 'ERR_OUT_OF_MEMORY' && code !== 'ERR_INVALID_STATE')) throw error
          reason = (error as Error).message
        }
      } else {
        reason = cuda.reason ?? 'CUDA is unavailable'
        if (backend === 'cuda') throw new SluiceError(`backend 'cuda' is unavailable: ${reason}`, 'ERR_NOT_SUPPORTED')
      }
    }
    return new LstmModel(new (native().NativeLstmModel)(weights, threads), 'cpu', reason)
  }

  /** Loads a PyTorch `state_dict` saved with safetensors (see lstmWeightsFromSafetensors for the options),
   * with the scalers toSafetensors saved in its metadata. */
  static fromSafetensors(pathOrBytes: string | Uint8Array, options: LstmSafetensorsOptions & LstmModelOptions = {}): LstmModel {
    expectOptions(options)
    const model = LstmModel.fromWeights(lstmWeightsFromSafetensors(pathOrBytes, options), options)
    const saved = readSafetensorsMetadata(pathOrBytes)[SCALERS_KEY]
    if (saved !== undefined) {
      let json: { input?: unknown; target?: unknown }
      try {
        json = JSON.parse(saved)
      } catch {
        model.close()
        throw new SluiceError(`safetensors: metadata '${SCALERS_KEY}' is not JSON`, 'ERR_MALFORMED_DATA')
      }
      try {
        if (json.input !== undefined) model.scalers.input = Scaler.fromJSON(json.input as never)
        if (json.target !== undefined) model.scalers.target = Scaler.fromJSON(json.target as never)
      } catch (error) {
        model.close()
        throw error
      }
    }
    return model
  }

  // ---- training (lib/training.ts, native/core/lstm_training) ----

  /** A new model with a linear head and PyTorch's default initialisation (uniform ±1/√hiddenSize), seeded. */
  static create(options: LstmCreateOptions & LstmModelOptions): LstmModel {
    return LstmModel.fromWeights(initialLstmWeights(options), options)
  }

  /** The current weights in PyTorch's layout (copies). */
  weights(): LstmWeights {
    const model = this.native()
    if (this.#cuda) return copyWeights(this.#cuda.weights)
    return native().lstmModelWeights(model)
  }

  /**
   * Trains the model (it needs a head) to forecast y [examples][outputSize] from the head's output at the last
   * step of x [steps][examples][inputSize]: truncated BPTT over the windows, Adam, mini-batches (see
   * LstmFitOptions). Bad data or options throw SluiceError before anything changes. Afterwards the model
   * predicts with the trained weights. Blocks the event loop: see fitAsync.
   */
  fit(x: Float32Array, y: Float32Array, options: LstmFitOptions = {}): LstmFitHistory {
    const cpu = this.#cpuNative()
    try {
      const { weights, history } = fitNative(cpu.model, cpu.threads, this.inputSize, this.outputSize, x, y, options)
      this.#replaceWeights(weights)
      return history
    } finally {
      cpu.release()
    }
  }

  /** fit() with every epoch on a native worker thread; options.signal aborts it (the weights stay as before). */
  async fitAsync(x: Float32Array, y: Float32Array, options: LstmFitOptions = {}): Promise<LstmFitHistory> {
    const cpu = this.#cpuNative()
    try {
      const { weights, history } = await fitNativeAsync(cpu.model, cpu.threads, this.inputSize, this.outputSize, x, y, options)
      this.#replaceWeights(weights)
      return history
    } finally {
      cpu.release()
    }
  }

  /** The mean loss over all of (x, y) as one batch and its gradient for every weight (PyTorch layout, as
   * weights()), without changing the model: for gradient checks and custom optimisers. */
  lossAndGradient(x: Float32Array, y: Float32Array, options: { loss?: 'mse' | 'mae' } = {}): { loss: number; gradient: LstmWeights } {
    const cpu = this.#cpuNative()
    try {
      return lossAndGradient(cpu.model, x, y, this.inputSize, this.outputSize, options.loss ?? 'mse', cpu.threads)
    } finally {
      cpu.release()
    }
  }

  /** @internal The CPU engine's native model, for native passes that run the LSTM kernels themselves (the
   * Pipeline): this model's own, or (CUDA) a CPU copy of its weights, which `release` frees. */
  cpuNativeModel(): { model: NativeLstmModel; release(): void } {
    return this.#cpuNative()
  }

  /** The CPU engine's native model for training: this model's own, or (CUDA: training runs on the CPU) a
   * temporary CPU copy of its weights. */
  #cpuNative(): { model: NativeLstmModel; threads: number; release(): void } {
    const current = this.native()
    if (!this.#cuda) return { model: current, threads: this.threads, release: () => {} }
    const model = new (native().NativeLstmModel)(this.#cuda.weights, this.#cuda.threads)
    return { model, threads: model.info().threads, release: () => model.close() }
  }

  /** The weights as a PyTorch state_dict in safetensors (`lstm.weight_ih_l0`…, `fc.weight`), with the scalers in __metadata__. */
  toSafetensors(options: LstmSafetensorsWriteOptions = {}): Uint8Array {
    expectOptions(options)
    const metadata = { ...options.metadata }
    if (this.scalers.input !== undefined || this.scalers.target !== undefined) {
      metadata[SCALERS_KEY] = JSON.stringify({ input: this.scalers.input?.toJSON(), target: this.scalers.target?.toJSON() })
    }
    return lstmWeightsToSafetensors(this.weights(), { ...options, metadata })
  }

  #replaceWeights(weights: LstmWeights): void {
    const current = this.native()
    if (this.#cuda) {
      // A CUDA model stays on the GPU: the trained weights are uploaded into a new native model.
      this.attach(new (native().NativeCudaLstmModel)(weights, this.#cuda.algorithm))
      this.#cuda.weights = copyWeights(weights)
    } else {
      this.attach(new (native().NativeLstmModel)(weights, this.threads))
    }
    current.close()
  }

  /** Loads an ONNX graph of LSTM nodes with an optional Gemm or MatMul+Add head (see lstmWeightsFromOnnx). */
  static fromOnnx(pathOrBytes: string | Uint8Array, options: LstmModelOptions = {}): LstmModel {
    expectOptions(options)
    return LstmModel.fromWeights(lstmWeightsFromOnnx(pathOrBytes), options)
  }

  /**
   * Loads a Keras model: a `.keras` file (Keras 3), an `.h5` file from `model.save` (Keras 2), or a weights-only
   * `.h5` / `.weights.h5` with `options.config` (see readKerasModel for the layers accepted). A model whose
   * input shape fixes the steps keeps them as `inputSteps`. When the top LSTM returns sequences, Keras' output
   * is predict's with `sequence: true`.
   */
  static fromKeras(pathOrBytes: string | Uint8Array, options: KerasOptions & LstmModelOptions = {}): LstmModel {
    const keras = readKerasModel(pathOrBytes, options)
    const model = LstmModel.fromWeights(keras.weights, options)
    model.#inputSteps = keras.inputSteps
    return model
  }

  /** Floats that predict writes for these options. */
  outputLength(options: LstmPredictOptions): number {
    const { steps, batch, sequence } = this.#shape(options)
    return (sequence ? steps * batch : batch) * this.outputSize
  }

  /**
   * Runs `batch` sequences of `steps` steps. x: [steps][batch][inputSize] (batchFirst: [batch][steps][inputSize]).
   * Returns [batch][outputSize] (the last step's head output, or last hidden state), or with `sequence`
   * [steps][batch][outputSize] ([batch][steps][outputSize] with batchFirst); written into `out` when given
   * (a view of exactly that length comes back).
   */
  predict(x: Float32Array, options: LstmPredictOptions, out?: Float32Array): Float32Array {
    const model = this.native()
    const { steps, batch, batchFirst, sequence, result } = this.#prepare(x, options, out)
    model.predict(x, steps, batch, batchFirst, sequence, result)
    return result
  }

  /**
   * predict() on a native worker thread; the event loop stays free. x is copied at the call; the result is
   * copied into out when the work ends, and the promise rejects with ERR_INVALID_STATE if out was detached
   * (transferred) or shrunk meanwhile.
   */
  predictAsync(x: Float32Array, options: LstmPredictOptions, out?: Float32Array): Promise<Float32Array> {
    try {
      const model = this.native()
      const { steps, batch, batchFirst, sequence, result } = this.#prepare(x, options, out)
      return model.predictAsync(x, steps, batch, batchFirst, sequence, result)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * CUDA models: device memory held, page-locked staging bytes, the cuDNN algorithm of the last call
   * ('standard' | 'persist-static'; 'auto' before any) and the GPU's name. null on the CPU.
   */
  cudaInfo(): { deviceBytes: number; pinnedBytes: number; algorithm: string; device: string } | null {
    if (this.backend !== 'cuda') return null
    const model = this.native()
    if (!isCudaModel(model)) return null // not reached: a 'cuda' model holds the CUDA binding's model
    const info = model.info()
    return { deviceBytes: info.deviceBytes, pinnedBytes: info.pinnedBytes, algorithm: info.algorithm, device: info.device }
  }

  /** A per-key state table for streaming (see LstmState). */
  createState(options: LstmStateOptions): LstmState {
    const model = this.native()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { capacity }', 'ERR_INVALID_TYPE')
    const kind = expectKeyKind(options.keys ?? 'dense')
    const addon = native()
    if (kind === 'dense') {
      const capacity = expectInteger(options.capacity, 'capacity', 1, 0xffffffff)
      const NativeState = this.backend === 'cuda' ? addon.NativeCudaLstmState : addon.NativeLstmState
      return new LstmState(new NativeState(model, capacity), this.inputSize, this.outputSize)
    }
    if (this.backend === 'cuda') throw new SluiceError("a CUDA LstmState takes dense ids only (no `keys` option)", 'ERR_NOT_SUPPORTED')
    const maxKeys = options.maxKeys === undefined ? undefined : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    const capacity = expectInteger(options.capacity ?? Math.min(64, maxKeys ?? 64), 'capacity', 1, 2 ** 28)
    const handle = new addon.NativeLstmState(model, capacity, { keys: kind, ...(maxKeys !== undefined ? { maxKeys } : {}) })
    return new LstmState(handle, this.inputSize, this.outputSize, kind)
  }

  /**
   * Keyed count windows of `steps` rows feeding this model (see LstmWindows); on a CUDA model they live in
   * device memory and each push copies its batch to the GPU once.
   */
  createWindows(options: LstmWindowsOptions): LstmWindows {
    const model = this.native()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { capacity, steps }', 'ERR_INVALID_TYPE')
    const kind = expectKeyKind(options.keys ?? 'dense')
    if (kind === 'dense') {
      const capacity = expectInteger(options.capacity, 'capacity', 1, 0xffffffff)
      const steps = this.#expectSteps(expectInteger(options.steps, 'steps', 1, 65536))
      return new LstmWindows(new (native().NativeLstmWindows)(model, capacity, steps), this.inputSize, this.outputSize)
    }
    if (this.backend === 'cuda') throw new SluiceError("CUDA LstmWindows take dense ids only (no `keys` option)", 'ERR_NOT_SUPPORTED')
    const maxKeys = options.maxKeys === undefined ? undefined : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    const capacity = expectInteger(options.capacity ?? Math.min(64, maxKeys ?? 64), 'capacity', 1, 2 ** 28)
    const steps = this.#expectSteps(expectInteger(options.steps, 'steps', 1, 65536))
    const handle = new (native().NativeLstmWindows)(model, capacity, steps, { keys: kind, ...(maxKeys !== undefined ? { maxKeys } : {}) })
    return new LstmWindows(handle, this.inputSize, this.outputSize, kind)
  }

  #shape(options: LstmPredictOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { steps, batch }', 'ERR_INVALID_TYPE')
    const steps = this.#expectSteps(expectInteger(options.steps, 'steps', 1))
    const batch = expectInteger(options.batch, 'batch', 1)
    return { steps, batch, batchFirst: options.batchFirst === true, sequence: options.sequence === true }
  }

  #expectSteps(steps: number): number {
    if (this.#inputSteps !== null && steps !== this.#inputSteps) {
      throw new SluiceError(`steps is ${steps} but this model was built for sequences of ${this.#inputSteps} steps (its input shape is [batch, ${this.#inputSteps}, ${this.inputSize}])`, 'ERR_INVALID_ARGUMENT')
    }
    return steps
  }

  #prepare(x: Float32Array, options: LstmPredictOptions, out: Float32Array | undefined) {
    expectTypedArray(x, 'x', Float32Array)
    const shape = this.#shape(options)
    const expected = shape.steps * shape.batch * this.inputSize
    if (x.length !== expected) {
      throw new SluiceError(`x.length (${x.length}) must be steps·batch·inputSize = ${shape.steps}·${shape.batch}·${this.inputSize} = ${expected}`, 'ERR_INVALID_LENGTH')
    }
    const length = (shape.sequence ? shape.steps * shape.batch : shape.batch) * this.outputSize
    const array = outputArray(out, Float32Array, length)
    return { ...shape, result: array.length === length ? array : array.subarray(0, length) }
  }
}
