// LstmModel against onnxruntime-node's LSTM operator (an independent implementation) on random models:
// 1–3 layers, inputSize and hiddenSize from 1 to 256, up to 128 steps and 512 sequences. Max abs error ≤ 1e-5.
import { createRequire } from 'node:module'
import { afterAll, describe, expect, it } from 'vitest'
import { LstmModel } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { buildOnnxLstmModel } from '../support/onnx_lstm_model'
import { maxAbsDiff, randomArray, randomLstmWeights, rng, type LstmCase } from '../support/lstm_reference'

const ort = createRequire(__filename)('onnxruntime-node')

async function runOrt(weights: LstmWeights, x: Float32Array, steps: number, batch: number, sequence: boolean): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(buildOnnxLstmModel(weights, { sequence }), { intraOpNumThreads: 2, logSeverityLevel: 3 })
  try {
    const result = await session.run({ x: new ort.Tensor('float32', x, [steps, batch, weights.inputSize]) })
    return result.y.data as Float32Array
  } finally {
    await session.release()
  }
}

interface Case extends LstmCase {
  sequence: boolean
}

// Fixed edge cases, then random ones (seeded: the seed is in the test name).
const cases: Case[] = [
  { layers: 1, inputSize: 1, hiddenSize: 1, outputSize: 0, steps: 1, batch: 1, sequence: false },
  { layers: 3, inputSize: 256, hiddenSize: 256, outputSize: 3, steps: 128, batch: 512, sequence: false },
  { layers: 1, inputSize: 8, hiddenSize: 64, outputSize: 1, steps: 32, batch: 1, sequence: true },
  { layers: 2, inputSize: 16, hiddenSize: 128, outputSize: 0, steps: 1, batch: 1024, sequence: false },
  { layers: 1, inputSize: 256, hiddenSize: 1, outputSize: 2, steps: 128, batch: 3, sequence: true },
]
const pick = rng(20261126)
const upTo = (n: number) => 1 + Math.floor(pick() * n)
for (let i = 0; i < 12; i++) {
  cases.push({
    layers: upTo(3), inputSize: upTo(256), hiddenSize: upTo(256), outputSize: pick() < 0.5 ? 0 : upTo(8),
    steps: upTo(i < 6 ? 128 : 16), batch: upTo(i < 6 ? 32 : 512), sequence: pick() < 0.5,
  })
}

describe('LstmModel agrees with onnxruntime-node’s LSTM operator', () => {
  const models: LstmModel[] = []
  afterAll(() => models.forEach((m) => m.close()))

  cases.forEach((c, index) => {
    const name = `L${c.layers} I${c.inputSize} H${c.hiddenSize} O${c.outputSize || '-'} T${c.steps} B${c.batch}${c.sequence ? ' sequence' : ''}`
    it(`#${index} ${name}`, async () => {
      const random = rng(1000 + index)
      const weights = randomLstmWeights(random, c)
      const x = randomArray(random, c.steps * c.batch * c.inputSize)
      const model = LstmModel.fromWeights(weights, { threads: 2 })
      models.push(model)
      const ours = model.predict(x, { steps: c.steps, batch: c.batch, sequence: c.sequence })
      const theirs = await runOrt(weights, x, c.steps, c.batch, c.sequence)
      expect(ours.length).toBe(theirs.length)
      expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5)
    })
  })
})
