// Float64 references for training tests: the loss of an LSTM forecaster (lstmReference's head output at the
// last step against y), its gradient by central finite differences in float64, and one Adam step.
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { lstmReference } from './lstm_reference'

export type Loss = 'mse' | 'mae'

/** Mean loss of the head's last-step output against y [batch][O], all in float64. */
export function referenceLoss(weights: LstmWeights, x: ArrayLike<number>, y: ArrayLike<number>, steps: number, batch: number, loss: Loss = 'mse'): number {
  const out = lstmReference(weights, x, steps, batch).output
  let sum = 0
  for (let i = 0; i < out.length; i++) {
    const d = out[i]! - y[i]!
    sum += loss === 'mse' ? d * d : Math.abs(d)
  }
  return sum / out.length
}

/** Every trainable tensor of the weights, named as the state_dict does, in a fixed order. */
export function namedTensors(weights: LstmWeights): [string, Float32Array | Float64Array][] {
  const list: [string, Float32Array | Float64Array][] = []
  weights.layers.forEach((layer, l) => {
    list.push([`weight_ih_l${l}`, layer.weightIh], [`weight_hh_l${l}`, layer.weightHh], [`bias_ih_l${l}`, layer.biasIh!], [`bias_hh_l${l}`, layer.biasHh!])
  })
  list.push(['fc.weight', weights.head!.weight], ['fc.bias', weights.head!.bias!])
  return list
}

/** A float64 copy of the weights (so finite differences are not rounded to float32). */
export function float64Weights(weights: LstmWeights): LstmWeights {
  const f = (a: Float32Array | undefined) => (a === undefined ? undefined : Float64Array.from(a)) as unknown as Float32Array
  return {
    inputSize: weights.inputSize,
    hiddenSize: weights.hiddenSize,
    layers: weights.layers.map((l) => ({ weightIh: f(l.weightIh), weightHh: f(l.weightHh), biasIh: f(l.biasIh), biasHh: f(l.biasHh) })),
    head: { weight: f(weights.head!.weight), bias: f(weights.head!.bias) },
  }
}

/** The gradient of referenceLoss for every parameter by central differences (step h), in float64. */
export function finiteDifferenceGradient(weights: LstmWeights, x: ArrayLike<number>, y: ArrayLike<number>, steps: number, batch: number, loss: Loss = 'mse', h = 1e-6): Map<string, Float64Array> {
  const w64 = float64Weights(weights)
  const result = new Map<string, Float64Array>()
  for (const [name, tensor] of namedTensors(w64)) {
    const g = new Float64Array(tensor.length)
    for (let i = 0; i < tensor.length; i++) {
      const v = tensor[i]!
      tensor[i] = v + h
      const plus = referenceLoss(w64, x, y, steps, batch, loss)
      tensor[i] = v - h
      const minus = referenceLoss(w64, x, y, steps, batch, loss)
      tensor[i] = v
      g[i] = (plus - minus) / (2 * h)
    }
    result.set(name, g)
  }
  return result
}

/** ‖a − b‖ / ‖b‖ (the norm-wise relative error of a against the reference b); ‖a − b‖ when b is all zeros. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`)
  let diff = 0, norm = 0
  for (let i = 0; i < a.length; i++) {
    diff += (a[i]! - b[i]!) ** 2
    norm += b[i]! ** 2
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff) / Math.sqrt(norm)
}
