// The in-memory form of an LSTM's parameters, shared by LstmModel.fromWeights and the file loaders
// (safetensors, ONNX). PyTorch's layout and gate order (i, f, g, o), which is also cuDNN's.
import { SluiceError } from '../runtime/errors'
import { expectInteger, expectTypedArray } from '../runtime/validate'

const MAX_SIZE = 65536

/** One layer: the four gates' rows stacked in the order i, f, g, o. */
export interface LstmLayerWeights {
  /** [4·hiddenSize][layer input size] (inputSize for layer 0, hiddenSize above). */
  weightIh: Float32Array
  /** [4·hiddenSize][hiddenSize] */
  weightHh: Float32Array
  /** [4·hiddenSize]; zeros when absent. */
  biasIh?: Float32Array
  /** [4·hiddenSize]; zeros when absent. */
  biasHh?: Float32Array
}

/** An optional linear head on the last layer's hidden state: y = weight · h + bias. */
export interface LinearHeadWeights {
  /** [outputSize][hiddenSize] */
  weight: Float32Array
  /** [outputSize]; zeros when absent. */
  bias?: Float32Array
}

export interface LstmWeights {
  inputSize: number
  hiddenSize: number
  /** Bottom layer first. */
  layers: LstmLayerWeights[]
  head?: LinearHeadWeights
}

/**
 * The one check of an LstmWeights object: structure, sizes and every length, naming the first wrong one
 * (ERR_INVALID_TYPE / ERR_OUT_OF_RANGE / ERR_INVALID_LENGTH / ERR_INVALID_ARGUMENT). With `finite`, also
 * every value (ERR_INVALID_ARGUMENT naming the weight and index; the native engine checks that itself).
 * Returns the head's output size, 0 without a head.
 */
export function checkLstmWeights(weights: LstmWeights, options: { finite?: boolean } = {}): number {
  if (typeof weights !== 'object' || weights === null) throw new SluiceError('weights must be an LstmWeights object', 'ERR_INVALID_TYPE')
  const I = expectInteger(weights.inputSize, 'inputSize', 1, MAX_SIZE)
  const H = expectInteger(weights.hiddenSize, 'hiddenSize', 1, MAX_SIZE)
  if (!Array.isArray(weights.layers)) throw new SluiceError('layers must be an array', 'ERR_INVALID_TYPE')
  if (weights.layers.length < 1 || weights.layers.length > 64) {
    throw new SluiceError(`an LSTM needs 1 to 64 layers, got ${weights.layers.length}`, 'ERR_INVALID_ARGUMENT')
  }
  const check = (value: unknown, name: string, length: number, shape: string, optional = false) => {
    if (optional && value === undefined) return
    const array = expectTypedArray(value, name, Float32Array)
    if (array.length !== length) {
      throw new SluiceError(`${name} must have ${shape} = ${length} floats, got ${array.length}`, 'ERR_INVALID_LENGTH')
    }
    if (options.finite) expectAllFinite(array, name)
  }
  weights.layers.forEach((layer, l) => {
    const name = `layers[${l}].`
    if (typeof layer !== 'object' || layer === null) throw new SluiceError(`layers[${l}] must be an object`, 'ERR_INVALID_TYPE')
    const inputs = l === 0 ? I : H
    check(layer.weightIh, `${name}weightIh`, 4 * H * inputs, `4·hiddenSize·${l === 0 ? 'inputSize' : 'hiddenSize'}`)
    check(layer.weightHh, `${name}weightHh`, 4 * H * H, '4·hiddenSize·hiddenSize')
    check(layer.biasIh, `${name}biasIh`, 4 * H, '4·hiddenSize', true)
    check(layer.biasHh, `${name}biasHh`, 4 * H, '4·hiddenSize', true)
  })
  if (weights.head === undefined || weights.head === null) return 0
  {
    if (typeof weights.head !== 'object') throw new SluiceError('head must be an object { weight, bias? }', 'ERR_INVALID_TYPE')
    const w = expectTypedArray(weights.head.weight, 'head.weight', Float32Array)
    const O = w.length / H
    if (!Number.isInteger(O) || O < 1 || O > MAX_SIZE) {
      throw new SluiceError(`head.weight must have outputSize·hiddenSize floats (a positive multiple of ${H}), got ${w.length}`, 'ERR_INVALID_LENGTH')
    }
    check(w, 'head.weight', O * H, 'outputSize·hiddenSize')
    check(weights.head.bias, 'head.bias', O, 'outputSize', true)
    return O
  }
}

/** ERR_INVALID_ARGUMENT naming the first NaN or ±Infinity in `values`. */
export function expectAllFinite(values: Float32Array, what: string): void {
  // Fast pass: v·0 is 0 for finite v and NaN for NaN or ±Infinity, so the sum stays 0 unless one is bad.
  let probe = 0
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0
  if (probe === 0) return
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new SluiceError(`${what} holds ${values[i]} at element ${i}; weights must be finite`, 'ERR_INVALID_ARGUMENT')
    }
  }
}
