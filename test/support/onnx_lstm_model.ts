// Builds ONNX models of stacked LSTMs (+ optional linear head) from LstmWeights with onnx-proto, an
// encoder independent of sluice's reader. Weights are written in ONNX's gate order (i, o, f, c), the way
// PyTorch's exporter lays the graph out: LSTM → Squeeze(axis 1) → LSTM …, then the last step → Gemm.
import { createRequire } from 'node:module'
import type { LstmWeights } from '../../lib/lstm_weights'

const { onnx } = createRequire(__filename)('onnx-proto') as typeof import('onnx-proto')
type Attribute = import('onnx-proto').onnx.IAttributeProto
type Node = import('onnx-proto').onnx.INodeProto
type Tensor = import('onnx-proto').onnx.ITensorProto

export interface OnnxLstmModelOptions {
  /** Only `output` ([batch][outputSize] head output, or [batch][hidden] without a head). Default false:
   *  also `y`, the top layer's hidden state at every step, [steps][batch][hidden]. */
  lastStepOnly?: boolean
  /** Default opset 17. Below 13, Squeeze takes its axes as an attribute; below 10, Slice too. */
  opset?: number
  /** The head as one Gemm (PyTorch's export of nn.Linear on a 2-D input), or MatMul + Add. Default Gemm. */
  headOp?: 'Gemm' | 'MatMulAdd'
  /** Gemm's transB: true (default) stores B as [output][hidden] like PyTorch; false as [hidden][output]. */
  transB?: boolean
  /** How the head reads the last step: Gather(-1) of Y (default), Slice(-1:) of Y, or Y_h. */
  lastStep?: 'gather' | 'slice' | 'Y_h'
  /** Store initializers in float_data instead of raw_data. */
  floatData?: boolean
  /** Between stacked layers: Squeeze(Y, axis 1) (default), or Y fed as it is (4-D; not runnable, reader test only). */
  betweenLayers?: 'squeeze' | 'direct'
  /** Names for the LSTM nodes, default lstm_l{k}. */
  nodeName?: (layer: number) => string
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
 * An ONNX model computing `weights` on input `x` [steps][batch][inputSize]: outputs `output` (the head on the
 * last step, or the last hidden state) and, unless lastStepOnly, `y` [steps][batch][hidden].
 */
export function buildOnnxLstmModel(weights: LstmWeights, options: OnnxLstmModelOptions = {}): Uint8Array {
  const { lastStepOnly = false, opset = 17, headOp = 'Gemm', transB = true, lastStep = 'gather', floatData = false, betweenLayers = 'squeeze' } = options
  const nodeName = options.nodeName ?? ((k: number) => `lstm_l${k}`)
  const { inputSize: I, hiddenSize: H, layers, head } = weights
  const nodes: Node[] = []
  const initializers: Tensor[] = []
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

  let x = 'x'
  layers.forEach((layer, k) => {
    const columns = k === 0 ? I : H
    const inputs = [x, `W${k}`, `R${k}`]
    initializers.push(floatTensor(`W${k}`, [1, 4 * H, columns], onnxGateOrder(layer.weightIh, H, columns), floatData))
    initializers.push(floatTensor(`R${k}`, [1, 4 * H, H], onnxGateOrder(layer.weightHh, H, H), floatData))
    if (layer.biasIh || layer.biasHh) {
      const b = new Float32Array(8 * H)
      b.set(onnxGateOrder(layer.biasIh ?? new Float32Array(4 * H), H, 1), 0)
      b.set(onnxGateOrder(layer.biasHh ?? new Float32Array(4 * H), H, 1), 4 * H)
      initializers.push(floatTensor(`B${k}`, [1, 8 * H], b, floatData))
      inputs.push(`B${k}`)
    }
    nodes.push({
      name: nodeName(k), opType: 'LSTM', input: inputs, output: [`Y${k}`, `Y_h${k}`, `Y_c${k}`],
      attribute: [attr.int('hidden_size', H)],
    })
    if (k < layers.length - 1) {
      if (betweenLayers === 'squeeze') squeeze(`Y${k}`, `X${k + 1}`, [1])
      x = betweenLayers === 'squeeze' ? `X${k + 1}` : `Y${k}`
    }
  })
  const top = layers.length - 1
  squeeze(`Y${top}`, 'y', [1]) // [steps, batch, hidden]

  let last: string
  if (lastStep === 'Y_h') {
    squeeze(`Y_h${top}`, 'h_last', [0])
  } else if (lastStep === 'gather') {
    nodes.push({ name: 'gather_last', opType: 'Gather', input: ['y', int64Constant([-1], true)], output: ['h_last'], attribute: [attr.int('axis', 0)] })
  } else if (opset < 10) {
    nodes.push({ name: 'slice_last', opType: 'Slice', input: ['y'], output: ['h_last_3d'], attribute: [attr.ints('starts', [-1]), { name: 'ends', type: onnx.AttributeProto.AttributeType.INTS, ints: ['9223372036854775807' as unknown as number] }, attr.ints('axes', [0])] })
    squeeze('h_last_3d', 'h_last', [0])
  } else {
    nodes.push({ name: 'slice_last', opType: 'Slice', input: ['y', int64Constant([-1]), int64Constant(['9223372036854775807']), int64Constant([0])], output: ['h_last_3d'] })
    squeeze('h_last_3d', 'h_last', [0])
  }
  last = 'h_last'

  let outputSize = H
  if (head) {
    outputSize = head.weight.length / H
    const transposed = new Float32Array(H * outputSize) // [hidden][output]
    for (let o = 0; o < outputSize; o++) for (let k = 0; k < H; k++) transposed[k * outputSize + o] = head.weight[o * H + k]!
    if (headOp === 'Gemm') {
      initializers.push(floatTensor('fc_weight', transB ? [outputSize, H] : [H, outputSize], transB ? head.weight : transposed, floatData))
      const inputs = [last, 'fc_weight']
      if (head.bias) {
        initializers.push(floatTensor('fc_bias', [outputSize], head.bias, floatData))
        inputs.push('fc_bias')
      }
      nodes.push({ name: 'fc', opType: 'Gemm', input: inputs, output: ['output'], attribute: [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', transB ? 1 : 0)] })
    } else {
      initializers.push(floatTensor('fc_weight_t', [H, outputSize], transposed, floatData))
      nodes.push({ name: 'fc_matmul', opType: 'MatMul', input: [last, 'fc_weight_t'], output: [head.bias ? 'fc_product' : 'output'] })
      if (head.bias) {
        initializers.push(floatTensor('fc_bias', [outputSize], head.bias, floatData))
        nodes.push({ name: 'fc_add', opType: 'Add', input: ['fc_product', 'fc_bias'], output: ['output'] })
      }
    }
  } else {
    nodes.push({ name: 'output_identity', opType: 'Identity', input: [last], output: ['output'] })
  }

  const outputs = [valueInfo('output', ['batch', outputSize])]
  if (!lastStepOnly) outputs.push(valueInfo('y', ['steps', 'batch', H]))
  return encodeModel({
    name: 'sluice_lstm', node: nodes, initializer: initializers,
    input: [valueInfo('x', ['steps', 'batch', I])], output: outputs,
  }, opset)
}
