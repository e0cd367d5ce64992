// LstmWeights from model files: a PyTorch state_dict saved with safetensors, or an ONNX graph of LSTM
// nodes with an optional linear head. Both check every shape against the inferred sizes and name the
// tensor at fault; ONNX models are converted from ONNX's gate order (i, o, f, c) to PyTorch's (i, f, g, o).
import { SluiceError } from '../../runtime/errors'
import { expectOptions } from '../../runtime/validate'
import { checkLstmWeights, expectAllFinite, type LinearHeadWeights, type LstmLayerWeights, type LstmWeights } from '../lstm_weights'
import { modelBytes } from './model_bytes'
import { floatsOfBytes, OnnxDataType, readOnnxModel, tensorFloatBytes, tensorFloats, tensorIntegers, type OnnxAttribute, type OnnxGraph, type OnnxNode, type OnnxTensor } from './onnx'
import { readSafetensors, writeSafetensors, type SafetensorsTensor, type SafetensorsTensorInput } from './safetensors'

export interface LstmSafetensorsOptions {
  /** Key prefix of the LSTM's tensors (`lstm.` for a module attribute named `lstm`; '' for a bare nn.LSTM). */
  prefix?: string
  /** Key prefix of the linear head (`fc.weight`, `fc.bias`), or null for none. Default 'fc.'; a missing head is no error. */
  headPrefix?: string | null
  /** The number of layers the file must hold (checked, not truncated). Default: as many as the file has. */
  layers?: number
}

export interface LstmSafetensorsWriteOptions {
  prefix?: string
  headPrefix?: string
  /** String metadata stored in the file's `__metadata__`. */
  metadata?: Record<string, string>
}

const LAYER_KEY = /^(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?$/

/**
 * Reads a PyTorch nn.LSTM (+ optional nn.Linear head) state_dict saved with safetensors. Infers inputSize,
 * hiddenSize and the number of layers, and checks every shape. F32 data is used without a copy when aligned
 * (the weights then alias the given bytes); F16, BF16 and F64 are converted.
 * Errors: ERR_MALFORMED_DATA (bad file, wrong shape, missing tensor), ERR_NOT_SUPPORTED (bidirectional,
 * projections, integer dtypes), ERR_INVALID_ARGUMENT (no tensor under the prefix, layers mismatch, NaN/Inf).
 */
export function lstmWeightsFromSafetensors(pathOrBytes: string | Uint8Array, options: LstmSafetensorsOptions = {}): LstmWeights {
  expectOptions(options)
  const prefix = options.prefix ?? 'lstm.'
  const headPrefix = options.headPrefix === undefined ? 'fc.' : options.headPrefix
  if (typeof prefix !== 'string') throw new SluiceError('options.prefix must be a string', 'ERR_INVALID_TYPE')
  if (headPrefix !== null && typeof headPrefix !== 'string') throw new SluiceError('options.headPrefix must be a string or null', 'ERR_INVALID_TYPE')
  if (options.layers !== undefined && (!Number.isInteger(options.layers) || options.layers < 1)) {
    throw new SluiceError(`options.layers must be a positive integer, got ${String(options.layers)}`, 'ERR_INVALID_ARGUMENT')
  }
  const tensors = readSafetensors(modelBytes(pathOrBytes, 'lstmWeightsFromSafetensors'))

  const layerTensors = new Map<string, SafetensorsTensor>() // "weight_ih_l0" → tensor
  let headWeight: [string, SafetensorsTensor] | undefined
  let headBias: [string, SafetensorsTensor] | undefined
  let layerCount = 0
  for (const [key, tensor] of tensors) {
    if (headPrefix !== null && key.startsWith(headPrefix)) {
      const rest = key.slice(headPrefix.length)
      if (rest === 'weight') headWeight = [key, tensor]
      else if (rest === 'bias') headBias = [key, tensor]
      else throw new SluiceError(`safetensors: unexpected tensor '${key}' under the head prefix '${headPrefix}' (a linear head has only weight and bias)`, 'ERR_NOT_SUPPORTED')
      continue
    }
    if (!key.startsWith(prefix)) continue
    const match = LAYER_KEY.exec(key.slice(prefix.length))
    if (match === null) {
      throw new SluiceError(`safetensors: unexpected tensor '${key}' under the LSTM prefix '${prefix}' (nn.LSTM has weight_ih_lK, weight_hh_lK, bias_ih_lK, bias_hh_lK)`, 'ERR_NOT_SUPPORTED')
    }
    const [, kind, matrix, layerText, reverse] = match as unknown as [string, string, string, string, string | undefined]
    if (reverse !== undefined) throw new SluiceError(`safetensors: '${key}' belongs to a bidirectional LSTM, which sluice does not support`, 'ERR_NOT_SUPPORTED')
    if (matrix === 'hr') throw new SluiceError(`safetensors: '${key}' belongs to an LSTM with projections (proj_size > 0), which sluice does not support`, 'ERR_NOT_SUPPORTED')
    const layer = Number(layerText)
    if (String(layer) !== layerText || layer > 10_000) throw new SluiceError(`safetensors: unexpected tensor '${key}' (layer index ${layerText})`, 'ERR_NOT_SUPPORTED')
    layerTensors.set(`${kind}_${matrix}_l${layer}`, tensor)
    layerCount = Math.max(layerCount, layer + 1)
  }
  if (layerCount === 0) {
    const keys = [...tensors.keys()]
    throw new SluiceError(
      `safetensors: no LSTM tensor with the prefix '${prefix}' (weight_ih_l0…); the file holds ${keys.length} tensors${keys.length ? `: ${keys.slice(0, 8).join(', ')}${keys.length > 8 ? ', …' : ''}` : ''}`,
      'ERR_INVALID_ARGUMENT',
    )
  }
  if (options.layers !== undefined && options.layers !== layerCount) {
    throw new SluiceError(`safetensors: options.layers is ${options.layers} but the file holds ${layerCount} layers`, 'ERR_INVALID_ARGUMENT')
  }

  const required = (name: string): [string, SafetensorsTensor] => {
    const tensor = layerTensors.get(name)
    if (tensor === undefined) throw new SluiceError(`safetensors: '${prefix}${name}' is missing`, 'ERR_MALFORMED_DATA')
    return [prefix + name, tensor]
  }
  // weight_hh_l0 is [4·H, H]: it fixes the hidden size; weight_ih_l0 [4·H, I] then fixes the input size.
  const [hhName, hh] = required('weight_hh_l0')
  if (hh.shape.length !== 2 || hh.shape[1]! < 1 || hh.shape[0] !== 4 * hh.shape[1]!) {
    throw new SluiceError(`safetensors: '${hhName}' has shape [${hh.shape.join(', ')}], expected [4·hidden, hidden]`, 'ERR_MALFORMED_DATA')
  }
  const hiddenSize = hh.shape[1]!
  const [ihName, ih] = required('weight_ih_l0')
  if (ih.shape.length !== 2 || ih.shape[1]! < 1 || ih.shape[0] !== 4 * hiddenSize) {
    throw new SluiceError(`safetensors: '${ihName}' has shape [${ih.shape.join(', ')}], expected [${4 * hiddenSize} (4·hidden), input ≥ 1]`, 'ERR_MALFORMED_DATA')
  }
  const inputSize = ih.shape[1]!

  const layers: LstmLayerWeights[] = []
  for (let k = 0; k < layerCount; k++) {
    const layerInput = k === 0 ? inputSize : hiddenSize
    const layer: LstmLayerWeights = {
      weightIh: floats(required(`weight_ih_l${k}`), [4 * hiddenSize, layerInput]),
      weightHh: floats(required(`weight_hh_l${k}`), [4 * hiddenSize, hiddenSize]),
    }
    const biasIh = layerTensors.get(`bias_ih_l${k}`)
    const biasHh = layerTensors.get(`bias_hh_l${k}`)
    if (biasIh) layer.biasIh = floats([`${prefix}bias_ih_l${k}`, biasIh], [4 * hiddenSize])
    if (biasHh) layer.biasHh = floats([`${prefix}bias_hh_l${k}`, biasHh], [4 * hiddenSize])
    layers.push(layer)
  }

  const weights: LstmWeights = { inputSize, hiddenSize, layers }
  if (headWeight === undefined && headBias !== undefined) {
    throw new SluiceError(`safetensors: '${headBias[0]}' is present but '${headPrefix}weight' is missing`, 'ERR_MALFORMED_DATA')
  }
  if (headWeight !== undefined) {
    const [name, tensor] = headWeight
    if (tensor.shape.length !== 2 || tensor.shape[0]! < 1 || tensor.shape[1] !== hiddenSize) {
      throw new SluiceError(`safetensors: '${name}' has shape [${tensor.shape.join(', ')}], expected [output ≥ 1, ${hiddenSize} (hidden)]`, 'ERR_MALFORMED_DATA')
    }
    const outputSize = tensor.shape[0]!
    const head: LinearHeadWeights = { weight: floats(headWeight, [outputSize, hiddenSize]) }
    if (headBias !== undefined) head.bias = floats(headBias, [outputSize])
    weights.head = head
  }
  return weights
}

/** A float tensor's data after checking its shape and values. */
function floats([name, tensor]: [string, SafetensorsTensor], shape: number[]): Float32Array {
  if (tensor.dtype !== 'F32' && tensor.dtype !== 'F16' && tensor.dtype !== 'BF16' && tensor.dtype !== 'F64') {
    throw new SluiceError(`safetensors: '${name}' is ${tensor.dtype}; LSTM weights must be F32, F16, BF16 or F64`, 'ERR_NOT_SUPPORTED')
  }
  if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
    throw new SluiceError(`safetensors: '${name}' has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}]`, 'ERR_MALFORMED_DATA')
  }
  expectAllFinite(tensor.data, `safetensors: '${name}'`)
  return tensor.data
}


/**
 * Writes LstmWeights as a safetensors file with PyTorch's state_dict names (`lstm.weight_ih_l0`…, `fc.weight`),
 * readable by `safetensors.torch.load_file` and by lstmWeightsFromSafetensors. A layer with one bias only
 * gets zeros for the other (PyTorch has both or neither).
 */
export function lstmWeightsToSafetensors(weights: LstmWeights, options: LstmSafetensorsWriteOptions = {}): Uint8Array {
  expectOptions(options)
  const outputSize = checkLstmWeights(weights, { finite: true })
  const prefix = options.prefix ?? 'lstm.'
  const headPrefix = options.headPrefix ?? 'fc.'
  if (typeof prefix !== 'string') throw new SluiceError('options.prefix must be a string', 'ERR_INVALID_TYPE')
  if (typeof headPrefix !== 'string') throw new SluiceError('options.headPrefix must be a string', 'ERR_INVALID_TYPE')
  const { inputSize, hiddenSize } = weights
  if (weights.head !== undefined && (headPrefix === prefix || headPrefix.startsWith(prefix) && LAYER_KEY.test(`${headPrefix.slice(prefix.length)}weight`))) {
    throw new SluiceError('options.headPrefix must differ from options.prefix', 'ERR_INVALID_ARGUMENT')
  }
  const tensors = new Map<string, SafetensorsTensorInput>()
  const gates = 4 * hiddenSize
  weights.layers.forEach((layer, k) => {
    tensors.set(`${prefix}weight_ih_l${k}`, { shape: [gates, k === 0 ? inputSize : hiddenSize], data: layer.weightIh })
    tensors.set(`${prefix}weight_hh_l${k}`, { shape: [gates, hiddenSize], data: layer.weightHh })
    if (layer.biasIh !== undefined || layer.biasHh !== undefined) {
      tensors.set(`${prefix}bias_ih_l${k}`, { shape: [gates], data: layer.biasIh ?? new Float32Array(gates) })
      tensors.set(`${prefix}bias_hh_l${k}`, { shape: [gates], data: layer.biasHh ?? new Float32Array(gates) })
    }
  })
  if (weights.head !== undefined) {
    tensors.set(`${headPrefix}weight`, { shape: [outputSize, hiddenSize], data: weights.head.weight })
    if (weights.head.bias !== undefined) tensors.set(`${headPrefix}bias`, { shape: [outputSize], data: weights.head.bias })
  }
  return writeSafetensors(tensors, options.metadata)
}

// ---------------------------------------------------------------------------------------------------
// ONNX

/** PyTorch gate block p (i, f, g, o) comes from ONNX block onnxBlockOf[p] (ONNX order i, o, f, c). */
const onnxBlockOf = [0, 2, 3, 1] as const

/** Ops that only move, select or re-type data; anything else on the data path must be an LSTM or the head. */
const dataMovingOps = new Set(['Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Reshape', 'Transpose', 'Gather', 'Slice', 'Flatten', 'Concat', 'Shape'])
/** Ops whose output does not depend on the values of their input (only on its shape), or on no input. */
const shapeOnlyOps = new Set(['Shape', 'Size', 'Constant'])
const lstmAttributes = new Set(['activation_alpha', 'activation_beta', 'activations', 'clip', 'direction', 'hidden_size', 'input_forget', 'layout'])

interface ParsedLstm {
  node: OnnxNode
  hiddenSize: number
  inputSize: number
  layer: LstmLayerWeights
}

function unsupported(message: string): SluiceError {
  return new SluiceError(`ONNX: ${message}`, 'ERR_NOT_SUPPORTED')
}
function malformedGraph(message: string): SluiceError {
  return new SluiceError(`ONNX: ${message}`, 'ERR_MALFORMED_DATA')
}
function describeNode(node: OnnxNode): string {
  return `${node.opType} node '${node.name || `#${node.index}`}'`
}

/**
 * Reads an ONNX model of one or more stacked forward LSTM nodes (PyTorch's export: a Squeeze between layers)
 * with an optional linear head (Gemm, or MatMul + Add) on the top layer's hidden state: at the last step
 * (Y_h, or a Gather / Slice of Y's last step) or, with MatMul, at every step. Weights must be float32 initializers or Constant nodes (raw_data or float_data).
 * Errors: ERR_MALFORMED_DATA for bytes or graphs that break ONNX's rules, ERR_NOT_SUPPORTED naming the
 * feature for valid models outside that scope, ERR_INVALID_ARGUMENT for NaN/Inf weights.
 */
export function lstmWeightsFromOnnx(pathOrBytes: string | Uint8Array): LstmWeights {
  const model = readOnnxModel(modelBytes(pathOrBytes, 'lstmWeightsFromOnnx'))
  return new OnnxLstmGraph(model.graph).weights()
}

class OnnxLstmGraph {
  private readonly constants = new Map<string, OnnxTensor>()
  private readonly producers = new Map<string, OnnxNode>()
  /** Values computed from the graph's (non-initializer) inputs. */
  private readonly data = new Set<string>()
  private readonly graphInputs = new Set<string>()

  constructor(private readonly graph: OnnxGraph) {
    for (const [name, tensor] of graph.initializers) this.constants.set(name, tensor)
    const available = new Set<string>([...graph.initializers.keys(), ...graph.sparseInitializers])
    for (const input of graph.inputs) {
      available.add(input)
      if (!graph.initializers.has(input)) {
        this.data.add(input)
        this.graphInputs.add(input)
      }
    }
    for (const node of graph.nodes) {
      if (node.domain !== '' && node.domain !== 'ai.onnx') throw unsupported(`${describeNode(node)} is from domain '${node.domain}'; only standard ONNX ops are supported`)
      for (const input of node.inputs) {
        if (input !== '' && !available.has(input)) {
          throw malformedGraph(`${describeNode(node)} reads '${input}', which no earlier node, graph input or initializer produces`)
        }
      }
      const isData = !shapeOnlyOps.has(node.opType) && node.inputs.some((input) => this.data.has(input))
      if (isData && node.opType !== 'LSTM' && node.opType !== 'Gemm' && node.opType !== 'MatMul' && node.opType !== 'Add' && !dataMovingOps.has(node.opType)) {
        throw unsupported(`${describeNode(node)} computes on the model's data; sluice runs stacked LSTM layers with an optional linear head only`)
      }
      if (node.opType === 'Constant') this.addConstant(node)
      for (const output of node.outputs) {
        if (output === '') continue
        if (available.has(output)) throw malformedGraph(`'${output}' is produced twice (by ${describeNode(node)})`)
        available.add(output)
        this.producers.set(output, node)
        if (isData) this.data.add(output)
      }
    }
  }

  weights(): LstmWeights {
    const lstms = this.graph.nodes.filter((node) => node.opType === 'LSTM').map((node) => this.parseLstm(node))
    if (lstms.length === 0) throw unsupported('the graph has no LSTM node')
    const stack = this.stackOrder(lstms)
    const first = stack[0]!
    const hiddenSize = first.hiddenSize
    stack.forEach((lstm, k) => {
      if (lstm.hiddenSize !== hiddenSize) {
        throw unsupported(`${describeNode(lstm.node)} has hidden size ${lstm.hiddenSize}, layer 0 has ${hiddenSize}; sluice needs one hidden size for all layers`)
      }
      if (k > 0 && lstm.inputSize !== hiddenSize) {
        throw malformedGraph(`${describeNode(lstm.node)} takes inputs of size ${lstm.inputSize} but the layer below outputs ${hiddenSize}`)
      }
    })
    const weights: LstmWeights = { inputSize: first.inputSize, hiddenSize, layers: stack.map((lstm) => lstm.layer) }
    const head = this.head(stack[stack.length - 1]!.node, hiddenSize)
    if (head !== undefined) weights.head = head
    return weights
  }

  // -- values ----------------------------------------------------------------------------------------

  private addConstant(node: OnnxNode): void {
    const output = node.outputs[0]
    if (output === undefined || node.attributes.size !== 1) return
    const [attribute] = node.attributes.values() as unknown as [OnnxAttribute]
    const tensor = (dims: number[], dataType: number, ints: number[], floats: number[]): OnnxTensor => {
      const floatBytes = new Uint8Array(floats.length * 4)
      const view = new DataView(floatBytes.buffer)
      floats.forEach((value, i) => view.setFloat32(i * 4, value, true))
      return {
        name: output, dims, dataType, rawData: undefined, floatData: [floatBytes], int32Data: [], int64Data: ints, doubleData: [],
        external: false, segmented: false,
      }
    }
    switch (attribute.name) {
      case 'value': if (attribute.t) this.constants.set(output, attribute.t); break
      case 'value_int': if (attribute.i !== undefined) this.constants.set(output, tensor([], OnnxDataType.INT64, [attribute.i], [])); break
      case 'value_ints': this.constants.set(output, tensor([attribute.ints.length], OnnxDataType.INT64, attribute.ints, [])); break
      case 'value_float': if (attribute.f !== undefined) this.constants.set(output, tensor([], OnnxDataType.FLOAT, [], [attribute.f])); break
      case 'value_floats': this.constants.set(output, tensor([attribute.floats.length], OnnxDataType.FLOAT, [], attribute.floats)); break
      default: break
    }
  }

  /** The constant behind `name` (through Identity nodes), or undefined when it is computed. */
  private constant(name: string): OnnxTensor | undefined {
    for (let hops = 0; hops < 1000; hops++) {
      const tensor = this.constants.get(name)
      if (tensor !== undefined) return tensor
      const producer = this.producers.get(name)
      if (producer === undefined || producer.opType !== 'Identity') return undefined
      name = producer.inputs[0] ?? ''
    }
    return undefined
  }

  private requireConstant(name: string, what: string): OnnxTensor {
    const tensor = this.constant(name)
    if (tensor !== undefined) return tensor
    if (this.graph.sparseInitializers.has(name)) throw unsupported(`${what} ('${name}') is a sparse initializer`)
    const producer = this.producers.get(name)
    throw unsupported(`${what} ('${name}') is ${producer ? `computed by ${describeNode(producer)}` : 'a graph input'}; it must be an initializer or a Constant (export with constant folding)`)
  }

  private integers(name: string, what: string): number[] {
    return tensorIntegers(this.requireConstant(name, what), what)
  }

  // -- LSTM layers -------------------------------------------------------------------------------------

  private parseLstm(node: OnnxNode): ParsedLstm {
    const where = describeNode(node)
    for (const [name, attribute] of node.attributes) {
      if (!lstmAttributes.has(name)) throw unsupported(`${where} has attribute '${name}', which sluice does not support`)
      if (attribute.refAttrName !== undefined) throw unsupported(`${where}: attribute '${name}' refers to a function attribute`)
    }
    const text = (bytes: Uint8Array | undefined): string => (bytes === undefined ? '' : new TextDecoder().decode(bytes))
    const direction = text(node.attributes.get('direction')?.s) || 'forward'
    if (direction !== 'forward') throw unsupported(`${where} has direction=${direction}; only forward LSTMs are supported`)
    const activations = node.attributes.get('activations')?.strings.map(text)
    if (activations !== undefined && (activations.length !== 3 || activations.map((a) => a.toLowerCase()).join(',') !== 'sigmoid,tanh,tanh')) {
      throw unsupported(`${where} has activations [${activations.join(', ')}]; only Sigmoid, Tanh, Tanh are supported`)
    }
    if (node.attributes.has('clip')) throw unsupported(`${where} has clip=${node.attributes.get('clip')!.f}; cell clipping is not supported`)
    if ((node.attributes.get('input_forget')?.i ?? 0) !== 0) throw unsupported(`${where} has input_forget=1 (coupled input and forget gates), which is not supported`)
    if ((node.attributes.get('layout')?.i ?? 0) !== 0) throw unsupported(`${where} has layout=1 (batch-major X and Y), which is not supported; export with layout=0`)
    if (node.inputs.length > 8) throw malformedGraph(`${where} has ${node.inputs.length} inputs; LSTM has at most 8`)
    if (node.outputs.length > 3) throw malformedGraph(`${where} has ${node.outputs.length} outputs; LSTM has at most 3`)
    const [x = '', w = '', r = '', b = '', sequenceLens = '', initialH = '', initialC = '', peepholes = ''] = node.inputs
    if (x === '' || w === '' || r === '') throw malformedGraph(`${where} lacks one of its required inputs X, W, R`)
    if (sequenceLens !== '') throw unsupported(`${where} has a sequence_lens input; sequences of per-batch lengths are not supported`)
    if (peepholes !== '') throw unsupported(`${where} has peephole weights (input P), which are not supported`)
    if (!this.data.has(x)) throw unsupported(`${where}: its input X ('${x}') does not depend on the graph's inputs`)
    for (const [state, name] of [['initial_h', initialH], ['initial_c', initialC]] as const) {
      if (name !== '') this.checkInitialState(name, `${state} of ${where}`)
    }

    const W = this.requireConstant(w, `W of ${where}`)
    const R = this.requireConstant(r, `R of ${where}`)
    if (W.dims.length !== 3 || W.dims[0] !== 1 || W.dims[1]! < 4 || W.dims[1]! % 4 !== 0 || W.dims[2]! < 1) {
      throw malformedGraph(`W of ${where} ('${w}') has shape [${W.dims.join(', ')}], expected [1, 4·hidden, input]`)
    }
    const hiddenSize = W.dims[1]! / 4
    const inputSize = W.dims[2]!
    const declared = node.attributes.get('hidden_size')?.i
    if (declared !== undefined && declared !== hiddenSize) {
      throw malformedGraph(`${where} has hidden_size=${declared} but W ('${w}') has shape [${W.dims.join(', ')}] (hidden ${hiddenSize})`)
    }
    const expectDims = (tensor: OnnxTensor, name: string, role: string, dims: number[]): void => {
      if (tensor.dims.length !== dims.length || tensor.dims.some((d, i) => d !== dims[i])) {
        throw malformedGraph(`${role} of ${where} ('${name}') has shape [${tensor.dims.join(', ')}], expected [${dims.join(', ')}]`)
      }
    }
    expectDims(R, r, 'R', [1, 4 * hiddenSize, hiddenSize])
    const layer: LstmLayerWeights = {
      weightIh: gateOrdered(tensorFloatBytes(W, `W of ${where} ('${w}')`), hiddenSize, inputSize, `W of ${where} ('${w}')`),
      weightHh: gateOrdered(tensorFloatBytes(R, `R of ${where} ('${r}')`), hiddenSize, hiddenSize, `R of ${where} ('${r}')`),
    }
    if (b !== '') {
      const B = this.requireConstant(b, `B of ${where}`)
      expectDims(B, b, 'B', [1, 8 * hiddenSize])
      // B is [Wb (4H), Rb (4H)], each half in ONNX's gate order.
      const bytes = tensorFloatBytes(B, `B of ${where} ('${b}')`)
      layer.biasIh = gateOrdered(bytes.subarray(0, 16 * hiddenSize), hiddenSize, 1, `B of ${where} ('${b}')`, 0)
      layer.biasHh = gateOrdered(bytes.subarray(16 * hiddenSize), hiddenSize, 1, `B of ${where} ('${b}')`, 4 * hiddenSize)
    }
    return { node, hiddenSize, inputSize, layer }
  }

  private finiteFloats(tensor: OnnxTensor, what: string): Float32Array {
    const values = tensorFloats(tensor, what)
    expectAllFinite(values, `ONNX: ${what}`)
    return values
  }

  /**
   * An initial state is either supplied at run time (a graph input, which sluice's per-key state replaces)
   * or zeros (a constant of zeros, or ConstantOfShape / Expand of zero, as PyTorch's exporter builds it).
   */
  private checkInitialState(name: string, what: string): void {
    for (let hops = 0; hops < 1000; hops++) {
      if (this.graphInputs.has(name)) return
      const constant = this.constants.get(name)
      if (constant !== undefined) {
        if (constant.dataType === OnnxDataType.FLOAT && tensorFloats(constant, what).every((v) => v === 0)) return
        throw unsupported(`${what} ('${name}') is a non-zero constant; sluice starts every key from zero state`)
      }
      const producer = this.producers.get(name)
      if (producer === undefined) break
      if (producer.opType === 'ConstantOfShape') {
        const value = producer.attributes.get('value')?.t
        if (value === undefined || tensorFloats(value, `value of ${describeNode(producer)}`).every((v) => v === 0)) return
        throw unsupported(`${what} is filled with a non-zero value by ${describeNode(producer)}; sluice starts every key from zero state`)
      }
      if (!['Identity', 'Cast', 'Expand', 'Unsqueeze', 'Squeeze', 'Reshape', 'Tile', 'Slice', 'Gather'].includes(producer.opType)) {
        throw unsupported(`${what} ('${name}') is computed by ${describeNode(producer)}; an initial state must be zeros or a graph input`)
      }
      name = producer.inputs[0] ?? ''
    }
    throw unsupported(`${what} ('${name}') is neither zeros nor a graph input`)
  }

  /** Orders the LSTM nodes bottom-up: each layer's X must come from the previous layer's Y. */
  private stackOrder(lstms: ParsedLstm[]): ParsedLstm[] {
    const byNode = new Map(lstms.map((lstm) => [lstm.node, lstm]))
    const above = new Map<OnnxNode, ParsedLstm>()
    const bottoms: ParsedLstm[] = []
    for (const lstm of lstms) {
      const x = lstm.node.inputs[0]!
      const origin = this.traceBack(x, ['Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Reshape', 'Transpose'])
      if (origin.node === undefined) {
        if (!this.graphInputs.has(origin.name)) throw unsupported(`X of ${describeNode(lstm.node)} ('${x}') does not come from a graph input or an LSTM`)
        bottoms.push(lstm)
        continue
      }
      const below = byNode.get(origin.node)
      if (below === undefined) {
        throw unsupported(`X of ${describeNode(lstm.node)} ('${x}') comes from ${describeNode(origin.node)}, not from a graph input or the LSTM below`)
      }
      if (origin.node.outputs.indexOf(origin.name) !== 0) {
        throw unsupported(`X of ${describeNode(lstm.node)} ('${x}') is '${origin.name}' of ${describeNode(origin.node)}; stacked layers must read the previous LSTM's Y`)
      }
      const reordering = origin.path.find((node) => node.opType === 'Transpose' || node.opType === 'Unsqueeze')
      if (reordering !== undefined) throw unsupported(`${describeNode(reordering)} between ${describeNode(below.node)} and ${describeNode(lstm.node)} is not supported`)
      if (above.has(below.node)) throw unsupported(`${describeNode(below.node)} feeds two LSTM nodes; sluice supports a single stack`)
      above.set(below.node, lstm)
    }
    if (bottoms.length !== 1) throw unsupported(`the graph has ${bottoms.length} LSTM stacks reading its inputs; sluice supports exactly one`)
    const stack = [bottoms[0]!]
    for (let next = above.get(bottoms[0]!.node); next !== undefined; next = above.get(next.node)) stack.push(next)
    if (stack.length !== lstms.length) throw unsupported('the LSTM nodes do not form a single stack')
    return stack
  }

  /** Follows `name` back through nodes of `ops` (their first input) to where it comes from. */
  private traceBack(name: string, ops: string[]): { name: string; node: OnnxNode | undefined; path: OnnxNode[] } {
    const path: OnnxNode[] = []
    for (;;) {
      const node = this.producers.get(name)
      if (node === undefined || !ops.includes(node.opType) || node.outputs[0] !== name || path.length > 10_000) return { name, node, path }
      path.unshift(node)
      name = node.inputs[0] ?? ''
    }
  }

  // -- head --------------------------------------------------------------------------------------------

  private head(lastLstm: OnnxNode, hiddenSize: number): LinearHeadWeights | undefined {
    const dataNodes = (op: string) => this.graph.nodes.filter((node) => node.opType === op && node.outputs.some((output) => this.data.has(output)))
    const linear = [...dataNodes('Gemm'), ...dataNodes('MatMul')]
    const adds = dataNodes('Add')
    if (linear.length === 0) {
      if (adds.length > 0) throw unsupported(`${describeNode(adds[0]!)} adds to the model's data outside a linear head`)
      return undefined
    }
    if (linear.length > 1) throw unsupported(`the graph has ${linear.length} linear layers (${linear.map(describeNode).join(', ')}); sluice supports one head`)
    const node = linear[0]!
    const where = describeNode(node)
    const [a = '', b = '', c = ''] = node.inputs
    if (!this.data.has(a) || this.data.has(b)) throw unsupported(`${where} must multiply the LSTM's output (A) by constant weights (B)`)
    this.checkHeadInput(a, lastLstm, hiddenSize, node)

    const B = this.requireConstant(b, `B of ${where}`)
    let weight: Float32Array
    let outputSize: number
    let biasName = ''
    let biasScale = 1
    if (node.opType === 'Gemm') {
      for (const [name, attribute] of node.attributes) {
        if (!['alpha', 'beta', 'transA', 'transB'].includes(name)) throw unsupported(`${where} has attribute '${name}', which sluice does not support`)
        if (attribute.refAttrName !== undefined) throw unsupported(`${where}: attribute '${name}' refers to a function attribute`)
      }
      if ((node.attributes.get('transA')?.i ?? 0) !== 0) throw unsupported(`${where} has transA=1; the head must read the hidden state as A [batch, hidden]`)
      const transB = (node.attributes.get('transB')?.i ?? 0) !== 0
      const alpha = node.attributes.get('alpha')?.f ?? 1
      biasScale = node.attributes.get('beta')?.f ?? 1
      if (!Number.isFinite(alpha) || !Number.isFinite(biasScale)) throw new SluiceError(`ONNX: ${where} has alpha=${alpha}, beta=${biasScale}; they must be finite`, 'ERR_INVALID_ARGUMENT')
      const values = this.finiteFloats(B, `B of ${where} ('${b}')`)
      const expected = transB ? '[output, hidden]' : '[hidden, output]'
      if (B.dims.length !== 2 || B.dims[transB ? 1 : 0] !== hiddenSize || B.dims[transB ? 0 : 1]! < 1) {
        throw malformedGraph(`B of ${where} ('${b}') has shape [${B.dims.join(', ')}], expected ${expected} with hidden ${hiddenSize}`)
      }
      outputSize = B.dims[transB ? 0 : 1]!
      weight = transB ? values.slice() : transpose(values, hiddenSize, outputSize)
      if (alpha !== 1) weight = weight.map((v) => Math.fround(alpha * v))
      biasName = c
    } else {
      if (B.dims.length !== 2 || B.dims[0] !== hiddenSize || B.dims[1]! < 1) {
        throw malformedGraph(`B of ${where} ('${b}') has shape [${B.dims.join(', ')}], expected [${hiddenSize} (hidden), output]`)
      }
      outputSize = B.dims[1]!
      weight = transpose(this.finiteFloats(B, `B of ${where} ('${b}')`), hiddenSize, outputSize)
    }
    expectAllFinite(weight, `ONNX: ${where}: alpha × B`)

    for (const add of adds) {
      const [left = '', right = ''] = add.inputs
      const fromHead = left === node.outputs[0] ? right : right === node.outputs[0] ? left : undefined
      if (node.opType === 'Gemm' || fromHead === undefined || this.data.has(fromHead) || biasName !== '') {
        throw unsupported(`${describeNode(add)} adds to the model's data outside a linear head`)
      }
      biasName = fromHead
    }
    const head: LinearHeadWeights = { weight }
    if (biasName !== '') head.bias = this.headBias(biasName, outputSize, biasScale, where)
    return head
  }

  /** A bias of shape [O], [1, O], [1] or [] (broadcast), times Gemm's beta. */
  private headBias(name: string, outputSize: number, scale: number, where: string): Float32Array {
    const C = this.requireConstant(name, `the bias of ${where}`)
    const values = this.finiteFloats(C, `the bias of ${where} ('${name}')`)
    const dims = C.dims
    const last = dims[dims.length - 1] ?? 1
    if (dims.length > 2 || dims.slice(0, -1).some((d) => d !== 1) || (last !== outputSize && last !== 1)) {
      throw unsupported(`the bias of ${where} ('${name}') has shape [${dims.join(', ')}]; expected [${outputSize}], [1, ${outputSize}] or a scalar`)
    }
    const bias = new Float32Array(outputSize)
    for (let o = 0; o < outputSize; o++) bias[o] = Math.fround(scale * values[last === 1 ? 0 : o]!)
    expectAllFinite(bias, `ONNX: ${where}: beta × C`)
    return bias
  }

  /**
   * The head's input must be the top LSTM's hidden state with the hidden axis last: every step (Y), or the last
   * step (Y_h, or Y through Gather(index -1) / Slice(-1:) on the time axis), with Squeeze / Unsqueeze /
   * Transpose / Reshape / Flatten / Identity around. Axes are followed through every node.
   */
  private checkHeadInput(name: string, lastLstm: OnnxNode, hiddenSize: number, head: OnnxNode): void {
    const origin = this.traceBack(name, ['Identity', 'Cast', 'Squeeze', 'Unsqueeze', 'Transpose', 'Gather', 'Slice', 'Reshape', 'Flatten'])
    const outputIndex = origin.node === lastLstm ? lastLstm.outputs.indexOf(origin.name) : -1
    if (outputIndex < 0 || outputIndex > 1) {
      const source = origin.node === undefined ? `'${origin.name}'` : origin.node === lastLstm ? "the last LSTM's cell state Y_c" : describeNode(origin.node)
      throw unsupported(`the input of ${describeNode(head)} comes from ${source}, not from the last LSTM's hidden state`)
    }
    // Y is [time, direction, batch, hidden]; Y_h is [direction, batch, hidden] (the last step).
    let rank = outputIndex === 0 ? 4 : 3
    let time = outputIndex === 0 ? 0 : -1
    let hidden = rank - 1
    const axis = (value: number, size: number, node: OnnxNode): number => {
      const normalized = value < 0 ? value + size : value
      if (!Number.isInteger(normalized) || normalized < 0 || normalized >= size) throw malformedGraph(`${describeNode(node)} names axis ${value} of a rank-${size} tensor`)
      return normalized
    }
    const inputOrAttribute = (node: OnnxNode, attribute: string, inputIndex: number): number[] | undefined => {
      const fromAttribute = node.attributes.get(attribute)
      if (fromAttribute !== undefined) return fromAttribute.ints
      const input = node.inputs[inputIndex] ?? ''
      return input === '' ? undefined : this.integers(input, `${attribute} of ${describeNode(node)}`)
    }
    for (const node of origin.path) {
      const where = describeNode(node)
      switch (node.opType) {
        case 'Identity':
          break
        case 'Cast':
          if ((node.attributes.get('to')?.i ?? 0) !== OnnxDataType.FLOAT) throw unsupported(`${where} casts the hidden state to another type`)
          break
        case 'Squeeze': {
          const axes = inputOrAttribute(node, 'axes', 1)
          if (axes === undefined) throw unsupported(`${where} has no axes; sluice needs them to follow the hidden axis`)
          const removed = new Set(axes.map((a) => axis(a, rank, node)))
          if (removed.has(hidden)) throw malformedGraph(`${where} squeezes the hidden axis`)
          if (removed.has(time)) throw unsupported(`${where} squeezes the time axis before the last step is selected`)
          const shift = (position: number) => (position < 0 ? position : position - [...removed].filter((a) => a < position).length)
          time = shift(time)
          hidden = shift(hidden)
          rank -= removed.size
          break
        }
        case 'Unsqueeze': {
          const axes = inputOrAttribute(node, 'axes', 1)
          if (axes === undefined) throw malformedGraph(`${where} has no axes`)
          const outputRank = rank + axes.length
          const inserted = new Set(axes.map((a) => axis(a, outputRank, node)))
          const mapping: number[] = [] // input axis → output axis
          for (let out = 0; out < outputRank; out++) if (!inserted.has(out)) mapping.push(out)
          if (time >= 0) time = mapping[time]!
          hidden = mapping[hidden]!
          rank = outputRank
          break
        }
        case 'Transpose': {
          const perm = node.attributes.get('perm')?.ints ?? [...Array(rank).keys()].reverse()
          if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank)) {
            throw malformedGraph(`${where} has perm [${perm.join(', ')}] for a rank-${rank} tensor`)
          }
          if (time >= 0) time = perm.indexOf(time)
          hidden = perm.indexOf(hidden)
          break
        }
        case 'Gather': {
          const gatherAxis = axis(node.attributes.get('axis')?.i ?? 0, rank, node)
          const indices = this.requireConstant(node.inputs[1] ?? '', `indices of ${where}`)
          const values = tensorIntegers(indices, `indices of ${where}`)
          if (gatherAxis === hidden) throw unsupported(`${where} selects along the hidden axis`)
          if (gatherAxis === time) {
            if (values.length !== 1 || values[0] !== -1) throw unsupported(`${where} selects time step [${values.join(', ')}]; the head must read the last step (-1)`)
            time = -1
          }
          if (indices.dims.length > 1) throw unsupported(`${where} gathers with ${indices.dims.length}-D indices`)
          if (indices.dims.length === 0) {
            if (time > gatherAxis) time--
            if (hidden > gatherAxis) hidden--
            rank--
          }
          break
        }
        case 'Slice': {
          const starts = inputOrAttribute(node, 'starts', 1)
          const ends = inputOrAttribute(node, 'ends', 2)
          if (starts === undefined || ends === undefined || starts.length !== ends.length) throw malformedGraph(`${where} lacks matching starts and ends`)
          const axes = (inputOrAttribute(node, 'axes', 3) ?? [...starts.keys()]).map((a) => axis(a, rank, node))
          const steps = node.inputs[4] ? this.integers(node.inputs[4], `steps of ${where}`) : starts.map(() => 1)
          if (axes.length !== starts.length || steps.length !== starts.length) throw malformedGraph(`${where} has starts, ends, axes and steps of different lengths`)
          axes.forEach((sliced, i) => {
            const toTheEnd = ends[i]! >= 2 ** 31 - 1 && steps[i] === 1
            if (sliced === hidden && !(starts[i] === 0 && toTheEnd)) throw unsupported(`${where} slices the hidden axis`)
            if (sliced === time) {
              if (!(starts[i] === -1 && toTheEnd)) throw unsupported(`${where} slices time steps ${starts[i]}:${ends[i]}; the head must read the last step (-1:)`)
              time = -1
            }
          })
          break
        }
        case 'Reshape':
        case 'Flatten': {
          if (time >= 0) throw unsupported(`${where} reshapes the sequence before the last step is selected`)
          if (hidden !== rank - 1) throw unsupported(`${where} reshapes a tensor whose last axis is not the hidden one`)
          if (node.opType === 'Flatten') {
            const requested = node.attributes.get('axis')?.i ?? 1
            const flattenAxis = requested < 0 ? requested + rank : requested
            if (flattenAxis !== rank - 1) throw unsupported(`${where} with axis ${flattenAxis} merges the hidden axis with others`)
            rank = 2
          } else {
            const shape = this.integers(node.inputs[1] ?? '', `shape of ${where}`)
            if (shape[shape.length - 1] !== hiddenSize) throw unsupported(`${where} has shape [${shape.join(', ')}]; sluice follows a Reshape only when it keeps the hidden axis (${hiddenSize}) last`)
            rank = shape.length
          }
          hidden = rank - 1
          break
        }
        default:
          throw unsupported(`${where} on the way to the head is not supported`)
      }
    }
    // A head on every step (MatMul on the whole sequence) has the same weights: whether predictions return the
    // last step or every step is the caller's choice at run time, so both read the same LstmWeights.
    if (hidden !== rank - 1) throw unsupported(`${describeNode(head)} does not contract the hidden axis`)
    if (head.opType === 'Gemm' && rank !== 2) throw malformedGraph(`${describeNode(head)} reads a rank-${rank} tensor; Gemm needs rank 2`)
  }
}

/**
 * ONNX's [4H][columns] float32 rows (little-endian bytes) in gate order i, o, f, c → PyTorch's i, f, g, o, as a
 * new array, in one copy. Refuses NaN/Inf, naming the element by its position in the file.
 */
function gateOrdered(bytes: Uint8Array, hiddenSize: number, columns: number, what: string, fileOffset = 0): Float32Array {
  const blockBytes = 4 * hiddenSize * columns
  const reordered = new Uint8Array(4 * blockBytes)
  for (let gate = 0; gate < 4; gate++) reordered.set(bytes.subarray(onnxBlockOf[gate]! * blockBytes, (onnxBlockOf[gate]! + 1) * blockBytes), gate * blockBytes)
  const values = floatsOfBytes(reordered)
  let probe = 0
  for (let i = 0; i < values.length; i++) probe += values[i]! * 0
  if (probe !== 0) {
    const block = hiddenSize * columns
    const bad = values.findIndex((v) => !Number.isFinite(v))
    const fileIndex = fileOffset + onnxBlockOf[Math.floor(bad / block)]! * block + (bad % block)
    throw new SluiceError(`ONNX: ${what} holds ${values[bad]} at element ${fileIndex}; weights must be finite`, 'ERR_INVALID_ARGUMENT')
  }
  return values
}

function transpose(values: Float32Array, rows: number, columns: number): Float32Array {
  const out = new Float32Array(values.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c]!
  return out
}
