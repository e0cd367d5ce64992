// The native backward pass (BPTT through every layer and the head) against central finite differences of a
// float64 reference loss (test/support/lstm_training_reference.ts), for every parameter, both losses, several
// shapes, more than one thread, and every SIMD level (child processes with SLUICE_SIMD).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LstmModel, backends } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { runNode, runnableSimdLevels } from '../helpers'
import { randomArray, randomLstmWeights, rng, type LstmCase } from '../support/lstm_reference'
import { finiteDifferenceGradient, namedTensors, referenceLoss, relativeError, type Loss } from '../support/lstm_training_reference'

interface Case extends LstmCase {
  name: string
  loss: Loss
  threads: number
}

const cases: Case[] = [
  { name: '1 layer, H 5', layers: 1, inputSize: 3, hiddenSize: 5, outputSize: 1, steps: 4, batch: 3, loss: 'mse', threads: 1 },
  { name: '2 layers, H 7, 2 outputs', layers: 2, inputSize: 2, hiddenSize: 7, outputSize: 2, steps: 5, batch: 4, loss: 'mse', threads: 1 },
  { name: '2 layers, H 17 (vector tails), MAE', layers: 2, inputSize: 4, hiddenSize: 17, outputSize: 3, steps: 3, batch: 3, loss: 'mae', threads: 1 },
  { name: '3 layers, one step', layers: 3, inputSize: 2, hiddenSize: 4, outputSize: 1, steps: 1, batch: 3, loss: 'mse', threads: 1 },
  { name: '1 layer, batch 20 on 2 threads', layers: 1, inputSize: 2, hiddenSize: 6, outputSize: 1, steps: 4, batch: 20, loss: 'mse', threads: 2 },
  { name: 'batch 70 on 1 thread (blocks of 32 rows)', layers: 2, inputSize: 1, hiddenSize: 3, outputSize: 1, steps: 3, batch: 70, loss: 'mse', threads: 1 },
]

function makeCase(c: Case, seed: number) {
  const random = rng(seed)
  const weights = randomLstmWeights(random, { layers: c.layers, inputSize: c.inputSize, hiddenSize: c.hiddenSize, outputSize: c.outputSize, scale: 0.5 })
  const x = randomArray(random, c.steps * c.batch * c.inputSize, 1.5)
  const y = randomArray(random, c.batch * c.outputSize, 1)
  return { weights, x, y }
}

function checkGradient(gradient: LstmWeights, reference: Map<string, Float64Array>) {
  for (const [name, g] of namedTensors(gradient)) {
    const expected = reference.get(name)!
    expect(relativeError(g, expected), name).toBeLessThanOrEqual(1e-3)
  }
}

describe('lossAndGradient against float64 finite differences', () => {
  cases.forEach((c, k) => {
    it(`${c.name} (${c.loss})`, () => {
      const { weights, x, y } = makeCase(c, 100 + k)
      const model = LstmModel.fromWeights(weights, { threads: c.threads })
      const { loss, gradient } = model.lossAndGradient(x, y, { loss: c.loss })
      expect(Math.abs(loss - referenceLoss(weights, x, y, c.steps, c.batch, c.loss))).toBeLessThanOrEqual(1e-5 * Math.max(1, loss))
      checkGradient(gradient, finiteDifferenceGradient(weights, x, y, c.steps, c.batch, c.loss))
      // lossAndGradient changes nothing.
      expect(model.weights()).toEqual(weights)
      model.close()
    })
  })

  it('the gradient does not depend on the thread count beyond float rounding', () => {
    const c = cases[4]!
    const { weights, x, y } = makeCase(c, 7)
    const one = LstmModel.fromWeights(weights, { threads: 1 }).lossAndGradient(x, y).gradient
    const two = LstmModel.fromWeights(weights, { threads: 2 }).lossAndGradient(x, y).gradient
    for (const [[name, a], [, b]] of namedTensors(one).map((e, i) => [e, namedTensors(two)[i]!] as const)) {
      expect(relativeError(a, b), name).toBeLessThanOrEqual(1e-5)
    }
  })
})

describe('every SIMD level (SLUICE_SIMD in a child process)', () => {
  const c = cases[2]!
  const { weights, x, y } = makeCase(c, 200)
  const reference = finiteDifferenceGradient(weights, x, y, c.steps, c.batch, c.loss)
  const dataFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-training-')), 'case.json')
  const plain = (a: Float32Array | undefined) => Array.from(a!)
  fs.writeFileSync(dataFile, JSON.stringify({
    x: Array.from(x), y: Array.from(y), inputSize: weights.inputSize, hiddenSize: weights.hiddenSize,
    layers: weights.layers.map((l) => ({ weightIh: plain(l.weightIh), weightHh: plain(l.weightHh), biasIh: plain(l.biasIh), biasHh: plain(l.biasHh) })),
    head: { weight: plain(weights.head!.weight), bias: plain(weights.head!.bias) },
  }))
  const child = `
    const { LstmModel } = require('./dist')
    const w = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(dataFile)}, 'utf8'))
    const f = (a) => Float32Array.from(a)
    const weights = { inputSize: w.inputSize, hiddenSize: w.hiddenSize, head: { weight: f(w.head.weight), bias: f(w.head.bias) },
      layers: w.layers.map((l) => ({ weightIh: f(l.weightIh), weightHh: f(l.weightHh), biasIh: f(l.biasIh), biasHh: f(l.biasHh) })) }
    const model = LstmModel.fromWeights(weights, { threads: 1 })
    const { loss, gradient } = model.lossAndGradient(f(w.x), f(w.y), { loss: '${c.loss}' })
    const g = (a) => Array.from(a)
    const trained = LstmModel.fromWeights(weights, { threads: 1 }).fit(f(w.x), f(w.y), { epochs: 1 })
    console.log(JSON.stringify({ simd: model.simd, trainerSimd: trained.simd, loss,
      gradient: { inputSize: gradient.inputSize, hiddenSize: gradient.hiddenSize,
        layers: gradient.layers.map((l) => ({ weightIh: g(l.weightIh), weightHh: g(l.weightHh), biasIh: g(l.biasIh), biasHh: g(l.biasHh) })),
        head: { weight: g(gradient.head.weight), bias: g(gradient.head.bias) } } }))
  `
  const supported = backends().cpu.simdSupported
  const levels = runnableSimdLevels(supported)
  for (const level of levels) {
    it(`${level} training kernels match finite differences`, () => {
      const result = JSON.parse(runNode(child, { SLUICE_SIMD: level }))
      expect(result.simd).toBe(level)
      expect(result.trainerSimd).toBe(level)
      expect(Math.abs(result.loss - referenceLoss(weights, x, y, c.steps, c.batch, c.loss))).toBeLessThanOrEqual(1e-5)
      checkGradient(result.gradient, reference)
    })
  }
})
