// LstmModel.create / fit / fitAsync / weights / toSafetensors: PyTorch's initialisation, Adam's update
// against a TS computation from the native gradient, learning a sine wave, determinism, early stopping,
// abort, the safetensors round trip with scalers, and bad input (SluiceError before anything changes).
import { describe, expect, it } from 'vitest'
import { LstmModel, readSafetensors, readSafetensorsMetadata, Scaler, windows, type LstmFitOptions } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { expectSluiceError } from '../helpers'
import { lstmReference, randomArray, rng } from '../support/lstm_reference'
import { namedTensors } from '../support/lstm_training_reference'

function sineWindows(points: number, steps: number) {
  const series = Float32Array.from({ length: points }, (_, i) => Math.sin(i * 0.1))
  return windows(series, { channels: 1, steps })
}

function flat(weights: LstmWeights): number[] {
  return namedTensors(weights).flatMap(([, t]) => Array.from(t))
}

/** Validation MSE from predict (the inference engine), independent of the trainer's own bookkeeping. */
function mseOf(model: LstmModel, x: Float32Array, y: Float32Array, steps: number, begin: number, end: number): number {
  const batch = y.length / model.outputSize
  const out = model.predict(x, { steps, batch })
  let sum = 0
  for (let i = begin * model.outputSize; i < end * model.outputSize; i++) sum += (out[i]! - y[i]!) ** 2
  return sum / ((end - begin) * model.outputSize)
}

describe('LstmModel.create', () => {
  it("uses PyTorch's default bounds (±1/√H) for every weight and bias, seeded", () => {
    const model = LstmModel.create({ inputSize: 3, hiddenSize: 16, layers: 2, outputSize: 2, seed: 5 })
    const w = model.weights()
    expect(w.layers).toHaveLength(2)
    expect(w.layers[1]!.weightIh).toHaveLength(4 * 16 * 16)
    expect(w.head!.weight).toHaveLength(2 * 16)
    const values = flat(w)
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(0.25)
    // Spread over the whole interval (uniform): the largest magnitudes come close to the bound.
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.24)
    expect(flat(LstmModel.create({ inputSize: 3, hiddenSize: 16, layers: 2, outputSize: 2, seed: 5 }).weights())).toEqual(values)
    expect(flat(LstmModel.create({ inputSize: 3, hiddenSize: 16, layers: 2, outputSize: 2, seed: 6 }).weights())).not.toEqual(values)
  })

  it('weights() reads back exactly what the model was built from (odd sizes, several layers)', () => {
    const random = rng(3)
    const weights: LstmWeights = {
      inputSize: 5, hiddenSize: 37,
      layers: [0, 1].map((l) => ({ weightIh: randomArray(random, 4 * 37 * (l ? 37 : 5)), weightHh: randomArray(random, 4 * 37 * 37), biasIh: randomArray(random, 4 * 37), biasHh: randomArray(random, 4 * 37) })),
      head: { weight: randomArray(random, 3 * 37), bias: randomArray(random, 3) },
    }
    expect(LstmModel.fromWeights(weights).weights()).toEqual(weights)
    const noBias = { inputSize: 2, hiddenSize: 3, layers: [{ weightIh: randomArray(random, 24), weightHh: randomArray(random, 36) }] }
    const back = LstmModel.fromWeights(noBias).weights()
    expect(back.layers[0]!.biasIh).toEqual(new Float32Array(12))
    expect(back.head).toBeUndefined()
  })
})

describe('fit', () => {
  it('one full-batch step is Adam\'s first step from the native gradient (lr·g/(|g|+ε)), with weight decay and clipping', () => {
    const random = rng(11)
    const model = LstmModel.create({ inputSize: 2, hiddenSize: 4, layers: 2, outputSize: 1, seed: 2, threads: 1 })
    const x = randomArray(random, 3 * 5 * 2), y = randomArray(random, 5)
    const before = flat(model.weights())
    const gradient = flat(model.lossAndGradient(x, y).gradient)
    const lr = 0.01, wd = 0.1, clip = 0.05
    let g = gradient.map((v, i) => v + wd * before[i]!)
    const norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0))
    expect(norm).toBeGreaterThan(clip) // so clipping is exercised
    g = g.map((v) => v * clip / (norm + 1e-6))
    model.fit(x, y, { epochs: 1, batchSize: 5, learningRate: lr, weightDecay: wd, clipNorm: clip, shuffle: false })
    const after = flat(model.weights())
    // m̂ = g, v̂ = g² after one step (bias-corrected): Δ = −lr·g/(|g| + ε).
    const expected = before.map((p, i) => p - lr * g[i]! / (Math.abs(g[i]!) + 1e-8))
    for (let i = 0; i < after.length; i++) expect(after[i]).toBeCloseTo(expected[i]!, 6)
  })

  it('three full-batch steps follow Adam (PyTorch\'s form, bias-corrected) computed in float64 from the native gradients', () => {
    const random = rng(12)
    const model = LstmModel.create({ inputSize: 2, hiddenSize: 5, outputSize: 2, seed: 4, threads: 1 })
    const x = randomArray(random, 4 * 6 * 2), y = randomArray(random, 6 * 2)
    const lr = 0.05, b1 = 0.8, b2 = 0.95, eps = 1e-3
    const shape = model.weights()
    let params = flat(shape)
    const m = new Float64Array(params.length), v = new Float64Array(params.length)
    for (let step = 1; step <= 3; step++) {
      // The gradient at the current (float32) parameters, from a model holding exactly them.
      let k = 0
      const current: LstmWeights = JSON.parse(JSON.stringify({ inputSize: 2, hiddenSize: 5 }))
      const take = (n: number) => Float32Array.from(params.slice(k, (k += n)))
      current.layers = [{ weightIh: take(40), weightHh: take(100), biasIh: take(20), biasHh: take(20) }]
      current.head = { weight: take(10), bias: take(2) }
      const g = flat(LstmModel.fromWeights(current, { threads: 1 }).lossAndGradient(x, y).gradient)
      params = params.map((p, i) => {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2
        const mHat = m[i]! / (1 - b1 ** step), vHat = v[i]! / (1 - b2 ** step)
        return Math.fround(p - lr * mHat / (Math.sqrt(vHat) + eps))
      })
    }
    model.fit(x, y, { epochs: 3, batchSize: 6, learningRate: lr, beta1: b1, beta2: b2, epsilon: eps, shuffle: false })
    const after = flat(model.weights())
    for (let i = 0; i < after.length; i++) expect(Math.abs(after[i]! - params[i]!)).toBeLessThanOrEqual(2e-6)
  })

  it('learns a noiseless sine wave to a validation MSE below 1e-3 (checked with predict)', () => {
    const data = sineWindows(1200, 16)
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 24, seed: 1, threads: 2 })
    const history = model.fit(data.x, data.y, { epochs: 15, batchSize: 32, learningRate: 0.01, validationSplit: 0.2, seed: 4 })
    const last = history.epochs.at(-1)!
    expect(last.valLoss).toBeLessThan(1e-3)
    const firstValidation = data.batch - Math.floor(data.batch * 0.2)
    // The trained weights are the predicting weights: predict gives the trainer's validation loss.
    expect(mseOf(model, data.x, data.y, data.steps, firstValidation, data.batch)).toBeCloseTo(last.valLoss!, 6)
    expect(history.epochs[0]!.loss).toBeGreaterThan(last.loss)
    for (const p of history.epochs) expect(p.examplesPerSecond).toBeGreaterThan(0)
  })

  it('is deterministic for a seed and thread count; another seed shuffles differently', () => {
    const data = sineWindows(300, 8)
    const run = (seed: number) => {
      const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 2 })
      model.fit(data.x, data.y, { epochs: 2, batchSize: 20, seed })
      return flat(model.weights())
    }
    expect(run(1)).toEqual(run(1))
    expect(run(1)).not.toEqual(run(2))
  })

  it('stops early and restores the best weights', () => {
    const data = sineWindows(400, 8)
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 1 })
    // A learning rate far too large makes the validation loss worse after the first epochs.
    const seen: number[] = []
    const history = model.fit(data.x, data.y, { epochs: 40, batchSize: 8, learningRate: 0.3, validationSplit: 0.25, patience: 2, onEpoch: (p) => seen.push(p.valLoss!) })
    expect(history.epochs.map((e) => e.valLoss)).toEqual(seen)
    const best = Math.min(...seen)
    expect(history.epochs[history.bestEpoch - 1]!.valLoss).toBe(best)
    if (history.stoppedEarly) expect(history.epochs.length).toBe(history.bestEpoch + 2)
    const firstValidation = data.batch - Math.floor(data.batch * 0.25)
    expect(mseOf(model, data.x, data.y, data.steps, firstValidation, data.batch)).toBeCloseTo(best, 6)
  })

  it('patience stops a run that no longer improves', () => {
    const data = sineWindows(200, 4)
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 4, seed: 1, threads: 1 })
    const history = model.fit(data.x, data.y, { epochs: 50, batchSize: 4, learningRate: 1.0, validationSplit: 0.3, patience: 1 })
    expect(history.stoppedEarly).toBe(true)
    expect(history.epochs.length).toBeLessThan(50)
  })

  it('fitAsync gives what fit gives and keeps the event loop free', async () => {
    const data = sineWindows(300, 8)
    const options: LstmFitOptions = { epochs: 3, batchSize: 16, seed: 3, validationSplit: 0.1 }
    const a = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 2 })
    const b = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 2 })
    const syncHistory = a.fit(data.x, data.y, options)
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    const asyncHistory = await b.fitAsync(data.x, data.y, options)
    clearInterval(timer)
    expect(flat(b.weights())).toEqual(flat(a.weights()))
    expect(asyncHistory.epochs.map((e) => [e.loss, e.valLoss])).toEqual(syncHistory.epochs.map((e) => [e.loss, e.valLoss]))
    expect(ticks).toBeGreaterThan(0)
  })

  it('fitAsync trains on copies of data in resizable buffers', async () => {
    const data = sineWindows(200, 8)
    const resizable = (a: Float32Array) => {
      const copy = new Float32Array(new (ArrayBuffer as any)(a.byteLength, { maxByteLength: a.byteLength * 2 }))
      copy.set(a)
      return copy
    }
    const a = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 1 })
    const b = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 1 })
    a.fit(data.x, data.y, { epochs: 2 })
    await b.fitAsync(resizable(data.x), resizable(data.y), { epochs: 2 })
    expect(flat(b.weights())).toEqual(flat(a.weights()))
  })

  it('an AbortSignal stops fitAsync; the model keeps its weights', async () => {
    const data = sineWindows(2000, 16)
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 16, seed: 1, threads: 1 })
    const before = flat(model.weights())
    const controller = new AbortController()
    const epochs: number[] = []
    const promise = model.fitAsync(data.x, data.y, { epochs: 1000, batchSize: 8, signal: controller.signal, onEpoch: (p) => { epochs.push(p.epoch); if (p.epoch === 1) controller.abort() } })
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' })
    expect(epochs).toEqual([1])
    expect(flat(model.weights())).toEqual(before)
    // Aborted while an epoch runs on the worker: stops before its next mini-batch.
    const during = new AbortController()
    const long = model.fitAsync(data.x, data.y, { epochs: 1000, batchSize: 1, signal: during.signal })
    setTimeout(() => during.abort(), 20)
    await expect(long).rejects.toMatchObject({ name: 'AbortError' })
    expect(flat(model.weights())).toEqual(before)
    const pre = new AbortController()
    pre.abort()
    await expect(model.fitAsync(data.x, data.y, { signal: pre.signal })).rejects.toMatchObject({ name: 'AbortError' })
  })
})

describe('bad input: SluiceError before anything changes', () => {
  const model = LstmModel.create({ inputSize: 2, hiddenSize: 4, outputSize: 1, seed: 1 })
  const before = flat(model.weights())
  const x = randomArray(rng(1), 3 * 4 * 2), y = randomArray(rng(2), 4)

  it('mismatched x / y shapes', () => {
    expectSluiceError(() => model.fit(x.subarray(1), y), 'ERR_INVALID_LENGTH', /x\.length/)
    expectSluiceError(() => model.fit(x, randomArray(rng(3), 5)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => model.fit(new Float64Array(24) as never, y), 'ERR_INVALID_TYPE')
  })
  it('NaN in the data names the first bad index', () => {
    const bad = x.slice()
    bad[13] = NaN
    bad[20] = Infinity
    expectSluiceError(() => model.fit(bad, y), 'ERR_INVALID_ARGUMENT', /x\[13\] \(step 1, example 2, input 1\) is NaN/)
    const badY = y.slice()
    badY[2] = NaN
    expectSluiceError(() => model.fit(x, badY), 'ERR_INVALID_ARGUMENT', /y\[2\]/)
  })
  it('a learning rate ≤ 0 and other bad options', () => {
    expectSluiceError(() => model.fit(x, y, { learningRate: 0 }), 'ERR_INVALID_ARGUMENT', /learningRate/)
    expectSluiceError(() => model.fit(x, y, { learningRate: -1 }), 'ERR_INVALID_ARGUMENT', /learningRate/)
    expectSluiceError(() => model.fit(x, y, { learningRate: NaN }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => model.fit(x, y, { beta1: 1 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => model.fit(x, y, { batchSize: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.fit(x, y, { epochs: 1.5 }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => model.fit(x, y, { validationSplit: 1 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => model.fit(x, y, { validationSplit: 0.1 }), 'ERR_INVALID_ARGUMENT', /holds out none/)
    expectSluiceError(() => model.fit(x, y, { loss: 'huber' as never }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => model.fit(x, y, { clipNorm: -1 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => model.fit(x, y, { weightDecay: -1 }), 'ERR_INVALID_ARGUMENT')
  })
  it('an empty dataset', () => {
    expectSluiceError(() => model.fit(new Float32Array(0), new Float32Array(0)), 'ERR_INVALID_ARGUMENT', /empty/)
  })
  it('a model without a head cannot train', () => {
    const headless = LstmModel.fromWeights({ inputSize: 2, hiddenSize: 3, layers: [{ weightIh: new Float32Array(24), weightHh: new Float32Array(36) }] })
    expectSluiceError(() => headless.fit(x, randomArray(rng(4), 12)), 'ERR_INVALID_ARGUMENT', /head/)
  })
  it('fitAsync rejects the same way; the model is unchanged and still trains', async () => {
    await expect(model.fitAsync(x, y, { learningRate: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    expect(flat(model.weights())).toEqual(before)
    model.fit(x, y, { epochs: 1 })
    expect(flat(model.weights())).not.toEqual(before)
  })
  it('a diverging run stops with ERR_INVALID_STATE and the model keeps its weights', () => {
    const data = sineWindows(200, 8)
    const diverging = LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 3, threads: 1 })
    const weights = flat(diverging.weights())
    const scaled = data.y.map((v) => v * 100)
    expectSluiceError(() => diverging.fit(data.x, scaled, { epochs: 3, learningRate: 1e38 }), 'ERR_INVALID_STATE', /diverged in epoch 1/)
    expect(flat(diverging.weights())).toEqual(weights)
  })
  it('a closed model', () => {
    const closed = LstmModel.create({ inputSize: 1, hiddenSize: 2 })
    closed.close()
    expectSluiceError(() => closed.fit(new Float32Array(2), new Float32Array(1)), 'ERR_INVALID_STATE')
    expectSluiceError(() => closed.weights(), 'ERR_INVALID_STATE')
  })
  it('closing the model while fitAsync runs rejects it with ERR_INVALID_STATE', async () => {
    const data = sineWindows(300, 8)
    const closing = LstmModel.create({ inputSize: 1, hiddenSize: 4, threads: 1 })
    const running = closing.fitAsync(data.x, data.y, { epochs: 2 })
    closing.close()
    await expect(running).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' })
  })
})

describe('toSafetensors / fromSafetensors', () => {
  it('round-trips trained weights (PyTorch names) and the scalers, predicting identically', () => {
    const series = Float32Array.from({ length: 300 }, (_, i) => 10 + 5 * Math.sin(i * 0.2))
    const scaler = Scaler.fit('zscore', series, { channels: 1, rows: 200 })
    const data = windows(scaler.transform(series) as Float32Array, { channels: 1, steps: 6 })
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 6, layers: 2, seed: 9, threads: 1 })
    model.fit(data.x, data.y, { epochs: 2, batchSize: 16 })
    model.scalers = { input: scaler, target: scaler }
    const bytes = model.toSafetensors({ metadata: { note: 'sine' } })
    expect([...readSafetensors(bytes).keys()].sort()).toEqual(['fc.bias', 'fc.weight', 'lstm.bias_hh_l0', 'lstm.bias_hh_l1', 'lstm.bias_ih_l0', 'lstm.bias_ih_l1', 'lstm.weight_hh_l0', 'lstm.weight_hh_l1', 'lstm.weight_ih_l0', 'lstm.weight_ih_l1'])
    expect(readSafetensorsMetadata(bytes).note).toBe('sine')
    const loaded = LstmModel.fromSafetensors(bytes)
    expect(loaded.weights()).toEqual(model.weights())
    expect(loaded.scalers.input!.toJSON()).toEqual(scaler.toJSON())
    expect(loaded.scalers.target!.toJSON()).toEqual(scaler.toJSON())
    expect(loaded.predict(data.x, { steps: 6, batch: data.batch })).toEqual(model.predict(data.x, { steps: 6, batch: data.batch }))
    // And against the float64 reference of the exported weights.
    const reference = lstmReference(loaded.weights(), data.x, 6, data.batch).output
    const out = loaded.predict(data.x, { steps: 6, batch: data.batch })
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(reference[i]!, 5)
  })
})
