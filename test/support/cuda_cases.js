// What the CUDA backend is compared with the CPU engine on, shared by test/lstm/lstm_cuda.test.ts and
// scripts/gpu-check.js. Plain CommonJS: the GPU check runs on a machine without vitest or TypeScript.
'use strict'

/** Model shapes with steps × batch: a single step and sequence, a head, an odd hidden size, hidden 256. */
const CUDA_SHAPES = [
  { layers: 1, inputSize: 3, hiddenSize: 5, outputSize: 0, steps: 1, batch: 1 },
  { layers: 2, inputSize: 8, hiddenSize: 64, outputSize: 3, steps: 32, batch: 7 },
  { layers: 3, inputSize: 16, hiddenSize: 33, outputSize: 0, steps: 9, batch: 130 },
  { layers: 1, inputSize: 32, hiddenSize: 256, outputSize: 1, steps: 4, batch: 64 },
]

/** predict's options for a shape in each input layout (time- or batch-major) and output form (last step or sequence). */
function predictOptions(shape) {
  const options = []
  for (const batchFirst of [false, true]) {
    for (const sequence of [false, true]) options.push({ steps: shape.steps, batch: shape.batch, batchFirst, sequence })
  }
  return options
}

/**
 * What a first predict of x on `model` throws, or undefined. cuDNN's persistent kernel refuses some shapes;
 * asked for explicitly (cudnnAlgorithm 'persist-static'), that is ERR_NOT_SUPPORTED, never a fallback.
 */
function firstPredictError(model, x, shape) {
  try {
    model.predict(x, { steps: shape.steps, batch: shape.batch })
    return undefined
  } catch (error) {
    return error
  }
}

/** The same weights on the CPU engine and on CUDA (LstmModel: sluice's, or a module with its API). */
function onBothBackends(LstmModel, weights) {
  return { cpu: LstmModel.fromWeights(weights, { backend: 'cpu' }), gpu: LstmModel.fromWeights(weights, { backend: 'cuda' }) }
}

module.exports = { CUDA_SHAPES, predictOptions, firstPredictError, onBothBackends }
