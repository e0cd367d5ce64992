// LstmModel.fromOnnx / fromSafetensors end to end: the same model, written as an ONNX graph (run by
// onnxruntime-node, an independent implementation) and as a PyTorch-named safetensors file, loads into
// sluice and gives onnxruntime's outputs.
import * as ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { LstmModel, lstmWeightsToSafetensors } from '../../../lib/index'
import { maxAbsDiff, randomArray, randomLstmWeights, rng } from '../../support/lstm_reference'
import { buildOnnxLstmModel } from '../../support/onnx_lstm_model'
import { expectSluiceError } from '../../helpers'

async function runOnnx(bytes: Uint8Array, x: Float32Array, steps: number, batch: number, inputSize: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes)
  try {
    const result = await session.run({ x: new ort.Tensor('float32', x, [steps, batch, inputSize]) })
    return result[session.outputNames[0]!]!.data as Float32Array
  } finally {
    await session.release()
  }
}

describe('LstmModel from model files', () => {
  const shapes = [
    { inputSize: 3, hiddenSize: 8, layers: 1, outputSize: 2 },
    { inputSize: 16, hiddenSize: 32, layers: 2, outputSize: 1 },
    { inputSize: 5, hiddenSize: 64, layers: 3, outputSize: 4 },
  ]
  for (const shape of shapes) {
    it(`ONNX and safetensors give onnxruntime's output (I${shape.inputSize} H${shape.hiddenSize} L${shape.layers})`, async () => {
      const random = rng(shape.hiddenSize * 31 + shape.layers)
      const weights = randomLstmWeights(random, shape)
      const steps = 12
      const batch = 7
      const x = randomArray(random, steps * batch * shape.inputSize)
      const onnxBytes = buildOnnxLstmModel(weights)
      const expected = await runOnnx(onnxBytes, x, steps, batch, shape.inputSize)

      const fromOnnx = LstmModel.fromOnnx(onnxBytes, { threads: 2 })
      const fromSafetensors = LstmModel.fromSafetensors(lstmWeightsToSafetensors(weights), { threads: 1 })
      try {
        const a = fromOnnx.predict(x, { steps, batch })
        const b = fromSafetensors.predict(x, { steps, batch })
        expect(a.length).toBe(expected.length)
        expect(maxAbsDiff(a, expected)).toBeLessThanOrEqual(1e-5)
        expect(maxAbsDiff(b, expected)).toBeLessThanOrEqual(1e-5)
      } finally {
        fromOnnx.close()
        fromSafetensors.close()
      }
    })
  }

  it('a truncated file is ERR_MALFORMED_DATA from either loader', () => {
    const weights = randomLstmWeights(rng(3), { inputSize: 2, hiddenSize: 4, layers: 1, outputSize: 1 })
    const onnxBytes = buildOnnxLstmModel(weights)
    expectSluiceError(() => LstmModel.fromOnnx(onnxBytes.subarray(0, onnxBytes.length - 9)), 'ERR_MALFORMED_DATA')
    const st = lstmWeightsToSafetensors(weights)
    expectSluiceError(() => LstmModel.fromSafetensors(st.subarray(0, st.length - 5)), 'ERR_MALFORMED_DATA')
  })
})
