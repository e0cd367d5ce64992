// LstmWeights from Keras models: Keras 2 HDF5 files (`model.save('m.h5')`: a `model_config` attribute and a
// `model_weights` group), Keras 3 `.keras` zips (config.json + model.weights.h5), and weights-only
// `.h5` / `.weights.h5` files with the config given separately. The model must be a chain: an optional
// InputLayer, stacked LSTM layers of one size, Dropout / SpatialDropout1D anywhere (no-ops at inference),
// and linear Dense layers as the head, folded into one linear map. Anything else is refused with
// ERR_NOT_SUPPORTED naming the layer and the attribute.
//
// Keras keeps an LSTM's kernel as [input][4·units] and its recurrent kernel as [units][4·units], columns in
// gate order i, f, c, o, with one bias of 4·units: PyTorch's order (i, f, g, o), so a transpose suffices.
import { SluiceError } from '../../runtime/errors'
import { expectAllFinite, type LinearHeadWeights, type LstmLayerWeights, type LstmWeights } from '../lstm_weights'
import { Hdf5Group, type Hdf5ReadLimits } from './hdf5'
import { modelBytes } from './model_bytes'
import { looksLikeZip, zipEntries, zipEntryBytes } from './zip'

export interface KerasOptions extends Hdf5ReadLimits {
  /**
   * The model's architecture, for weights-only files (`model.save_weights(...)`, `.weights.h5`): the JSON of
   * `model.to_json()` or a `.keras` file's config.json, as a string or parsed. Given for a file that holds its
   * own config, it replaces that config.
   */
  config?: string | object
  /**
   * The layer whose output the model returns (Keras' `Model(inputs, model.get_layer(name).output)`): the layers
   * after it are neither checked nor read. Lets sluice run the LSTM stack of a model whose head it cannot
   * compute (a Dense with 'relu', say), the rest being the caller's. Default: the model's last layer.
   */
  outputLayer?: string
}

/** What a Keras model file holds, in sluice's terms. */
export interface KerasLstm {
  weights: LstmWeights
  /** Time steps the model's input fixes, or null when the steps are `None` (any length). */
  inputSteps: number | null
  /** The top LSTM returns sequences: Keras' output is every step's (predict with `sequence: true`). */
  returnSequences: boolean
  /** The Keras layers, by name, bottom first (InputLayer excluded). */
  layerNames: string[]
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]

function unsupported(message: string): SluiceError {
  return new SluiceError(`Keras: ${message}`, 'ERR_NOT_SUPPORTED')
}
function malformed(message: string): SluiceError {
  return new SluiceError(`Keras: ${message}`, 'ERR_MALFORMED_DATA')
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Reads a Keras model file into LstmWeights (PyTorch layout) with its input shape.
 * Errors: ERR_MALFORMED_DATA for damaged files or weights that do not fit the config, ERR_NOT_SUPPORTED naming
 * the layer and attribute outside sluice's scope, ERR_INVALID_ARGUMENT for NaN/Inf weights or a bad options.config.
 */
export function readKerasModel(pathOrBytes: string | Uint8Array, options: KerasOptions = {}): KerasLstm {
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
  if (options.outputLayer !== undefined && typeof options.outputLayer !== 'string') throw new SluiceError('options.outputLayer must be a layer name', 'ERR_INVALID_TYPE')
  if (options.timeoutMs !== undefined && (typeof options.timeoutMs !== 'number' || !(options.timeoutMs >= 1) || options.timeoutMs > 2 ** 31 - 1)) {
    throw new SluiceError(`options.timeoutMs must be a number of milliseconds ≥ 1, got ${String(options.timeoutMs)}`, 'ERR_INVALID_ARGUMENT')
  }
  const given = options.config === undefined ? undefined : parseConfig(options.config, 'options.config', 'ERR_INVALID_ARGUMENT')
  const bytes = modelBytes(pathOrBytes, 'readKerasModel')
  const file = typeof pathOrBytes === 'string' ? pathOrBytes : 'Keras model'

  if (looksLikeZip(bytes)) {
    const entries = zipEntries(bytes, file)
    const configEntry = entries.get('config.json')
    const weightsEntry = entries.get('model.weights.h5')
    if (weightsEntry === undefined) {
      if (entries.has('model.weights.npz')) throw unsupported(`${file} stores its weights as model.weights.npz; only the default HDF5 weights are supported`)
      throw malformed(`${file} has no model.weights.h5`)
    }
    let config = given
    if (config === undefined) {
      if (configEntry === undefined) throw malformed(`${file} has no config.json`)
      const text = utf8(zipEntryBytes(bytes, configEntry, file), `${file}: config.json`)
      config = parseConfig(text, `${file}: config.json`, 'ERR_MALFORMED_DATA')
    }
    const h5 = Hdf5Group.open(zipEntryBytes(bytes, weightsEntry, file), `${file}: model.weights.h5`, options)
    return buildModel(config, keras3Weights(h5), options)
  }

  if (!HDF5_SIGNATURE.every((byte, i) => bytes[i] === byte)) throw malformed(`${file} is neither a .keras zip archive nor an HDF5 file`)
  const h5 = Hdf5Group.open(bytes, file, options)
  if (h5.hasAttribute('model_config') || h5.has('model_weights')) {
    const text = h5.stringAttribute('model_config')
    const config = given ?? (text === undefined ? undefined : parseConfig(text, `${file}: attribute 'model_config'`, 'ERR_MALFORMED_DATA'))
    if (config === undefined) throw new SluiceError(`Keras: ${file} holds weights only (no 'model_config'); pass options.config`, 'ERR_INVALID_ARGUMENT')
    return buildModel(config, keras2Weights(h5.has('model_weights') ? h5.group('model_weights') : h5, file), options)
  }
  if (given === undefined) throw new SluiceError(`Keras: ${file} holds weights only; pass the model's config as options.config`, 'ERR_INVALID_ARGUMENT')
  if (h5.stringListAttribute('layer_names') !== undefined) return buildModel(given, keras2Weights(h5, file), options) // Keras 2 save_weights
  return buildModel(given, keras3Weights(h5), options) // Keras 3 .weights.h5
}

/** readKerasModel's weights alone. */
export function lstmWeightsFromKeras(pathOrBytes: string | Uint8Array, options: KerasOptions = {}): LstmWeights {
  return readKerasModel(pathOrBytes, options).weights
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw malformed(`${what} is not UTF-8 text`)
  }
}

function parseConfig(config: string | object, what: string, code: 'ERR_MALFORMED_DATA' | 'ERR_INVALID_ARGUMENT'): Record<string, unknown> {
  let parsed: unknown = config
  if (typeof config === 'string') {
    try {
      parsed = JSON.parse(config)
    } catch (error) {
      throw new SluiceError(`Keras: ${what} is not JSON: ${(error as Error).message}`, code)
    }
  }
  if (!isRecord(parsed)) throw new SluiceError(`Keras: ${what} must be a JSON object (a model config)`, code)
  return parsed
}

// ---------------------------------------------------------------------------------------------------
// The architecture

/** One layer of the chain, as the config describes it. */
interface KerasLayer {
  className: string
  name: string
  config: Record<string, unknown>
}

/** Where each layer's weights are: a function from the chain's layers to the arrays, in Keras' own order. */
type WeightSource = (layers: KerasLayer[], truncated: boolean) => Map<KerasLayer, WeightArrays>
/** A layer's weight arrays in Keras' order (LSTM: kernel, recurrent_kernel[, bias]; Dense: kernel[, bias]). */
type WeightArrays = (index: number, shape: number[], what: string) => Float32Array

const noOps = new Set(['Dropout', 'SpatialDropout1D', 'InputLayer'])

/** The model's layers as a chain, checked: Sequential, or a Functional graph where each layer reads the one before. */
function chainOf(model: Record<string, unknown>): KerasLayer[] {
  const className = model.class_name
  let config = model.config
  // Keras 2.0–2.1 wrote a Sequential's config as the bare list of layers.
  if (Array.isArray(config)) config = { layers: config }
  if (!isRecord(config) || !Array.isArray(config.layers)) throw malformed(`the model config has no 'layers' list (class_name ${JSON.stringify(className)})`)
  const entries = config.layers.map((entry, k): KerasLayer & { inbound: string[] | undefined } => {
    if (!isRecord(entry) || typeof entry.class_name !== 'string' || !isRecord(entry.config)) throw malformed(`layer ${k} of the config is not { class_name, config }`)
    const name = typeof entry.config.name === 'string' ? entry.config.name : typeof entry.name === 'string' ? entry.name : `#${k}`
    return { className: entry.class_name, name, config: entry.config, inbound: entry.inbound_nodes === undefined ? undefined : inboundNames(entry.inbound_nodes, name) }
  })
  if (className === 'Sequential') return entries
  if (className !== 'Functional' && className !== 'Model') throw unsupported(`model class '${String(className)}' is not supported; save a Sequential or Functional model`)
  entries.forEach((layer, k) => {
    const inbound = layer.inbound ?? []
    if (layer.className === 'InputLayer') {
      if (k !== 0 || inbound.length !== 0) throw unsupported(`InputLayer '${layer.name}' is not the graph's only input`)
      return
    }
    const previous = entries[k - 1]
    if (inbound.length !== 1 || previous === undefined || inbound[0] !== previous.name) {
      throw unsupported(`layer '${layer.name}' reads [${inbound.join(', ')}]; sluice supports chains where each layer reads the one before it${previous ? ` ('${previous.name}')` : ''}`)
    }
  })
  const outputs = JSON.stringify(config.output_layers)
  const last = entries[entries.length - 1]
  if (last !== undefined && outputs !== undefined && !outputs.includes(JSON.stringify(last.name))) throw unsupported(`the model's output is not its last layer '${last.name}'`)
  return entries
}

/** The names of the layers a Functional layer's inbound nodes read (Keras 2 lists, Keras 3 keras_history). */
function inboundNames(nodes: unknown, layer: string): string[] {
  if (!Array.isArray(nodes)) throw malformed(`layer '${layer}': inbound_nodes is not a list`)
  if (nodes.length > 1) throw unsupported(`layer '${layer}' is called ${nodes.length} times (shared layers are not supported)`)
  const names: string[] = []
  const visit = (value: unknown, depth: number): void => {
    if (depth > 32) throw malformed(`layer '${layer}': inbound_nodes nest too deep`)
    if (Array.isArray(value)) {
      // Keras 2: [layer name, node index, tensor index, kwargs]
      if (value.length >= 3 && typeof value[0] === 'string' && typeof value[1] === 'number') {
        names.push(value[0])
        if (isRecord(value[3])) checkCallArguments(value[3], layer)
        return
      }
      value.forEach((item) => visit(item, depth + 1))
    } else if (isRecord(value)) {
      // Keras 3: { args: [...], kwargs: {...} } holding { class_name: '__keras_tensor__', config: { keras_history: [name, n, t] } }
      if (isRecord(value.config) && Array.isArray(value.config.keras_history) && typeof value.config.keras_history[0] === 'string') {
        names.push(value.config.keras_history[0])
        return
      }
      if (isRecord(value.kwargs)) checkCallArguments(value.kwargs, layer)
      visit(value.args, depth + 1)
    }
  }
  visit(nodes, 0)
  return names
}

/** A layer called with a mask or an initial state computes something sluice does not. */
function checkCallArguments(kwargs: Record<string, unknown>, layer: string): void {
  for (const key of ['mask', 'initial_state', 'constants']) {
    if (kwargs[key] !== undefined && kwargs[key] !== null) throw unsupported(`layer '${layer}' is called with '${key}', which is not supported`)
  }
}

/** An activation's name from a config value: 'tanh', or Keras 3's serialised { class_name: 'function', config: 'tanh' }. */
function activationName(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (isRecord(value)) {
    if (typeof value.config === 'string') return value.config
    if (isRecord(value.config) && typeof value.config.name === 'string') return value.config.name
    if (typeof value.class_name === 'string') return value.class_name
  }
  return undefined
}

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65536) throw malformed(`${what} is ${JSON.stringify(value)}, expected a positive integer`)
  return value
}

/** [batch, steps, features] from an InputLayer or a first layer's batch_input_shape / batch_shape / build_config. */
function inputShape(model: Record<string, unknown>, layers: KerasLayer[]): (number | null)[] | undefined {
  const shapes: unknown[] = []
  for (const layer of layers.slice(0, 2)) shapes.push(layer.config.batch_shape, layer.config.batch_input_shape)
  const modelConfig = isRecord(model.config) ? model.config : {}
  const build = isRecord(model.build_config) ? model.build_config : undefined
  shapes.push(build?.input_shape, modelConfig.build_input_shape)
  for (const shape of shapes) {
    if (shape === undefined || shape === null) continue
    if (!Array.isArray(shape) || shape.some((d) => d !== null && (typeof d !== 'number' || !Number.isInteger(d) || d < 1))) {
      throw malformed(`the model's input shape ${JSON.stringify(shape)} is not a list of positive integers or null`)
    }
    return shape as (number | null)[]
  }
  return undefined
}

function buildModel(model: Record<string, unknown>, source: WeightSource, options: KerasOptions): KerasLstm {
  let chain = chainOf(model)
  const fullLength = chain.length
  if (options.outputLayer !== undefined) {
    const index = chain.findIndex((layer) => layer.name === options.outputLayer)
    if (index < 0) throw new SluiceError(`Keras: options.outputLayer '${options.outputLayer}' is not a layer of the model (${chain.map((l) => l.name).join(', ')})`, 'ERR_INVALID_ARGUMENT')
    chain = chain.slice(0, index + 1)
  }
  const lstms: KerasLayer[] = []
  const denses: KerasLayer[] = []
  for (const layer of chain) {
    const where = `${layer.className} layer '${layer.name}'`
    if (noOps.has(layer.className)) continue
    if (layer.className === 'LSTM') {
      if (denses.length > 0) throw unsupported(`${where} follows a Dense layer; sluice runs the LSTM layers first and Dense layers as the head`)
      checkLstmConfig(layer)
      lstms.push(layer)
    } else if (layer.className === 'Dense') {
      if (lstms.length === 0) throw unsupported(`${where} comes before any LSTM; sluice runs the LSTM layers first`)
      const activation = activationName(layer.config.activation) ?? 'linear'
      if (activation !== 'linear') throw unsupported(`${where} has activation '${activation}'; sluice's head is linear (activation 'linear' or None only)`)
      denses.push(layer)
    } else {
      throw unsupported(`${where} is not supported; sluice runs InputLayer, LSTM, Dropout, SpatialDropout1D and linear Dense layers`)
    }
  }
  if (lstms.length === 0) throw unsupported('the model has no LSTM layer')
  lstms.forEach((layer, k) => {
    const sequences = layer.config.return_sequences === true
    if (k < lstms.length - 1 && !sequences) throw malformed(`LSTM layer '${layer.name}' feeds another LSTM but has return_sequences false`)
  })
  const hiddenSize = positiveInteger(lstms[0]!.config.units, `'units' of LSTM layer '${lstms[0]!.name}'`)
  for (const layer of lstms) {
    const units = positiveInteger(layer.config.units, `'units' of LSTM layer '${layer.name}'`)
    if (units !== hiddenSize) throw unsupported(`LSTM layer '${layer.name}' has units ${units}, layer '${lstms[0]!.name}' has ${hiddenSize}; sluice needs one size for all LSTM layers`)
  }

  const shape = inputShape(model, chain)
  if (shape !== undefined && shape.length !== 3) throw unsupported(`the model's input shape ${JSON.stringify(shape)} is not [batch, steps, features]`)
  const arrays = source([...lstms, ...denses], chain.length < fullLength)

  // LSTM layers: the kernel's rows fix the input size (checked against the declared input shape).
  const layers: LstmLayerWeights[] = []
  let inputSize = 0
  lstms.forEach((layer, k) => {
    const read = arrays.get(layer)!
    const where = `LSTM layer '${layer.name}'`
    const columns = 4 * hiddenSize
    const rows = k === 0 ? (shape?.[2] ?? undefined) : hiddenSize
    const kernel = read(0, rows === undefined || rows === null ? [-1, columns] : [rows, columns], `${where} kernel`)
    const inputs = kernel.length / columns
    if (k === 0) inputSize = inputs
    const recurrent = read(1, [hiddenSize, columns], `${where} recurrent_kernel`)
    const weights: LstmLayerWeights = { weightIh: transposed(kernel, inputs, columns, `${where} kernel`), weightHh: transposed(recurrent, hiddenSize, columns, `${where} recurrent_kernel`) }
    if (layer.config.use_bias !== false) weights.biasIh = finite(read(2, [columns], `${where} bias`), `${where} bias`)
    layers.push(weights)
  })

  const weights: LstmWeights = { inputSize, hiddenSize, layers }
  if (denses.length > 0) weights.head = foldDense(denses, arrays, hiddenSize)
  const steps = shape?.[1] ?? null
  return { weights, inputSteps: steps, returnSequences: lstms[lstms.length - 1]!.config.return_sequences === true, layerNames: chain.filter((l) => l.className !== 'InputLayer').map((l) => l.name) }
}

function checkLstmConfig(layer: KerasLayer): void {
  const where = `LSTM layer '${layer.name}'`
  const c = layer.config
  const activation = activationName(c.activation) ?? 'tanh'
  if (activation !== 'tanh') throw unsupported(`${where} has activation '${activation}'; only 'tanh' is supported`)
  const recurrent = activationName(c.recurrent_activation) ?? 'sigmoid'
  if (recurrent === 'hard_sigmoid') {
    throw unsupported(`${where} has recurrent_activation 'hard_sigmoid' (the default of Keras before 2.3); sluice's kernels compute 'sigmoid' only. Retrain with recurrent_activation='sigmoid'`)
  }
  if (recurrent !== 'sigmoid') throw unsupported(`${where} has recurrent_activation '${recurrent}'; only 'sigmoid' is supported`)
  for (const flag of ['go_backwards', 'stateful', 'time_major', 'return_state']) {
    if (c[flag] === true) throw unsupported(`${where} has ${flag}=True, which is not supported`)
  }
  // unroll, dropout, recurrent_dropout, unit_forget_bias, implementation and the initialisers/regularisers
  // change training or speed only: the forward pass at inference is the same.
}

/** Keras' [rows][columns] → [columns][rows] (PyTorch's [4·H][input]), refusing NaN/Inf. */
function transposed(values: Float32Array, rows: number, columns: number, what: string): Float32Array {
  finite(values, what)
  const out = new Float32Array(values.length)
  for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) out[c * rows + r] = values[r * columns + c]!
  return out
}

function finite(values: Float32Array, what: string): Float32Array {
  expectAllFinite(values, `Keras: ${what}`)
  return values
}

/**
 * Linear Dense layers y = x·K + b, one after another, as one linear map (computed in float64): K = K1·K2·…,
 * b = (b1·K2 + b2)·K3 + … . Returned in PyTorch's layout, weight [out][hidden].
 */
function foldDense(denses: KerasLayer[], arrays: Map<KerasLayer, WeightArrays>, hiddenSize: number): LinearHeadWeights {
  let width = hiddenSize
  let kernel: Float64Array = new Float64Array(hiddenSize * hiddenSize)
  for (let i = 0; i < hiddenSize; i++) kernel[i * hiddenSize + i] = 1
  let bias = new Float64Array(hiddenSize)
  for (const layer of denses) {
    const where = `Dense layer '${layer.name}'`
    const units = positiveInteger(layer.config.units, `'units' of ${where}`)
    const read = arrays.get(layer)!
    const k = finite(read(0, [width, units], `${where} kernel`), `${where} kernel`)
    const b = layer.config.use_bias === false ? new Float32Array(units) : finite(read(1, [units], `${where} bias`), `${where} bias`)
    const nextKernel = new Float64Array(hiddenSize * units)
    for (let h = 0; h < hiddenSize; h++) {
      for (let j = 0; j < width; j++) {
        const a = kernel[h * width + j]!
        if (a === 0) continue
        for (let u = 0; u < units; u++) nextKernel[h * units + u]! += a * k[j * units + u]!
      }
    }
    const nextBias = Float64Array.from(b)
    for (let j = 0; j < width; j++) for (let u = 0; u < units; u++) nextBias[u]! += bias[j]! * k[j * units + u]!
    kernel = nextKernel
    bias = nextBias
    width = units
  }
  const weight = new Float32Array(width * hiddenSize)
  for (let h = 0; h < hiddenSize; h++) for (let u = 0; u < width; u++) weight[u * hiddenSize + h] = kernel[h * width + u]!
  return { weight, bias: Float32Array.from(bias) }
}

// ---------------------------------------------------------------------------------------------------
// Where the weights are

/**
 * Keras 2 (and Keras 3's legacy .h5): the weights group lists `layer_names`; each layer's group lists its
 * `weight_names` ('lstm_1/kernel:0', 'lstm/lstm_cell/kernel:0', …: paths of datasets inside the layer's group,
 * whose names need not match the layer's). Like Keras' load_weights, the layers with weights are matched in
 * order, the config's to the file's.
 */
function keras2Weights(group: Hdf5Group, file: string): WeightSource {
  return (layers, truncated) => {
    const names = group.stringListAttribute('layer_names')
    if (names === undefined) throw malformed(`${file}: the weights group has no 'layer_names' attribute`)
    const stored: { name: string; weights: string[] }[] = []
    for (const name of names) {
      const layerGroup = group.group(name)
      const weights = layerGroup.stringListAttribute('weight_names') ?? []
      if (weights.length > 0) stored.push({ name, weights })
    }
    // A model cut at options.outputLayer uses the first layers' weights only.
    if (truncated ? stored.length < layers.length : stored.length !== layers.length) {
      throw malformed(`${file} holds weights for ${stored.length} layers [${stored.map((s) => s.name).join(', ')}], the config has ${layers.length} layers with weights [${layers.map((l) => l.name).join(', ')}]`)
    }
    const result = new Map<KerasLayer, WeightArrays>()
    layers.forEach((layer, k) => {
      const { name, weights } = stored[k]!
      const layerGroup = group.group(name)
      const expected = expectedWeightCount(layer)
      if (weights.length !== expected) throw malformed(`${file}: layer '${name}' has ${weights.length} weights [${weights.join(', ')}], ${layer.className} layer '${layer.name}' needs ${expected}`)
      result.set(layer, (index, shape, what) => readWithShape(layerGroup, weights[index]!, shape, what))
    })
    return result
  }
}

/** Keras 3: `layers/<snake_case class>[_n]/vars/0…` (an LSTM's under `cell/`), numbered per class in layer order. */
function keras3Weights(root: Hdf5Group): WeightSource {
  return (layers) => {
    const top = root.has('layers') ? 'layers' : root.has('_layer_checkpoint_dependencies') ? '_layer_checkpoint_dependencies' : undefined
    if (top === undefined) throw malformed(`${root.path || 'the weights file'} has no 'layers' group (not a Keras 3 weights file)`)
    const used = new Map<string, number>()
    const result = new Map<KerasLayer, WeightArrays>()
    // All saveable layers count towards the numbering, but only LSTM and Dense share names with these.
    for (const layer of layers) {
      const base = snakeCase(layer.className)
      const seen = used.get(base)
      used.set(base, seen === undefined ? 0 : seen + 1)
      const path = `${top}/${seen === undefined ? base : `${base}_${seen + 1}`}${layer.className === 'LSTM' ? '/cell' : ''}/vars`
      const vars = root.group(path)
      const count = vars.keys().length
      const expected = expectedWeightCount(layer)
      if (count !== expected) throw malformed(`'${path}' holds ${count} variables, ${layer.className} layer '${layer.name}' needs ${expected}`)
      result.set(layer, (index, shape, what) => readWithShape(vars, String(index), shape, what))
    }
    return result
  }
}

function expectedWeightCount(layer: KerasLayer): number {
  const bias = layer.config.use_bias === false ? 0 : 1
  return (layer.className === 'LSTM' ? 2 : 1) + bias
}

/** A dataset whose shape must be `shape` (−1: any positive size there, taken from the file). */
function readWithShape(group: Hdf5Group, name: string, shape: number[], what: string): Float32Array {
  if (!shape.includes(-1)) return group.floats(name, shape, what)
  const actual = group.shapeOf(name)
  if (actual.length !== shape.length || actual.some((d, i) => (shape[i] === -1 ? d < 1 : d !== shape[i]))) {
    throw malformed(`'${group.path}/${name}' (${what}) has shape [${actual.join(', ')}], expected [${shape.map((d) => (d === -1 ? '≥ 1' : d)).join(', ')}]`)
  }
  return group.floats(name, actual, what)
}

/** Keras' naming.to_snake_case for class names: 'LSTM' → 'lstm', 'SpatialDropout1D' → 'spatial_dropout1d'. */
function snakeCase(name: string): string {
  return name.replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()
}
