// LstmWeights from ONNX. Models are encoded with onnx-proto (independent of sluice's protobuf reader),
// the recovered weights must equal the PyTorch-order originals exactly, and onnxruntime-node running the
// same bytes must agree with the float64 reference LSTM on the recovered weights.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { lstmWeightsFromOnnx, lstmWeightsFromSafetensors, lstmWeightsToSafetensors, SluiceError, type LstmWeights } from '../../../lib/index'
import { checkLstmWeights } from '../../../lib/lstm/lstm_weights'
import { expectSluiceError } from '../../helpers'
import { lstmReference, randomLstmWeights, seededRandom } from '../../support/lstm_reference'
import { fuzzParser, inTurn, inserted, overwritten, truncated } from '../../support/fuzz'
import { attr, buildOnnxLstmModel, encodeModel, floatTensor, int64Tensor, onnxGateOrder, valueInfo, type OnnxLstmModelOptions } from '../../support/onnx_lstm_model'

const load = createRequire(__filename)
const { onnx } = load('onnx-proto') as typeof import('onnx-proto')
const ort = load('onnxruntime-node') as typeof import('onnxruntime-node')
type Model = import('onnx-proto').onnx.ModelProto

/** Decodes, changes and re-encodes a model. */
function edit(bytes: Uint8Array, change: (model: Model) => void): Uint8Array {
  const model = onnx.ModelProto.decode(bytes)
  change(model)
  return Uint8Array.from(onnx.ModelProto.encode(model).finish())
}
const nodeNamed = (model: Model, name: string) => model.graph!.node.find((n) => n.name === name)!

/** Runs the model in onnxruntime-node on x [steps][batch][inputSize] under `inputName`. */
async function runOrt(bytes: Uint8Array, x: Float32Array, dims: number[], inputName = 'x'): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(bytes)
  const results = await session.run({ [inputName]: new ort.Tensor('float32', x, dims) })
  return Object.fromEntries(Object.entries(results).map(([name, tensor]) => [name, tensor.data as Float32Array]))
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length)
  let worst = 0
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!))
  expect(worst).toBeLessThan(tolerance)
}

function randomInput(seed: number, length: number): Float32Array {
  const random = seededRandom(seed)
  return Float32Array.from({ length }, () => 2 * random() - 1)
}

describe('lstmWeightsFromOnnx recovers PyTorch-order weights, and onnxruntime agrees with the reference', () => {
  const variants: [string, { layers: number; outputSize?: number; bias?: boolean }, OnnxLstmModelOptions][] = [
    ['one layer, no head', { layers: 1 }, { hiddenSequence: true }],
    ['two layers, Gemm head (transB=1) on Y_h', { layers: 2, outputSize: 3 }, { hiddenSequence: true }],
    ['two layers, Gemm head on Gather(-1) of Y', { layers: 2, outputSize: 3 }, { lastStep: 'gather' }],
    ['three layers, Gemm transB=0, Slice(-1:), float_data', { layers: 3, outputSize: 2 }, { transB: false, lastStep: 'slice', floatData: true, hiddenSequence: true }],
    ['two layers, MatMul + Add head on Y_h', { layers: 2, outputSize: 4 }, { headOp: 'MatMulAdd' }],
    ['no biases anywhere, MatMul head on Gather(-1)', { layers: 2, outputSize: 1, bias: false }, { headOp: 'MatMulAdd', lastStep: 'gather' }],
    ['opset 11: Squeeze axes as attributes', { layers: 2, outputSize: 2 }, { opset: 11, lastStep: 'slice' }],
    ['opset 9: Slice starts/ends as attributes', { layers: 2, outputSize: 2 }, { opset: 9, lastStep: 'slice' }],
    ['the head at every step (MatMul + Add on the sequence)', { layers: 2, outputSize: 2 }, { sequence: true, hiddenSequence: true }],
    ['initial states as graph inputs, final states as outputs', { layers: 2, outputSize: 2 }, { withState: true }],
  ]
  variants.forEach(([name, shape, options], index) => {
    it(name, async () => {
      const I = 3
      const H = 5
      const weights = randomLstmWeights(seededRandom(100 + index), { inputSize: I, hiddenSize: H, scale: 0.5, ...shape })
      const bytes = buildOnnxLstmModel(weights, options)
      const loaded = lstmWeightsFromOnnx(bytes)
      expect(loaded).toEqual(weights)

      const steps = 6
      const batch = 3
      const L = shape.layers
      const x = randomInput(index, steps * batch * I)
      const state = { hidden: randomInput(1000 + index, L * batch * H), cell: randomInput(2000 + index, L * batch * H) }
      const session = await ort.InferenceSession.create(bytes)
      const feeds: Record<string, import('onnxruntime-node').Tensor> = { x: new ort.Tensor('float32', x, [steps, batch, I]) }
      if (options.withState) {
        for (let k = 0; k < L; k++) {
          feeds[`h0_l${k}`] = new ort.Tensor('float32', state.hidden.slice(k * batch * H, (k + 1) * batch * H), [1, batch, H])
          feeds[`c0_l${k}`] = new ort.Tensor('float32', state.cell.slice(k * batch * H, (k + 1) * batch * H), [1, batch, H])
        }
      }
      const outputs = await session.run(feeds)
      const reference = lstmReference(loaded, x, steps, batch, options.withState ? state : {})
      expectClose(outputs.y!.data as Float32Array, options.sequence ? reference.sequenceOutput : reference.output)
      if (options.hiddenSequence) expectClose(outputs.h_seq!.data as Float32Array, reference.sequence)
      else expect(outputs.h_seq).toBeUndefined()
      if (options.withState) {
        for (let k = 0; k < L; k++) {
          expectClose(outputs[`h_l${k}`]!.data as Float32Array, reference.hidden.subarray(k * batch * H, (k + 1) * batch * H))
          expectClose(outputs[`c_l${k}`]!.data as Float32Array, reference.cell.subarray(k * batch * H, (k + 1) * batch * H))
        }
      }
    })
  })

  it('reads a path, and the same model from ONNX and from safetensors gives identical weights', async () => {
    const weights = randomLstmWeights(seededRandom(5), { inputSize: 4, hiddenSize: 6, layers: 2, outputSize: 2 })
    const fs = await import('node:fs')
    const os = await import('node:os')
    const path = await import('node:path')
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-onnx-'))
    fs.writeFileSync(path.join(directory, 'model.onnx'), buildOnnxLstmModel(weights))
    fs.writeFileSync(path.join(directory, 'model.safetensors'), lstmWeightsToSafetensors(weights))
    const fromOnnx = lstmWeightsFromOnnx(path.join(directory, 'model.onnx'))
    const fromSafetensors = lstmWeightsFromSafetensors(path.join(directory, 'model.safetensors'))
    expect(fromOnnx).toEqual(fromSafetensors)
    expect(fromOnnx).toEqual(weights)
    // Bytes inside a larger Buffer at every alignment read the same.
    const model = buildOnnxLstmModel(weights, { floatData: false })
    for (let shift = 0; shift < 4; shift++) {
      const pool = Buffer.alloc(model.length + 8, 0xee)
      pool.set(model, shift)
      expect(lstmWeightsFromOnnx(pool.subarray(shift, shift + model.length))).toEqual(weights)
    }
    expectSluiceError(() => lstmWeightsFromOnnx(path.join(directory, 'absent.onnx')), 'ERR_INVALID_ARGUMENT', /cannot read/)
  })

  it('reads Y fed straight into the next layer (no Squeeze)', () => {
    const weights = randomLstmWeights(seededRandom(6), { inputSize: 2, hiddenSize: 3, layers: 3 })
    expect(lstmWeightsFromOnnx(buildOnnxLstmModel(weights, { betweenLayers: 'direct' }))).toEqual(weights)
  })

  it('scales the Gemm head by alpha and beta', async () => {
    const weights = randomLstmWeights(seededRandom(11), { inputSize: 3, hiddenSize: 4, layers: 1, outputSize: 2 })
    const bytes = edit(buildOnnxLstmModel(weights), (model) => {
      const gemm = nodeNamed(model, 'fc')
      gemm.attribute.find((a) => a.name === 'alpha')!.f = 2
      gemm.attribute.find((a) => a.name === 'beta')!.f = 0.5
    })
    const loaded = lstmWeightsFromOnnx(bytes)
    expect(Array.from(loaded.head!.weight)).toEqual(Array.from(weights.head!.weight, (v) => 2 * v))
    expect(Array.from(loaded.head!.bias!)).toEqual(Array.from(weights.head!.bias!, (v) => v / 2))
    const x = randomInput(12, 4 * 2 * 3)
    expectClose((await runOrt(bytes, x, [4, 2, 3])).y!, lstmReference(loaded, x, 4, 2).output)
  })

  it('reads a graph shaped like PyTorch’s export (batch_first, zero h0/c0 from ConstantOfShape, Transpose + Gather, h_n output)', async () => {
    const I = 3
    const H = 4
    const O = 2
    const weights = randomLstmWeights(seededRandom(21), { inputSize: I, hiddenSize: H, layers: 2, outputSize: O })
    const initializers = weights.layers.flatMap((layer, k) => {
      const b = new Float32Array(8 * H)
      b.set(onnxGateOrder(layer.biasIh!, H, 1))
      b.set(onnxGateOrder(layer.biasHh!, H, 1), 4 * H)
      return [
        floatTensor(`onnx::LSTM_W${k}`, [1, 4 * H, k === 0 ? I : H], onnxGateOrder(layer.weightIh, H, k === 0 ? I : H)),
        floatTensor(`onnx::LSTM_R${k}`, [1, 4 * H, H], onnxGateOrder(layer.weightHh, H, H)),
        floatTensor(`onnx::LSTM_B${k}`, [1, 8 * H], b),
      ]
    })
    initializers.push(floatTensor('fc.weight', [O, H], weights.head!.weight), floatTensor('fc.bias', [O], weights.head!.bias!))
    const constant = (name: string, t: import('onnx-proto').onnx.ITensorProto) => ({ name, opType: 'Constant', output: [name], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t }] })
    const nodes: import('onnx-proto').onnx.INodeProto[] = [
      { name: '/lstm/Transpose', opType: 'Transpose', input: ['input'], output: ['x_t'], attribute: [attr.ints('perm', [1, 0, 2])] },
      { name: '/Shape', opType: 'Shape', input: ['input'], output: ['shape'] },
      constant('zero', int64Tensor('zero', [], [0])),
      { name: '/Gather_batch', opType: 'Gather', input: ['shape', 'zero'], output: ['batch'], attribute: [attr.int('axis', 0)] },
      constant('one_axis', int64Tensor('one_axis', [1], [0])),
      { name: '/Unsqueeze', opType: 'Unsqueeze', input: ['batch', 'one_axis'], output: ['batch_1d'] },
      constant('layers_dim', int64Tensor('layers_dim', [1], [2])),
      constant('hidden_dim', int64Tensor('hidden_dim', [1], [H])),
      { name: '/Concat', opType: 'Concat', input: ['layers_dim', 'batch_1d', 'hidden_dim'], output: ['state_shape'], attribute: [attr.int('axis', 0)] },
      { name: '/ConstantOfShape', opType: 'ConstantOfShape', input: ['state_shape'], output: ['zeros'], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: floatTensor('v', [1], Float32Array.of(0)) }] },
      constant('starts0', int64Tensor('starts0', [1], [0])), constant('ends0', int64Tensor('ends0', [1], [1])),
      constant('starts1', int64Tensor('starts1', [1], [1])), constant('ends1', int64Tensor('ends1', [1], [2])),
      { name: '/Slice_h0', opType: 'Slice', input: ['zeros', 'starts0', 'ends0', 'zero_axis'], output: ['h0_l0'] },
      { name: '/Slice_h1', opType: 'Slice', input: ['zeros', 'starts1', 'ends1', 'zero_axis'], output: ['h0_l1'] },
      { name: '/lstm/LSTM', opType: 'LSTM', input: ['x_t', 'onnx::LSTM_W0', 'onnx::LSTM_R0', 'onnx::LSTM_B0', '', 'h0_l0', 'h0_l0'], output: ['Y0', 'Yh0', 'Yc0'], attribute: [attr.int('hidden_size', H)] },
      constant('axis1', int64Tensor('axis1', [1], [1])),
      { name: '/lstm/Squeeze', opType: 'Squeeze', input: ['Y0', 'axis1'], output: ['s0'] },
      { name: '/lstm/LSTM_1', opType: 'LSTM', input: ['s0', 'onnx::LSTM_W1', 'onnx::LSTM_R1', 'onnx::LSTM_B1', '', 'h0_l1', 'h0_l1'], output: ['Y1', 'Yh1', 'Yc1'], attribute: [attr.int('hidden_size', H)] },
      { name: '/lstm/Squeeze_1', opType: 'Squeeze', input: ['Y1', 'axis1'], output: ['s1'] },
      { name: '/lstm/Transpose_1', opType: 'Transpose', input: ['s1'], output: ['out'], attribute: [attr.ints('perm', [1, 0, 2])] },
      constant('minus_one', int64Tensor('minus_one', [], [-1])),
      { name: '/Gather', opType: 'Gather', input: ['out', 'minus_one'], output: ['last'], attribute: [attr.int('axis', 1)] },
      { name: '/fc/Gemm', opType: 'Gemm', input: ['last', 'fc.weight', 'fc.bias'], output: ['y'], attribute: [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', 1)] },
      { name: '/Concat_h', opType: 'Concat', input: ['Yh0', 'Yh1'], output: ['h_n'], attribute: [attr.int('axis', 0)] },
    ]
    nodes.splice(10, 0, constant('zero_axis', int64Tensor('zero_axis', [1], [0])))
    const bytes = encodeModel({
      name: 'main_graph', node: nodes, initializer: initializers,
      input: [valueInfo('input', ['batch', 'steps', I])], output: [valueInfo('y', ['batch', O]), valueInfo('h_n', [2, 'batch', H])],
    })
    const loaded = lstmWeightsFromOnnx(bytes)
    expect(loaded).toEqual(weights)

    const steps = 5
    const batch = 2
    const batchMajor = randomInput(22, batch * steps * I)
    const sequenceMajor = new Float32Array(batchMajor.length)
    for (let n = 0; n < batch; n++) for (let t = 0; t < steps; t++) for (let k = 0; k < I; k++) sequenceMajor[(t * batch + n) * I + k] = batchMajor[(n * steps + t) * I + k]!
    const outputs = await runOrt(bytes, batchMajor, [batch, steps, I], 'input')
    const reference = lstmReference(loaded, sequenceMajor, steps, batch)
    expectClose(outputs.y!, reference.output)
    expectClose(outputs.h_n!, reference.hidden)
  })

  it('accepts zero-valued and run-time initial states', () => {
    const weights = randomLstmWeights(seededRandom(30), { inputSize: 2, hiddenSize: 3, layers: 1 })
    const zeros = edit(buildOnnxLstmModel(weights), (model) => {
      model.graph!.initializer.push(onnx.TensorProto.create(floatTensor('h0', [1, 1, 3], new Float32Array(3))))
      nodeNamed(model, 'lstm_l0').input.push('', 'h0', 'h0')
    })
    expect(lstmWeightsFromOnnx(zeros)).toEqual(weights)
    const runtime = edit(buildOnnxLstmModel(weights), (model) => {
      model.graph!.input.push(onnx.ValueInfoProto.create(valueInfo('state_h', [1, 'batch', 3])))
      nodeNamed(model, 'lstm_l0').input.push('', 'state_h')
    })
    expect(lstmWeightsFromOnnx(runtime)).toEqual(weights)
  })

  it('accepts initializers that are also listed as graph inputs (IR < 4 style)', () => {
    const weights = randomLstmWeights(seededRandom(31), { inputSize: 2, hiddenSize: 3, layers: 2, outputSize: 1 })
    const bytes = edit(buildOnnxLstmModel(weights), (model) => {
      for (const tensor of model.graph!.initializer) model.graph!.input.push(onnx.ValueInfoProto.create({ name: tensor.name }))
    })
    expect(lstmWeightsFromOnnx(bytes)).toEqual(weights)
  })
})

describe('lstmWeightsFromOnnx refuses what sluice does not run, naming it (ERR_NOT_SUPPORTED)', () => {
  const weights = randomLstmWeights(seededRandom(40), { inputSize: 3, hiddenSize: 4, layers: 2, outputSize: 2 })
  const base = () => buildOnnxLstmModel(weights, { headOp: 'MatMulAdd', lastStep: 'gather' })
  const lstm = (model: Model, k = 0) => nodeNamed(model, `lstm_l${k}`)
  const cases: [string, (model: Model) => void, RegExp][] = [
    ['direction=reverse', (m) => lstm(m).attribute.push(attr.string('direction', 'reverse')), /LSTM node 'lstm_l0' has direction=reverse/],
    ['direction=bidirectional', (m) => lstm(m, 1).attribute.push(attr.string('direction', 'bidirectional')), /'lstm_l1' has direction=bidirectional/],
    ['peepholes', (m) => {
      m.graph!.initializer.push(onnx.TensorProto.create(floatTensor('P', [1, 12], new Float32Array(12))))
      lstm(m).input.push('', '', '', 'P')
    }, /'lstm_l0' has peephole weights \(input P\)/],
    ['clip', (m) => lstm(m).attribute.push(attr.float('clip', 3)), /'lstm_l0' has clip=3/],
    ['other activations', (m) => lstm(m).attribute.push(attr.strings('activations', ['Sigmoid', 'Relu', 'Tanh'])), /activations \[Sigmoid, Relu, Tanh\]/],
    ['input_forget=1', (m) => lstm(m).attribute.push(attr.int('input_forget', 1)), /input_forget=1/],
    ['layout=1', (m) => lstm(m).attribute.push(attr.int('layout', 1)), /layout=1 \(batch-major X and Y\).*export with layout=0/],
    ['an unknown attribute', (m) => lstm(m).attribute.push(attr.int('output_sequence', 1)), /attribute 'output_sequence'/],
    ['sequence_lens', (m) => {
      m.graph!.input.push(onnx.ValueInfoProto.create({ name: 'lengths' }))
      lstm(m).input.push('lengths')
    }, /sequence_lens/],
    ['float64 weights', (m) => {
      const w = m.graph!.initializer.find((t) => t.name === 'W0')!
      w.dataType = onnx.TensorProto.DataType.DOUBLE
    }, /W of LSTM node 'lstm_l0' \('W0'\) is DOUBLE; only float32/],
    ['external data', (m) => { m.graph!.initializer.find((t) => t.name === 'R1')!.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL }, /R of LSTM node 'lstm_l1' \('R1'\) keeps its data in an external file/],
    ['computed weights', (m) => {
      m.graph!.node.unshift(onnx.NodeProto.create({ name: 'double_w', opType: 'Identity', input: ['W0'], output: ['W0_copy'] }))
      m.graph!.node.unshift(onnx.NodeProto.create({ name: 'neg', opType: 'Neg', input: ['W0'], output: ['W0_neg'] }))
      lstm(m).input[1] = 'W0_neg'
    }, /W of LSTM node 'lstm_l0' \('W0_neg'\) is computed by Neg node 'neg'.*initializer or a Constant/],
    ['a non-zero initial state', (m) => {
      m.graph!.initializer.push(onnx.TensorProto.create(floatTensor('h0', [1, 1, 4], Float32Array.of(0, 1, 0, 0))))
      lstm(m).input.push('', 'h0')
    }, /initial_h of LSTM node 'lstm_l0' \('h0'\) is a non-zero constant/],
    ['an activation after the head', (m) => {
      m.graph!.node.find((n) => n.name === 'fc_add')!.output[0] = 'logits'
      m.graph!.node.push(onnx.NodeProto.create({ name: 'act', opType: 'Sigmoid', input: ['logits'], output: ['y'] }))
    }, /Sigmoid node 'act' computes on the model's data/],
    ['a second linear layer', (m) => {
      m.graph!.node.find((n) => n.name === 'fc_add')!.output[0] = 'hidden2'
      m.graph!.initializer.push(onnx.TensorProto.create(floatTensor('w2', [2, 2], new Float32Array(4))))
      m.graph!.node.push(onnx.NodeProto.create({ name: 'fc2', opType: 'MatMul', input: ['hidden2', 'w2'], output: ['y'] }))
    }, /2 linear layers.*one head/],
    ['a head contracting another axis than the hidden one', (m) => {
      m.graph!.node.find((n) => n.name === 'fc_matmul')!.input[0] = 'h_last_t'
      const at = m.graph!.node.findIndex((n) => n.name === 'fc_matmul')
      m.graph!.node.splice(at, 0, onnx.NodeProto.create({ name: 'swap', opType: 'Transpose', input: ['h_last'], output: ['h_last_t'], attribute: [attr.ints('perm', [1, 0])] }))
    }, /MatMul node 'fc_matmul' does not contract the hidden axis/],
    ['a head on a reshaped sequence', (m) => {
      m.graph!.initializer.push(onnx.TensorProto.create(int64Tensor('flat', [2], [-1, 4])))
      const at = m.graph!.node.findIndex((n) => n.name === 'fc_matmul')
      m.graph!.node.splice(at, 0, onnx.NodeProto.create({ name: 'flatten_steps', opType: 'Reshape', input: ['h_seq', 'flat'], output: ['h_flat'] }))
      m.graph!.node.find((n) => n.name === 'fc_matmul')!.input[0] = 'h_flat'
    }, /Reshape node 'flatten_steps' reshapes the sequence before the last step is selected/],
    ['a head on the first time step', (m) => {
      const index = m.graph!.node.find((n) => n.name === 'gather_last')!.input[1]!
      m.graph!.node.find((n) => n.output[0] === index)!.attribute[0]!.t = onnx.TensorProto.create(int64Tensor(index, [], [0]))
    }, /Gather node 'gather_last' selects time step \[0\]; the head must read the last step/],
    ['a head on the cell state', (m) => {
      m.graph!.node.find((n) => n.name === 'gather_last')!.input[0] = 'Y_c1'
    }, /comes from the last LSTM's cell state Y_c/],
    ['a head on the first layer', (m) => {
      m.graph!.node.find((n) => n.name === 'gather_last')!.input[0] = 'X1'
    }, /the input of MatMul node 'fc_matmul' comes from LSTM node 'lstm_l0', not from the last LSTM/],
    ['a custom-domain op', (m) => { m.graph!.node.push(onnx.NodeProto.create({ name: 'custom', opType: 'Foo', domain: 'com.example', input: ['x'], output: ['z'] })) }, /'custom' is from domain 'com\.example'/],
    ['two LSTM stacks', (m) => {
      const copy = onnx.NodeProto.create({ ...lstm(m).toJSON(), name: 'other', input: ['x', 'W0', 'R0'], output: ['Yo', 'Yho', 'Yco'] })
      copy.attribute = lstm(m).attribute
      m.graph!.node.push(copy)
    }, /2 LSTM stacks/],
    ['hidden sizes that differ', (m) => {
      const g = m.graph!
      g.initializer = g.initializer.filter((t) => !['W1', 'R1', 'B1'].includes(t.name!))
      g.initializer.push(onnx.TensorProto.create(floatTensor('W1', [1, 20, 4], new Float32Array(80))), onnx.TensorProto.create(floatTensor('R1', [1, 20, 5], new Float32Array(100))))
      lstm(m, 1).input = ['X1', 'W1', 'R1']
      lstm(m, 1).attribute = [attr.int('hidden_size', 5)]
    }, /'lstm_l1' has hidden size 5, layer 0 has 4/],
    ['no LSTM at all', (m) => { m.graph!.node = m.graph!.node.filter((n) => n.opType === 'Constant' || n.opType === 'Identity') }, /no LSTM node/],
  ]
  for (const [name, change, message] of cases) {
    it(name, () => {
      expectSluiceError(() => lstmWeightsFromOnnx(edit(base(), change)), 'ERR_NOT_SUPPORTED', message)
    })
  }
})

describe('lstmWeightsFromOnnx refuses malformed models (ERR_MALFORMED_DATA) and bad values (ERR_INVALID_ARGUMENT)', () => {
  const weights = randomLstmWeights(seededRandom(50), { inputSize: 3, hiddenSize: 4, layers: 2, outputSize: 2 })
  const base = () => buildOnnxLstmModel(weights)
  const lstm = (model: Model, k = 0) => nodeNamed(model, `lstm_l${k}`)

  it('truncated, empty and non-ONNX bytes', () => {
    const bytes = base()
    for (const length of [1, 2, 10, Math.floor(bytes.length / 3), bytes.length - 1]) {
      expectSluiceError(() => lstmWeightsFromOnnx(bytes.subarray(0, length)), 'ERR_MALFORMED_DATA', /ONNX/)
    }
    expectSluiceError(() => lstmWeightsFromOnnx(new Uint8Array(0)), 'ERR_MALFORMED_DATA', /empty/)
    expectSluiceError(() => lstmWeightsFromOnnx(new TextEncoder().encode('{"not": "onnx"}')), 'ERR_MALFORMED_DATA', /ONNX/)
    expectSluiceError(() => lstmWeightsFromOnnx(onnx.ModelProto.encode({ irVersion: 8 }).finish()), 'ERR_MALFORMED_DATA', /no graph/)
    expectSluiceError(() => lstmWeightsFromOnnx(Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)), 'ERR_MALFORMED_DATA', /varint longer than 10 bytes/)
    expectSluiceError(() => lstmWeightsFromOnnx(Uint8Array.of(0x3a, 0x05, 0x0a)), 'ERR_MALFORMED_DATA', /runs past the end/)
    expectSluiceError(() => lstmWeightsFromOnnx(3 as unknown as Uint8Array), 'ERR_INVALID_TYPE')
  })

  const cases: [string, (model: Model) => void, RegExp][] = [
    ['a node reading an unknown value', (m) => { lstm(m, 1).input[0] = 'nowhere' }, /LSTM node 'lstm_l1' reads 'nowhere', which no earlier node/],
    ['nodes out of order', (m) => { m.graph!.node.reverse() }, /reads '.*', which no earlier node/],
    ['a value produced twice', (m) => { m.graph!.node.push(onnx.NodeProto.create({ name: 'dup', opType: 'Identity', input: ['x'], output: ['Y0'] })) }, /'Y0' is produced twice/],
    ['W of the wrong rank', (m) => { m.graph!.initializer.find((t) => t.name === 'W0')!.dims = [16, 3] }, /W of LSTM node 'lstm_l0' \('W0'\) has shape \[16, 3\], expected \[1, 4·hidden, input\]/],
    ['R of the wrong shape', (m) => { m.graph!.initializer.find((t) => t.name === 'R1')!.dims = [1, 8, 8] }, /R of LSTM node 'lstm_l1' \('R1'\) has shape \[1, 8, 8\], expected \[1, 16, 4\]/],
    ['B of the wrong shape', (m) => { m.graph!.initializer.find((t) => t.name === 'B0')!.dims = [2, 16] }, /B of LSTM node 'lstm_l0' \('B0'\) has shape \[2, 16\], expected \[1, 32\]/],
    ['dims that do not match the data', (m) => { m.graph!.initializer.find((t) => t.name === 'W0')!.dims = [1, 16, 4] }, /W of LSTM node 'lstm_l0' \('W0'\).*dims \[1, 16, 4\] do not match its 48 float values/],
    ['hidden_size contradicting W', (m) => { lstm(m).attribute[0]!.i = 5 }, /hidden_size=5 but W/],
    ['layer input size contradicting the layer below', (m) => {
      const g = m.graph!
      g.initializer = g.initializer.filter((t) => t.name !== 'W1')
      g.initializer.push(onnx.TensorProto.create(floatTensor('W1', [1, 16, 3], new Float32Array(48))))
    }, /'lstm_l1' takes inputs of size 3 but the layer below outputs 4/],
    ['a head of the wrong width', (m) => { m.graph!.initializer.find((t) => t.name === 'fc_weight')!.dims = [4, 2] }, /B of Gemm node 'fc' \('fc_weight'\) has shape \[4, 2\], expected \[output, hidden\] with hidden 4/],
  ]
  for (const [name, change, message] of cases) {
    it(name, () => {
      expectSluiceError(() => lstmWeightsFromOnnx(edit(base(), change)), 'ERR_MALFORMED_DATA', message)
    })
  }

  it('NaN and infinite weights', () => {
    const nan = edit(base(), (m) => {
      const r = m.graph!.initializer.find((t) => t.name === 'R0')!
      const values = new Float32Array(Uint8Array.from(r.rawData!).buffer)
      values[5] = NaN
      r.rawData = new Uint8Array(values.buffer)
    })
    expectSluiceError(() => lstmWeightsFromOnnx(nan), 'ERR_INVALID_ARGUMENT', /R of LSTM node 'lstm_l0' \('R0'\) holds NaN at element 5/)
    // Elements are numbered as stored in the file (ONNX gate order), in later gates and in B's second half too.
    for (const [name, index] of [['W1', 4 * 4 * 2 + 3], ['B0', 4 * 4 + 6], ['B1', 3 * 4]] as const) {
      const bad = edit(base(), (m) => {
        const t = m.graph!.initializer.find((i) => i.name === name)!
        const values = new Float32Array(Uint8Array.from(t.rawData!).buffer)
        values[index] = -Infinity
        t.rawData = new Uint8Array(values.buffer)
      })
      expectSluiceError(() => lstmWeightsFromOnnx(bad), 'ERR_INVALID_ARGUMENT', new RegExp(`\\('${name}'\\) holds -Infinity at element ${index};`))
    }
    const infinite = edit(buildOnnxLstmModel(weights, { floatData: true }), (m) => { m.graph!.initializer.find((t) => t.name === 'fc_bias')!.floatData[1] = Infinity })
    expectSluiceError(() => lstmWeightsFromOnnx(infinite), 'ERR_INVALID_ARGUMENT', /fc_bias.*holds Infinity at element 1/)
  })
})

describe('fuzz: damaged ONNX files', () => {
  it('random mutations and truncations only ever throw SluiceError', () => {
    const weights: LstmWeights = randomLstmWeights(seededRandom(60), { inputSize: 2, hiddenSize: 3, layers: 2, outputSize: 2 })
    const valid = buildOnnxLstmModel(weights, { lastStep: 'slice' })
    const random = seededRandom(61)
    const damaged = inTurn(valid, [
      (bytes) => truncated(bytes, random),
      (bytes) => overwritten(bytes, random, 3),
      (bytes) => {
        bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8)
        return bytes
      },
      (bytes) => inserted(bytes, random, 6),
    ])
    // Whatever loads is a consistent LstmWeights.
    const codes = fuzzParser('ONNX fuzz', 10000, damaged, (bytes) => checkLstmWeights(lstmWeightsFromOnnx(bytes), { finite: true }))
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(2000)
  })
})

describe('fuzz: well-encoded ONNX models with damaged graphs', () => {
  it('random changes to nodes, attributes and tensors only ever throw SluiceError', () => {
    const random = seededRandom(70)
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
    const sources = [
      buildOnnxLstmModel(randomLstmWeights(seededRandom(71), { inputSize: 2, hiddenSize: 3, layers: 2, outputSize: 2 }), { lastStep: 'slice' }),
      buildOnnxLstmModel(randomLstmWeights(seededRandom(72), { inputSize: 2, hiddenSize: 2, layers: 1, outputSize: 1 }), { headOp: 'MatMulAdd', lastStep: 'Y_h', opset: 11 }),
      buildOnnxLstmModel(randomLstmWeights(seededRandom(73), { inputSize: 3, hiddenSize: 2, layers: 2 }), { transB: false, floatData: true }),
    ]
    const ops = ['LSTM', 'Gemm', 'MatMul', 'Add', 'Squeeze', 'Unsqueeze', 'Gather', 'Slice', 'Reshape', 'Flatten', 'Transpose', 'Identity', 'Concat', 'Constant', 'Cast', 'Relu']
    const numbers = [-2, -1, 0, 1, 2, 3, 4, 7, 8, 2 ** 31 - 1, -(2 ** 40), 2 ** 53]
    const damaged = () =>
      edit(pick(sources), (model) => {
        const graph = model.graph!
        for (let change = 0; change < 1 + random() * 2; change++) {
          const node = pick(graph.node)
          const tensor = pick(graph.initializer)
          switch (Math.floor(random() * 9)) {
            case 0: node.opType = pick(ops); break
            case 1: node.input[Math.floor(random() * node.input.length)] = pick([...graph.node.flatMap((n) => n.output), '', 'x', 'W0']); break
            case 2: graph.node.splice(Math.floor(random() * graph.node.length), 1); break
            case 3: if (node.attribute.length) { const a = pick(node.attribute); a.i = pick(numbers); a.ints = [pick(numbers)]; a.f = pick([NaN, 0, 2, Infinity]) } break
            case 4: tensor.dims = tensor.dims.map((d) => (random() < 0.5 ? pick(numbers) : d)); break
            case 5: tensor.dataType = pick([0, 1, 6, 7, 10, 11, 99]); break
            case 6: node.attribute.push(pick([attr.int('axis', pick(numbers)), attr.ints('axes', [pick(numbers)]), attr.ints('perm', [1, 0]), attr.int('transA', 1), attr.string('direction', 'forward')])); break
            case 7: graph.node.push(onnx.NodeProto.fromObject({ ...pick(graph.node).toJSON(), name: `copy${change}` })); break
            default: if (node.opType === 'Constant' && node.attribute[0]?.t) node.attribute[0].t.int64Data = [pick(numbers)]
          }
        }
      })
    const codes = fuzzParser('ONNX graph fuzz', 3000, damaged, (bytes) => checkLstmWeights(lstmWeightsFromOnnx(bytes), { finite: true }))
    expect(codes.get('ERR_NOT_SUPPORTED')).toBeGreaterThan(100)
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(100)
  })
})
