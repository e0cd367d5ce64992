// Loading LSTM weights from model files held in memory: sluice's safetensors and ONNX readers against the
// generic protobufjs decoder (onnx-proto's ModelProto.decode, which only decodes and checks nothing about
// the graph) and onnxruntime-node's InferenceSession.create (which also plans the graph), on the same bytes.
'use strict'
const { runSuite } = require('./harness')
const { lstmWeightsFromOnnx, lstmWeightsFromSafetensors, lstmWeightsToSafetensors, readSafetensors } = require('../dist')
const { onnx } = require('onnx-proto')
const ort = require('onnxruntime-node')

function randomWeights(inputSize, hiddenSize, layers, outputSize) {
  let seed = 1
  const values = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5) * 0.2)
  return {
    inputSize, hiddenSize,
    layers: Array.from({ length: layers }, (_, k) => ({
      weightIh: values(4 * hiddenSize * (k === 0 ? inputSize : hiddenSize)), weightHh: values(4 * hiddenSize * hiddenSize),
      biasIh: values(4 * hiddenSize), biasHh: values(4 * hiddenSize),
    })),
    head: { weight: values(outputSize * hiddenSize), bias: values(outputSize) },
  }
}

/** The same model as ONNX (gate order is irrelevant to load speed, so the rows are kept as they are). */
function onnxBytes(w) {
  const H = w.hiddenSize
  const raw = (name, dims, values) => ({ name, dims, dataType: 1, rawData: new Uint8Array(values.buffer) })
  const initializer = []
  const node = []
  let x = 'x'
  w.layers.forEach((layer, k) => {
    const b = new Float32Array(8 * H)
    b.set(layer.biasIh)
    b.set(layer.biasHh, 4 * H)
    initializer.push(raw(`W${k}`, [1, 4 * H, k === 0 ? w.inputSize : H], layer.weightIh), raw(`R${k}`, [1, 4 * H, H], layer.weightHh), raw(`B${k}`, [1, 8 * H], b))
    node.push({ name: `lstm${k}`, opType: 'LSTM', input: [x, `W${k}`, `R${k}`, `B${k}`], output: [`Y${k}`, `Yh${k}`], attribute: [{ name: 'hidden_size', type: 2, i: H }] })
    node.push({ name: `squeeze${k}`, opType: 'Squeeze', input: [`Y${k}`, 'axis1'], output: [`S${k}`] })
    x = `S${k}`
  })
  initializer.push({ name: 'axis1', dims: [1], dataType: 7, int64Data: [1] }, { name: 'axis0', dims: [1], dataType: 7, int64Data: [0] })
  const last = w.layers.length - 1
  node.push({ name: 'squeeze_h', opType: 'Squeeze', input: [`Yh${last}`, 'axis0'], output: ['h'] })
  initializer.push(raw('fc_w', [w.head.bias.length, H], w.head.weight), raw('fc_b', [w.head.bias.length], w.head.bias))
  node.push({ name: 'fc', opType: 'Gemm', input: ['h', 'fc_w', 'fc_b'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] })
  const info = (name, dims) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } })
  return Uint8Array.from(onnx.ModelProto.encode({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', node, initializer, input: [info('x', ['T', 'B', w.inputSize])], output: [info('y', ['B', w.head.bias.length])] },
  }).finish())
}

async function main() {
  for (const [I, H, L] of [[8, 64, 1], [32, 256, 2], [64, 512, 2]]) {
    const weights = randomWeights(I, H, L, 4)
    const parameters = weights.layers.reduce((n, l) => n + l.weightIh.length + l.weightHh.length + 8 * H, 0) + 5 * H
    const safetensors = lstmWeightsToSafetensors(weights)
    const model = onnxBytes(weights)
    lstmWeightsFromOnnx(model) // fails loudly here rather than inside the timing loop
    await runSuite(`load I${I}/H${H}/L${L} (${parameters} weights; safetensors ${(safetensors.length / 1e6).toFixed(1)} MB, ONNX ${(model.length / 1e6).toFixed(1)} MB)`, [
      { name: 'onnx-proto ModelProto.decode (decode only)', fn: () => onnx.ModelProto.decode(model), events: parameters, baseline: true },
      { name: 'onnxruntime InferenceSession.create', fn: () => ort.InferenceSession.create(model).then((s) => s.release()), events: parameters },
      { name: 'sluice lstmWeightsFromOnnx', fn: () => lstmWeightsFromOnnx(model), events: parameters },
      { name: 'sluice readSafetensors', fn: () => readSafetensors(safetensors), events: parameters },
      { name: 'sluice lstmWeightsFromSafetensors', fn: () => lstmWeightsFromSafetensors(safetensors), events: parameters },
    ], { unit: 'weight' })
  }
}

if (require.main === module) main()
module.exports = Object.assign(main, { randomWeights, onnxBytes })
