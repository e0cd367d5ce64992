// Random LSTM weights and a naive float64 LSTM (PyTorch semantics) for tests: the reference for small cases.
import type { LstmWeights } from '../../lib/lstm_weights'

/** A small deterministic PRNG (mulberry32) so failing cases can be replayed from their seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = (random() * 2 - 1) * scale
  return a
}

export interface RandomLstmShape {
  layers: number
  inputSize: number
  hiddenSize: number
  /** Head outputs; 0 or absent: no head. */
  outputSize?: number
  /** Weights are uniform in ±scale (default 1/sqrt(hiddenSize), PyTorch's init). */
  scale?: number
}

export function randomLstmWeights(random: () => number, shape: RandomLstmShape): LstmWeights {
  const H = shape.hiddenSize
  const scale = shape.scale ?? 1 / Math.sqrt(H)
  const weights: LstmWeights = {
    inputSize: shape.inputSize,
    hiddenSize: H,
    layers: Array.from({ length: shape.layers }, (_, l) => ({
      weightIh: randomArray(random, 4 * H * (l === 0 ? shape.inputSize : H), scale),
      weightHh: randomArray(random, 4 * H * H, scale),
      biasIh: randomArray(random, 4 * H, scale),
      biasHh: randomArray(random, 4 * H, scale),
    })),
  }
  if (shape.outputSize) weights.head = { weight: randomArray(random, shape.outputSize * H, scale), bias: randomArray(random, shape.outputSize, scale) }
  return weights
}

/**
 * The naive float64 forward pass: x [steps][batch][I] → per step and sequence the head output (or top h).
 * Returns [steps][batch][O] as a Float64Array.
 */
export function referenceLstm(weights: LstmWeights, x: Float32Array, steps: number, batch: number): Float64Array {
  const H = weights.hiddenSize
  const L = weights.layers.length
  const O = weights.head ? weights.head.weight.length / H : H
  const out = new Float64Array(steps * batch * O)
  const sig = (v: number) => 1 / (1 + Math.exp(-v))
  for (let b = 0; b < batch; b++) {
    const h = Array.from({ length: L }, () => new Float64Array(H))
    const c = Array.from({ length: L }, () => new Float64Array(H))
    for (let t = 0; t < steps; t++) {
      let input: Float64Array = Float64Array.from(x.subarray((t * batch + b) * weights.inputSize, (t * batch + b + 1) * weights.inputSize))
      for (let l = 0; l < L; l++) {
        const layer = weights.layers[l]!
        const n = input.length
        const gates = new Float64Array(4 * H)
        for (let r = 0; r < 4 * H; r++) {
          let acc = (layer.biasIh?.[r] ?? 0) + (layer.biasHh?.[r] ?? 0)
          for (let k = 0; k < n; k++) acc += layer.weightIh[r * n + k]! * input[k]!
          for (let k = 0; k < H; k++) acc += layer.weightHh[r * H + k]! * h[l]![k]!
          gates[r] = acc
        }
        for (let u = 0; u < H; u++) {
          const i = sig(gates[u]!), f = sig(gates[H + u]!), g = Math.tanh(gates[2 * H + u]!), o = sig(gates[3 * H + u]!)
          c[l]![u] = f * c[l]![u]! + i * g
          h[l]![u] = o * Math.tanh(c[l]![u]!)
        }
        input = h[l]!
      }
      const row = out.subarray((t * batch + b) * O, (t * batch + b + 1) * O)
      if (weights.head) {
        for (let o = 0; o < O; o++) {
          let acc = weights.head.bias?.[o] ?? 0
          for (let k = 0; k < H; k++) acc += weights.head.weight[o * H + k]! * input[k]!
          row[o] = acc
        }
      } else row.set(input)
    }
  }
  return out
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let worst = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d
  }
  return worst
}
