// A plain float64 LSTM (PyTorch's equations and gate order i, f, g, o), the reference that sluice's LSTM
// engine and the model loaders are tested against. Deliberately naive: one loop per formula.
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { mulberry32 } from '../../lib/runtime/random'

export interface LstmReferenceResult {
  /** The last step's output, [batch][outputSize] after the head, or [batch][hiddenSize] without one. */
  output: Float64Array
  /** The top layer's hidden state at every step, [steps][batch][hiddenSize]. */
  sequence: Float64Array
  /** The head applied at every step, [steps][batch][outputSize] (= sequence without a head). */
  sequenceOutput: Float64Array
  /** Final states, [layers][batch][hiddenSize]. */
  hidden: Float64Array
  cell: Float64Array
}

export interface LstmReferenceState {
  /** Initial hidden and cell states, [layers][batch][hiddenSize]; zeros when absent. */
  hidden?: ArrayLike<number>
  cell?: ArrayLike<number>
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v))

/**
 * Runs the LSTM over `x`, laid out [steps][batch][inputSize] (sequence-major, as ONNX's X):
 *   i = σ(W_ii x + b_ii + W_hi h + b_hi)   f = σ(W_if x + b_if + W_hf h + b_hf)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
 *   c' = f·c + i·g                          h' = o·tanh(c')
 * and the head y = W h + b on the top layer's h.
 */
export function lstmReference(weights: LstmWeights, x: ArrayLike<number>, steps: number, batch: number, state: LstmReferenceState = {}): LstmReferenceResult {
  const { inputSize: I, hiddenSize: H, layers, head } = weights
  const L = layers.length
  if (x.length !== steps * batch * I) throw new Error(`x has ${x.length} values, expected ${steps}·${batch}·${I}`)
  const hidden = Float64Array.from(state.hidden ?? new Float64Array(L * batch * H))
  const cell = Float64Array.from(state.cell ?? new Float64Array(L * batch * H))
  const O = head ? head.weight.length / H : H
  const sequence = new Float64Array(steps * batch * H)
  const sequenceOutput = new Float64Array(steps * batch * O)
  const gates = new Float64Array(4 * H)
  for (let t = 0; t < steps; t++) {
    for (let n = 0; n < batch; n++) {
      let input: ArrayLike<number> = Array.from({ length: I }, (_, k) => x[(t * batch + n) * I + k]!)
      for (let l = 0; l < L; l++) {
        const layer = layers[l]!
        const inSize = l === 0 ? I : H
        const h = hidden.subarray((l * batch + n) * H, (l * batch + n + 1) * H)
        const c = cell.subarray((l * batch + n) * H, (l * batch + n + 1) * H)
        for (let row = 0; row < 4 * H; row++) {
          let sum = (layer.biasIh?.[row] ?? 0) + (layer.biasHh?.[row] ?? 0)
          for (let k = 0; k < inSize; k++) sum += layer.weightIh[row * inSize + k]! * input[k]!
          for (let k = 0; k < H; k++) sum += layer.weightHh[row * H + k]! * h[k]!
          gates[row] = sum
        }
        for (let j = 0; j < H; j++) {
          const i = sigmoid(gates[j]!)
          const f = sigmoid(gates[H + j]!)
          const g = Math.tanh(gates[2 * H + j]!)
          const o = sigmoid(gates[3 * H + j]!)
          c[j] = f * c[j]! + i * g
          h[j] = o * Math.tanh(c[j]!)
        }
        input = Array.from(h)
      }
      sequence.set(input, (t * batch + n) * H)
      sequenceOutput.set(applyHead(weights, input), (t * batch + n) * O)
    }
  }
  const output = sequenceOutput.slice((steps - 1) * batch * O, steps * batch * O)
  return { output, sequence, sequenceOutput, hidden, cell }
}

function applyHead(weights: LstmWeights, h: ArrayLike<number>): ArrayLike<number> {
  const { head, hiddenSize: H } = weights
  if (!head) return h
  const O = head.weight.length / H
  const y = new Float64Array(O)
  for (let o = 0; o < O; o++) {
    let sum = head.bias?.[o] ?? 0
    for (let k = 0; k < H; k++) sum += head.weight[o * H + k]! * h[k]!
    y[o] = sum
  }
  return y
}

/** The head (or top hidden state) at every step, [steps][batch][outputSize]: lstmReference's sequenceOutput. */
export function referenceLstm(weights: LstmWeights, x: ArrayLike<number>, steps: number, batch: number): Float64Array {
  return lstmReference(weights, x, steps, batch).sequenceOutput
}

/** The largest |a[i] − b[i]| (Infinity when either holds NaN where the other does not match). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let worst = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d
  }
  return worst
}

/** Deterministic test data; failing cases replay from their seed. */
export const rng = mulberry32
export const seededRandom = mulberry32

/** n values uniform in ±scale. */
export function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = (random() * 2 - 1) * scale
  return a
}

/** A model shape and the steps × batch of its input: one case of a randomized comparison test. */
export interface LstmCase {
  layers: number
  inputSize: number
  hiddenSize: number
  /** Head outputs; 0: no head. */
  outputSize: number
  steps: number
  batch: number
}

export interface RandomLstmShape {
  layers: number
  inputSize: number
  hiddenSize: number
  /** Head outputs; 0 or absent: no head. */
  outputSize?: number
  /** Weights are uniform in ±scale (default 1/sqrt(hiddenSize), PyTorch's init). */
  scale?: number
  /** false: no biases anywhere (nn.LSTM(bias=False), nn.Linear(bias=False)). Default true. */
  bias?: boolean
}

/** Random LstmWeights, drawn layer by layer (weightIh, weightHh, biasIh, biasHh), then the head (weight, bias). */
export function randomLstmWeights(random: () => number, shape: RandomLstmShape): LstmWeights {
  const { inputSize, hiddenSize: H, layers, outputSize, bias = true } = shape
  const scale = shape.scale ?? 1 / Math.sqrt(H)
  const weights: LstmWeights = {
    inputSize,
    hiddenSize: H,
    layers: Array.from({ length: layers }, (_, k) => ({
      weightIh: randomArray(random, 4 * H * (k === 0 ? inputSize : H), scale),
      weightHh: randomArray(random, 4 * H * H, scale),
      ...(bias ? { biasIh: randomArray(random, 4 * H, scale), biasHh: randomArray(random, 4 * H, scale) } : {}),
    })),
  }
  if (outputSize) weights.head = { weight: randomArray(random, outputSize * H, scale), ...(bias ? { bias: randomArray(random, outputSize, scale) } : {}) }
  return weights
}

/** Random weights from a generator seeded with `seed`, and that generator for the test's other draws. */
export function seededLstmWeights(seed: number, shape: RandomLstmShape): { random: () => number; weights: LstmWeights } {
  const random = rng(seed)
  return { random, weights: randomLstmWeights(random, shape) }
}
