// Builds ONNX models of stacked LSTMs (+ optional linear head) from LstmWeights with onnx-proto, an
// encoder independent of sluice's reader. Weights are written in ONNX's gate order (i, o, f, c), the way
// PyTorch's exporter lays the graph out: LSTM → Squeeze(axis 1) → LSTM …, then the last step → Gemm.
import { createRequire } from 'node:module'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'

const { onnx } = createRequire(__filename)('onnx-proto') as typeof import('onnx-proto')
type Attribute = import('onnx-proto').onnx.IAttributeProto
type Node = import('onnx-proto').onnx.INodeProto
type Tensor = import('onnx-proto').onnx.ITensorProto

export interface OnnxLstmModelOptions {
  /** `y` at every step, [steps][batch][outputSize] (the head as MatMul + Add on the sequence). Default: the
   *  last step only, [batch][outputSize] (the head as one Gemm, PyTorch's export of nn.Linear on 2-D input). */
  sequence?: boolean
  /** The same switch by its other name: `lastStepOnly: false` is `sequence: true`. */
  lastStepOnly?: boolean
  /** Initial states as inputs `h0_l{k}`, `c0_l{k}` [1][batch][hidden] and final states as outputs `h_l{k}`, `c_l{k}`. */
  withState?: boolean
  /** Also output `h_seq`, the top layer's hidden state at every step, [steps][batch][hidden]. */
  hiddenSequence?: boolean
  /** Default opset 17. Below 13, Squeeze takes its axes as an attribute; below 10, Slice too. */
  opset?: number
  /** The last-step head as one Gemm (default) or MatMul + Add. */
  headOp?: 'Gemm' | 'MatMulAdd'
  /** Gemm's transB: true (default) stores B as [output][hidden] like PyTorch; false as [hidden][output]. */
  transB?: boolean
  /** How the last step is read: Y_h (default), Gather(-1) of Y, or Slice(-1:) of Y. */
  lastStep?: 'Y_h' | 'gather' | 'slice'
  /** Store initializers in float_data instead of raw_data. */
  floatData?: boolean
  /** Between stacked layers: Squeeze(Y, axis 1) (default), or Y fed as it is (4-D; not runnable, reader tests only). */
  betweenLayers?: 'squeeze' | 'direct'
}

/** PyTorch's gate blocks (i, f, g, o) placed at ONNX's positions (i, o, f, c). */
export function onnxGateOrder(values: Float32Array, hiddenSize: number, columns: number): Float32Array {
  const block = hiddenSize * columns
  const out = new Float32Array(values.length)
  const onnxPositionOf = [0, 2, 3, 1] // i → 0, f → 2, g (= c) → 3, o → 1
  for (let gate = 0; gate < 4; gate++) out.set(values.subarray(gate * block, (gate + 1) * block), onnxPositionOf[gate]! * block)
  return out
}

export function floatTensor(name: string, dims: number[], values: Float32Array, floatData = false): Tensor {
  if (floatData) return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: Array.from(values) }
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)) }
}

export function int64Tensor(name: string, dims: number[], values: (number | string)[]): Tensor {
  return { name, dims, dataType: onnx.TensorProto.DataType.INT64, int64Data: values as number[] }
}

export const attr = {
  int: (name: string, i: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INT, i }),
  ints: (name: string, ints: number[]): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints }),
  float: (name: string, f: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f }),
  string: (name: string, s: string): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(s) }),
  strings: (name: string, values: string[]): Attribute => ({
    name, type: onnx.AttributeProto.AttributeType.STRINGS, strings: values.map((s) => new TextEncoder().encode(s)),
  }),
}

export function valueInfo(name: string, dims: (number | string)[]): import('onnx-proto').onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  }
}

/** Encodes a model from its parts (IR version 8), as a plain Uint8Array of its own (not a pooled Buffer view). */
export function encodeModel(graph: import('onnx-proto').onnx.IGraphProto, opset = 17): Uint8Array {
  return Uint8Array.from(onnx.ModelProto.encode(onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'sluice-tests',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  })).finish())
}

/**
 * An ONNX model computing `weights`. Input `x` [steps][batch][inputSize]; output `y`: the head on the top layer's
 * hidden state (or that state without a head) at the last step, [batch][outputSize], or at every step with
 * `sequence`. Optional outputs and inputs: see OnnxLstmModelOptions. Weights are float32 initializers in ONNX's
 * gate order; B is written only when the layer has a bias, the head bias only when the head has one.
 */
export function buildOnnxLstmModel(weights: LstmWeights, options: OnnxLstmModelOptions = {}): Uint8Array {
  const sequence = options.sequence ?? options.lastStepOnly === false
  const { withState = false, hiddenSequence = false, opset = 17, headOp = 'Gemm', transB = true, lastStep = 'Y_h', floatData = false, betweenLayers = 'squeeze' } = options
  const { inputSize: I, hiddenSize: H, layers, head } = weights
  const nodes: Node[] = []
  const initializers: Tensor[] = []
  const inputs = [valueInfo('x', ['steps', 'batch', I])]
  const stateOutputs: import('onnx-proto').onnx.IValueInfoProto[] = []
  let constantCount = 0
  const int64Constant = (values: (number | string)[], scalar = false): string => {
    const name = `const_${constantCount++}`
    nodes.push({ name, opType: 'Constant', output: [name], attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: int64Tensor(name, scalar ? [] : [values.length], values) }] })
    return name
  }
  const squeeze = (input: string, output: string, axes: number[]): void => {
    if (opset < 13) nodes.push({ name: output, opType: 'Squeeze', input: [input], output: [output], attribute: [attr.ints('axes', axes)] })
    else nodes.push({ name: output, opType: 'Squeeze', input: [input, int64Constant(axes)], output: [output] })
  }

  const top = layers.length - 1
  const topSequenceNeeded = sequence || hiddenSequence || lastStep !== 'Y_h'
  let x = 'x'
  layers.forEach((layer, k) => {
    const columns = k === 0 ? I : H
    const lstmInputs = [x, `W${k}`, `R${k}`, '']
    initializers.push(floatTensor(`W${k}`, [1, 4 * H, columns], onnxGateOrder(layer.weightIh, H, columns), floatData))
    initializers.push(floatTensor(`R${k}`, [1, 4 * H, H], onnxGateOrder(layer.weightHh, H, H), floatData))
    if (layer.biasIh || layer.biasHh) {
      const b = new Float32Array(8 * H)
      b.set(onnxGateOrder(layer.biasIh ?? new Float32Array(4 * H), H, 1), 0)
      b.set(onnxGateOrder(layer.biasHh ?? new Float32Array(4 * H), H, 1), 4 * H)
      initializers.push(floatTensor(`B${k}`, [1, 8 * H], b, floatData))
      lstmInputs[3] = `B${k}`
    }
    if (withState) {
      lstmInputs.push('', `h0_l${k}`, `c0_l${k}`)
      inputs.push(valueInfo(`h0_l${k}`, [1, 'batch', H]), valueInfo(`c0_l${k}`, [1, 'batch', H]))
      stateOutputs.push(valueInfo(`h_l${k}`, [1, 'batch', H]), valueInfo(`c_l${k}`, [1, 'batch', H]))
    }
    while (lstmInputs[lstmInputs.length - 1] === '') lstmInputs.pop()
    nodes.push({
      name: `lstm_l${k}`, opType: 'LSTM', input: lstmInputs,
      output: [k < top || topSequenceNeeded ? `Y${k}` : '', withState ? `h_l${k}` : `Y_h${k}`, withState ? `c_l${k}` : `Y_c${k}`],
      attribute: [attr.int('hidden_size', H)],
    })
    if (k < top) {
      if (betweenLayers === 'squeeze') squeeze(`Y${k}`, `X${k + 1}`, [1])
      x = betweenLayers === 'squeeze' ? `X${k + 1}` : `Y${k}`
    }
  })
  if (topSequenceNeeded) squeeze(`Y${top}`, 'h_seq', [1]) // [steps, batch, hidden]
  const topH = withState ? `h_l${top}` : `Y_h${top}`

  let hidden: string // the state the head reads
  if (sequence) {
    hidden = 'h_seq'
  } else if (lastStep === 'Y_h') {
    squeeze(topH, 'h_last', [0])
    hidden = 'h_last'
  } else if (lastStep === 'gather') {
    nodes.push({ name: 'gather_last', opType: 'Gather', input: ['h_seq', int64Constant([-1], true)], output: ['h_last'], attribute: [attr.int('axis', 0)] })
    hidden = 'h_last'
  } else {
    if (opset < 10) {
      nodes.push({ name: 'slice_last', opType: 'Slice', input: ['h_seq'], output: ['h_last_3d'], attribute: [attr.ints('starts', [-1]), { name: 'ends', type: onnx.AttributeProto.AttributeType.INTS, ints: ['9223372036854775807' as unknown as number] }, attr.ints('axes', [0])] })
    } else {
      nodes.push({ name: 'slice_last', opType: 'Slice', input: ['h_seq', int64Constant([-1]), int64Constant(['9223372036854775807']), int64Constant([0])], output: ['h_last_3d'] })
    }
    squeeze('h_last_3d', 'h_last', [0])
    hidden = 'h_last'
  }

  let outputSize = H
  if (head) {
    outputSize = head.weight.length / H
    const transposed = new Float32Array(H * outputSize) // [hidden][output]
    for (let o = 0; o < outputSize; o++) for (let k = 0; k < H; k++) transposed[k * outputSize + o] = head.weight[o * H + k]!
    if (headOp === 'Gemm' && !sequence) {
      initializers.push(floatTensor('fc_weight', transB ? [outputSize, H] : [H, outputSize], transB ? head.weight : transposed, floatData))
      const gemmInputs = [hidden, 'fc_weight']
      if (head.bias) {
        initializers.push(floatTensor('fc_bias', [outputSize], head.bias, floatData))
        gemmInputs.push('fc_bias')
      }
      nodes.push({ name: 'fc', opType: 'Gemm', input: gemmInputs, output: ['y'], attribute: [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', transB ? 1 : 0)] })
    } else {
      initializers.push(floatTensor('fc_weight_t', [H, outputSize], transposed, floatData))
      nodes.push({ name: 'fc_matmul', opType: 'MatMul', input: [hidden, 'fc_weight_t'], output: [head.bias ? 'fc_product' : 'y'] })
      if (head.bias) {
        initializers.push(floatTensor('fc_bias', [outputSize], head.bias, floatData))
        nodes.push({ name: 'fc_add', opType: 'Add', input: ['fc_product', 'fc_bias'], output: ['y'] })
      }
    }
  } else {
    nodes.push({ name: 'output_identity', opType: 'Identity', input: [hidden], output: ['y'] })
  }

  const outputs = [valueInfo('y', sequence ? ['steps', 'batch', outputSize] : ['batch', outputSize]), ...stateOutputs]
  if (hiddenSequence) outputs.push(valueInfo('h_seq', ['steps', 'batch', H]))
  return encodeModel({ name: 'sluice_lstm', node: nodes, initializer: initializers, input: inputs, output: outputs }, opset)
}
