// Training for LstmModel (fit / fitAsync): validation of the data and options, PyTorch's default
// initialisation for LstmModel.create, the epoch loop (shuffling, validation split, early stopping,
// progress, abort). The arithmetic (BPTT, Adam, clipping) runs in native code (native/core/lstm_training).
import type { NativeEpochResult, NativeLstmModel, NativeLstmTrainer, NativeLstmTrainerOptions } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { mulberry32 } from '../runtime/random'
import { expectFinite, expectInteger, expectOneOf, expectTypedArray } from '../runtime/validate'
import type { LstmWeights } from './lstm_weights'

export interface LstmCreateOptions {
  inputSize: number
  hiddenSize: number
  /** Stacked LSTM layers. Default 1. */
  layers?: number
  /** Outputs of the linear head. Default 1. */
  outputSize?: number
  /** Seed of the initial weights. Default 0. */
  seed?: number
}

export interface LstmEpochProgress {
  /** 1-based. */
  epoch: number
  /** Mean training loss of the epoch (each mini-batch's loss before its update), and its MAE. */
  loss: number
  mae: number
  /** On the validation examples after the epoch (only with validationSplit > 0). */
  valLoss?: number
  valMae?: number
  /** Training examples per second of the epoch's wall-clock time (its validation pass included). */
  examplesPerSecond: number
}

export interface LstmFitOptions {
  /** Passes over the training examples. Default 10. */
  epochs?: number
  /** Examples per Adam step. Default 32. */
  batchSize?: number
  /** Adam's step size. Default 1e-3. */
  learningRate?: number
  /** Adam's moment decay rates and epsilon. Defaults 0.9, 0.999, 1e-8 (PyTorch's). */
  beta1?: number
  beta2?: number
  epsilon?: number
  /** L2 penalty added to the gradient, as torch.optim.Adam's weight_decay. Default 0. */
  weightDecay?: number
  /** Rescale the gradient to this global L2 norm when larger (torch.nn.utils.clip_grad_norm_). Default: none. */
  clipNorm?: number
  /** Training loss: mean squared error (default) or mean absolute error. */
  loss?: 'mse' | 'mae'
  /** Shuffle the training examples every epoch. Default true. */
  shuffle?: boolean
  /** Seed of the shuffling. Default 0. Results are deterministic for a given seed and thread count. */
  seed?: number
  /** The last fraction of the examples (in their given order, not shuffled) held out for validation. Default 0. */
  validationSplit?: number
  /** Stop after this many epochs without improvement of the validation loss (the training loss without a
   * validation split). Default: never. */
  patience?: number
  /** Keep the weights of the best epoch at the end (default true when patience is set). */
  restoreBestWeights?: boolean
  /** Called after every epoch. */
  onEpoch?: (progress: LstmEpochProgress) => void
  /** fitAsync: stops before the next mini-batch; the promise rejects with the signal's reason and the
   * model keeps the weights it had before fitAsync. */
  signal?: AbortSignal
}

export interface LstmFitHistory {
  epochs: LstmEpochProgress[]
  /** 1-based epoch whose weights the model has (the last one unless restoreBestWeights restored another). */
  bestEpoch: number
  stoppedEarly: boolean
  /** The training kernels that ran ('avx512', 'avx2', 'neon', 'portable'; SLUICE_SIMD lowers the level). */
  simd: string
}


/**
 * PyTorch's default initialisation: every nn.LSTM weight and bias uniform in ±1/√hiddenSize; the nn.Linear
 * head's weight (kaiming-uniform with a = √5) and bias uniform in ±1/√fan_in = ±1/√hiddenSize.
 */
export function initialLstmWeights(options: LstmCreateOptions): LstmWeights {
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { inputSize, hiddenSize }', 'ERR_INVALID_TYPE')
  const I = expectInteger(options.inputSize, 'inputSize', 1, 65536)
  const H = expectInteger(options.hiddenSize, 'hiddenSize', 1, 65536)
  const L = expectInteger(options.layers ?? 1, 'layers', 1, 64)
  const O = expectInteger(options.outputSize ?? 1, 'outputSize', 1, 65536)
  const random = mulberry32(expectInteger(options.seed ?? 0, 'seed', 0, 0xffffffff))
  const bound = 1 / Math.sqrt(H)
  const uniform = (n: number) => {
    const a = new Float32Array(n)
    for (let i = 0; i < n; i++) a[i] = (2 * random() - 1) * bound
    return a
  }
  const layers = Array.from({ length: L }, (_, l) => ({
    weightIh: uniform(4 * H * (l === 0 ? I : H)),
    weightHh: uniform(4 * H * H),
    biasIh: uniform(4 * H),
    biasHh: uniform(4 * H),
  }))
  return { inputSize: I, hiddenSize: H, layers, head: { weight: uniform(O * H), bias: uniform(O) } }
}

export interface TrainingData {
  x: Float32Array
  y: Float32Array
  steps: number
  examples: number
}

/** Checks shapes and values of (x, y) for a model of this shape; ERR_* before anything changes. */
export function checkTrainingData(x: unknown, y: unknown, inputSize: number, outputSize: number): TrainingData {
  const xs = expectTypedArray(x, 'x', Float32Array)
  const ys = expectTypedArray(y, 'y', Float32Array)
  if (ys.length === 0 || xs.length === 0) throw new SluiceError('the dataset is empty', 'ERR_INVALID_ARGUMENT')
  if (ys.length % outputSize !== 0) {
    throw new SluiceError(`y.length (${ys.length}) must be examples·outputSize (outputSize ${outputSize})`, 'ERR_INVALID_LENGTH')
  }
  const examples = ys.length / outputSize
  const steps = xs.length / (examples * inputSize)
  if (!Number.isInteger(steps) || steps < 1) {
    throw new SluiceError(`x.length (${xs.length}) must be steps·examples·inputSize with examples = ${examples} (from y) and inputSize ${inputSize}`, 'ERR_INVALID_LENGTH')
  }
  for (let i = 0; i < xs.length; i++) {
    if (!Number.isFinite(xs[i]!)) {
      const t = Math.floor(i / (examples * inputSize)), e = Math.floor(i / inputSize) % examples
      throw new SluiceError(`x[${i}] (step ${t}, example ${e}, input ${i % inputSize}) is ${xs[i]}; windows(…, { nan: 'forward-fill' }) fills gaps`, 'ERR_INVALID_ARGUMENT')
    }
  }
  for (let i = 0; i < ys.length; i++) {
    if (!Number.isFinite(ys[i]!)) {
      throw new SluiceError(`y[${i}] (example ${Math.floor(i / outputSize)}, output ${i % outputSize}) is ${ys[i]}`, 'ERR_INVALID_ARGUMENT')
    }
  }
  return { x: xs, y: ys, steps, examples }
}

interface FitPlan {
  data: TrainingData
  epochs: number
  batchSize: number
  shuffle: boolean
  seed: number
  trainExamples: number
  patience: number | undefined
  restoreBest: boolean
  onEpoch: ((progress: LstmEpochProgress) => void) | undefined
  trainerOptions: NativeLstmTrainerOptions
}

function optionalPositive(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined
  const v = expectFinite(value, name)
  if (v <= 0) throw new SluiceError(`${name} must be positive, got ${v}`, 'ERR_INVALID_ARGUMENT')
  return v
}

function planFit(x: unknown, y: unknown, inputSize: number, outputSize: number, options: LstmFitOptions): FitPlan {
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
  const epochs = expectInteger(options.epochs ?? 10, 'epochs', 1)
  const batchSize = expectInteger(options.batchSize ?? 32, 'batchSize', 1)
  const learningRate = optionalPositive(options.learningRate, 'learningRate')
  const epsilon = optionalPositive(options.epsilon, 'epsilon')
  const clipNorm = optionalPositive(options.clipNorm, 'clipNorm')
  for (const name of ['beta1', 'beta2'] as const) {
    const v = options[name]
    if (v !== undefined && !(expectFinite(v, name) >= 0 && v < 1)) throw new SluiceError(`${name} must be in [0, 1), got ${v}`, 'ERR_INVALID_ARGUMENT')
  }
  const weightDecay = options.weightDecay === undefined ? undefined : expectFinite(options.weightDecay, 'weightDecay')
  if (weightDecay !== undefined && weightDecay < 0) throw new SluiceError(`weightDecay must be ≥ 0, got ${weightDecay}`, 'ERR_INVALID_ARGUMENT')
  const loss = expectOneOf(options.loss ?? 'mse', 'loss', ['mse', 'mae'] as const)
  const split = expectFinite(options.validationSplit ?? 0, 'validationSplit')
  if (!(split >= 0 && split < 1)) throw new SluiceError(`validationSplit must be in [0, 1), got ${split}`, 'ERR_INVALID_ARGUMENT')
  const patience = options.patience === undefined ? undefined : expectInteger(options.patience, 'patience', 1)
  if (options.onEpoch !== undefined && typeof options.onEpoch !== 'function') throw new SluiceError('onEpoch must be a function', 'ERR_INVALID_TYPE')
  const seed = expectInteger(options.seed ?? 0, 'seed', 0, 0xffffffff)
  const data = checkTrainingData(x, y, inputSize, outputSize)
  const validation = Math.floor(data.examples * split)
  const trainExamples = data.examples - validation
  if (trainExamples < 1) throw new SluiceError('no training examples are left after the validation split', 'ERR_INVALID_ARGUMENT')
  if (split > 0 && validation < 1) throw new SluiceError(`validationSplit ${split} of ${data.examples} examples holds out none`, 'ERR_INVALID_ARGUMENT')
  return {
    data, epochs, batchSize, seed, trainExamples, patience,
    shuffle: options.shuffle !== false,
    restoreBest: options.restoreBestWeights ?? patience !== undefined,
    onEpoch: options.onEpoch,
    trainerOptions: { learningRate, beta1: options.beta1, beta2: options.beta2, epsilon, weightDecay, clipNorm, loss },
  }
}

interface EpochRequest {
  order: Uint32Array
}

/** The epoch loop, written once for fit and fitAsync: yields each epoch's order, receives its result. */
function* fitLoop(plan: FitPlan, trainer: NativeLstmTrainer): Generator<EpochRequest, LstmFitHistory, NativeEpochResult> {
  const order = Uint32Array.from({ length: plan.trainExamples }, (_, i) => i)
  const random = mulberry32(plan.seed)
  const history: LstmFitHistory = { epochs: [], bestEpoch: 0, stoppedEarly: false, simd: trainer.info().simd }
  let best = Infinity, waited = 0
  for (let epoch = 1; epoch <= plan.epochs; epoch++) {
    if (plan.shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        const t = order[i]!
        order[i] = order[j]!
        order[j] = t
      }
    }
    const started = performance.now()
    const result = yield { order }
    const seconds = (performance.now() - started) / 1000
    if (!Number.isFinite(result.loss) || (result.valLoss !== undefined && !Number.isFinite(result.valLoss))) {
      throw new SluiceError(`training diverged in epoch ${epoch} (loss ${result.loss}); the model keeps its weights — lower learningRate or set clipNorm`, 'ERR_INVALID_STATE')
    }
    const progress: LstmEpochProgress = {
      epoch, loss: result.loss, mae: result.mae, examplesPerSecond: plan.trainExamples / Math.max(seconds, 1e-9),
    }
    if (result.valLoss !== undefined) {
      progress.valLoss = result.valLoss
      progress.valMae = result.valMae
    }
    history.epochs.push(progress)
    const monitored = progress.valLoss ?? progress.loss
    if (monitored < best) {
      best = monitored
      waited = 0
      history.bestEpoch = epoch
      if (plan.restoreBest) trainer.saveBest()
    } else {
      waited++
    }
    plan.onEpoch?.(progress)
    if (plan.patience !== undefined && waited >= plan.patience && epoch < plan.epochs) {
      history.stoppedEarly = true
      break
    }
  }
  if (plan.restoreBest && history.bestEpoch > 0) trainer.restoreBest()
  else history.bestEpoch = history.epochs.length
  return history
}

function newTrainer(nativeModel: NativeLstmModel, threads: number, options: NativeLstmTrainerOptions): NativeLstmTrainer {
  return new (native().NativeLstmTrainer)(nativeModel, threads, options)
}

function epochArgs(plan: FitPlan, request: EpochRequest) {
  const { x, y, steps, examples } = plan.data
  return [x, steps, examples, y, request.order, plan.batchSize, plan.trainExamples, examples] as const
}

/** @internal LstmModel.fit: trains a copy of the native model's weights; returns the new weights. */
export function fitNative(nativeModel: NativeLstmModel, threads: number, inputSize: number, outputSize: number, x: unknown, y: unknown, options: LstmFitOptions): { weights: LstmWeights; history: LstmFitHistory } {
  const plan = planFit(x, y, inputSize, outputSize, options)
  const trainer = newTrainer(nativeModel, threads, plan.trainerOptions)
  try {
    const loop = fitLoop(plan, trainer)
    let step = loop.next()
    while (!step.done) step = loop.next(trainer.trainEpoch(...epochArgs(plan, step.value)))
    return { weights: trainer.weights(), history: step.value }
  } finally {
    trainer.close()
  }
}

/** @internal LstmModel.fitAsync: every epoch on a native worker thread. */
export async function fitNativeAsync(nativeModel: NativeLstmModel, threads: number, inputSize: number, outputSize: number, x: unknown, y: unknown, options: LstmFitOptions): Promise<{ weights: LstmWeights; history: LstmFitHistory }> {
  const plan = planFit(x, y, inputSize, outputSize, options)
  const signal = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new SluiceError('signal must be an AbortSignal', 'ERR_INVALID_TYPE')
  signal?.throwIfAborted()
  const trainer = newTrainer(nativeModel, threads, plan.trainerOptions)
  const onAbort = () => trainer.abort()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    const loop = fitLoop(plan, trainer)
    let step = loop.next()
    while (!step.done) {
      const result = await trainer.trainEpochAsync(...epochArgs(plan, step.value))
      if (result.aborted || signal?.aborted) signal!.throwIfAborted()
      step = loop.next(result)
    }
    return { weights: trainer.weights(), history: step.value }
  } finally {
    signal?.removeEventListener('abort', onAbort)
    trainer.close()
  }
}

/** @internal tests: the mean loss over all of (x, y) as one batch and its gradient, for the native model's weights. */
export function lossAndGradient(nativeModel: NativeLstmModel, x: Float32Array, y: Float32Array, inputSize: number, outputSize: number, loss: 'mse' | 'mae' = 'mse', threads = 1): { loss: number; gradient: LstmWeights } {
  expectOneOf(loss, 'loss', ['mse', 'mae'] as const)
  const data = checkTrainingData(x, y, inputSize, outputSize)
  const trainer = newTrainer(nativeModel, threads, { loss })
  try {
    return trainer.lossAndGradient(data.x, data.steps, data.examples, data.y)
  } finally {
    trainer.close()
  }
}
