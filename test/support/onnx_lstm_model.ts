// Builds an ONNX model equivalent to an LstmWeights (PyTorch layout) for onnxruntime-node, the independent
// reference of the LSTM tests and benchmarks. One ONNX LSTM node per layer (gate rows converted from
// PyTorch's i, f, g, o to ONNX's i, o, f, c; B = [Wb, Rb]), Squeeze between layers (Y is
// [seq][num_directions][batch][hidden]), the head as Gemm on the last hidden state or MatMul + Add on the
// whole sequence.
//
// Inputs: 'x' [steps][batch][inputSize]; with `withState`, also 'h0_l{k}' and 'c0_l{k}' [1][batch][hidden].
// Outputs: 'y' ([batch][outputSize], or [steps][batch][outputSize] with `sequence`); with `withState`,
// 'h_l{k}' and 'c_l{k}' [1][batch][hidden] (each layer's final state).
import { onnx } from 'onnx-proto'
import type { LstmWeights } from '../../lib/lstm_weights'

export interface OnnxLstmOptions {
  sequence?: boolean
  withState?: boolean
}

const PYTORCH_TO_ONNX_GATES = [0, 3, 1, 2] // ONNX block j takes PyTorch block PYTORCH_TO_ONNX_GATES[j] (i, o, f, c)

function toOnnxGateOrder(w: Float32Array): Float32Array {
  const block = w.length / 4
  const out = new Float32Array(w.length)
  PYTORCH_TO_ONNX_GATES.forEach((from, to) => out.set(w.subarray(from * block, (from + 1) * block), to * block))
  return out
}

function floatTensor(name: string, dims: number[], data: Float32Array): onnx.ITensorProto {
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) }
}

function int64Tensor(name: string, values: number[]): onnx.ITensorProto {
  return { name, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: values }
}

function valueInfo(name: string, dims: (number | string)[]): onnx.IValueInfoProto {
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

/** The serialized ONNX model (opset 17). */
export function buildOnnxLstmModel(weights: LstmWeights, options: OnnxLstmOptions = {}): Uint8Array {
  const H = weights.hiddenSize
  const nodes: onnx.INodeProto[] = []
  const initializer: onnx.ITensorProto[] = [int64Tensor('axis1', [1])]
  const inputs = [valueInfo('x', ['steps', 'batch', weights.inputSize])]
  const outputs: onnx.IValueInfoProto[] = []
  let layerInput = 'x'
  weights.layers.forEach((layer, l) => {
    const inSize = l === 0 ? weights.inputSize : H
    const needSequence = options.sequence || l < weights.layers.length - 1
    initializer.push(floatTensor(`W${l}`, [1, 4 * H, inSize], toOnnxGateOrder(layer.weightIh)))
    initializer.push(floatTensor(`R${l}`, [1, 4 * H, H], toOnnxGateOrder(layer.weightHh)))
    const bias = new Float32Array(8 * H)
    if (layer.biasIh) bias.set(toOnnxGateOrder(layer.biasIh), 0)
    if (layer.biasHh) bias.set(toOnnxGateOrder(layer.biasHh), 4 * H)
    initializer.push(floatTensor(`B${l}`, [1, 8 * H], bias))
    const lstmInputs = [layerInput, `W${l}`, `R${l}`, `B${l}`]
    if (options.withState) {
      lstmInputs.push('', `h0_l${l}`, `c0_l${l}`)
      inputs.push(valueInfo(`h0_l${l}`, [1, 'batch', H]), valueInfo(`c0_l${l}`, [1, 'batch', H]))
      outputs.push(valueInfo(`h_l${l}`, [1, 'batch', H]), valueInfo(`c_l${l}`, [1, 'batch', H]))
    }
    nodes.push({
      opType: 'LSTM',
      name: `lstm${l}`,
      input: lstmInputs,
      // The top layer's Y (every step) is only produced when the sequence is asked for.
      output: [needSequence ? `Y${l}` : '', options.withState ? `h_l${l}` : `Yh${l}`, options.withState ? `c_l${l}` : `Yc${l}`],
      attribute: [{ name: 'hidden_size', type: onnx.AttributeProto.AttributeType.INT, i: H }],
    })
    if (needSequence) nodes.push({ opType: 'Squeeze', input: [`Y${l}`, 'axis1'], output: [`seq${l}`] })
    layerInput = `seq${l}`
  })
  const top = weights.layers.length - 1
  const hidden = options.sequence ? layerInput : 'lastH'
  if (!options.sequence) initializer.push(int64Tensor('axis0', [0]))
  if (!options.sequence) nodes.push({ opType: 'Squeeze', input: [options.withState ? `h_l${top}` : `Yh${top}`, 'axis0'], output: ['lastH'] })
  if (weights.head) {
    const O = weights.head.weight.length / H
    initializer.push(floatTensor('headB', [O], weights.head.bias ?? new Float32Array(O)))
    if (options.sequence) {
      const transposed = new Float32Array(H * O)
      for (let o = 0; o < O; o++) for (let k = 0; k < H; k++) transposed[k * O + o] = weights.head.weight[o * H + k]!
      initializer.push(floatTensor('headWt', [H, O], transposed))
      nodes.push({ opType: 'MatMul', input: [hidden, 'headWt'], output: ['headMul'] })
      nodes.push({ opType: 'Add', input: ['headMul', 'headB'], output: ['y'] })
    } else {
      initializer.push(floatTensor('headW', [O, H], weights.head.weight))
      nodes.push({ opType: 'Gemm', input: [hidden, 'headW', 'headB'], output: ['y'], attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }] })
    }
    outputs.unshift(valueInfo('y', options.sequence ? ['steps', 'batch', O] : ['batch', O]))
  } else {
    nodes.push({ opType: 'Identity', input: [hidden], output: ['y'] })
    outputs.unshift(valueInfo('y', options.sequence ? ['steps', 'batch', H] : ['batch', H]))
  }
  const model: onnx.IModelProto = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'sluice-tests',
    graph: { name: 'lstm', node: nodes, initializer, input: inputs, output: outputs },
  }
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish()
}
