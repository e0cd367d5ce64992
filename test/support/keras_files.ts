// Keras model files written the way Keras writes them, through h5wasm (the HDF5 C library compiled to
// WebAssembly: independent of the jsfive reader sluice uses), and a float64 reference of Keras' LSTM and
// Dense layers computed from the Keras-layout weights themselves (kernel [input][4·units], gates i, f, c, o).
//
// Layouts, from Keras' sources:
// - Keras 2 `model.save('m.h5')` (keras/src/legacy/saving/legacy_h5_format.py): root attributes
//   `model_config` (JSON), `keras_version`, `backend`; group `model_weights` with attribute `layer_names`
//   (fixed-length bytes) and one group per layer with attribute `weight_names`; each weight is a dataset
//   at that name inside the layer's group ('lstm/lstm_cell/kernel:0' → nested groups).
// - Keras 3 `model.save('m.keras')` (keras/src/saving/saving_lib.py): a zip (entries stored) with
//   metadata.json, config.json and model.weights.h5, whose datasets are `<path>/vars/<index>`, path
//   `layers/<snake_case class name>[_n]` and, for an LSTM, its cell's `layers/lstm/cell/vars/0..2`.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'

export interface KerasLstmSpec {
  className: 'LSTM'
  name: string
  units: number
  returnSequences: boolean
  useBias?: boolean
  /** Keras layout: [input][4·units], [units][4·units], [4·units]; gates i, f, c, o. */
  kernel: Float64Array
  recurrentKernel: Float64Array
  bias?: Float64Array
  /** Extra config entries (to test refusals). */
  extra?: Record<string, unknown>
}
export interface KerasDenseSpec {
  className: 'Dense'
  name: string
  units: number
  useBias?: boolean
  activation?: string
  kernel: Float64Array
  bias?: Float64Array
}
export interface KerasOtherSpec {
  className: string
  name: string
  extra?: Record<string, unknown>
}
export type KerasLayerSpec = KerasLstmSpec | KerasDenseSpec | KerasOtherSpec

export interface KerasModelSpec {
  /** [batch, steps, features]; steps may be null. */
  inputShape: [null, number | null, number]
  layers: KerasLayerSpec[]
  functional?: boolean
  /** Keras 2 (tf.keras) config style or Keras 3's. */
  keras: 2 | 3
  /** Keras 2 only: no InputLayer; the first layer carries batch_input_shape (Keras ≤ 2.3). */
  noInputLayer?: boolean
}

const isLstm = (layer: KerasLayerSpec): layer is KerasLstmSpec => layer.className === 'LSTM'
const isDense = (layer: KerasLayerSpec): layer is KerasDenseSpec => layer.className === 'Dense'

/** Random Keras weights for a chain of LSTMs (one size) and Dense layers, with Dropouts where asked. */
export function randomKerasModel(random: () => number, options: {
  inputSize: number; units: number; lstms: number; dense: { units: number; useBias?: boolean }[]
  steps: number | null; keras: 2 | 3; functional?: boolean; useBias?: boolean; returnSequencesAtTop?: boolean; dropouts?: boolean
}): KerasModelSpec {
  const values = (n: number, scale: number) => Float64Array.from({ length: n }, () => (2 * random() - 1) * scale)
  const layers: KerasLayerSpec[] = []
  const scale = 1 / Math.sqrt(options.units)
  for (let k = 0; k < options.lstms; k++) {
    const inputs = k === 0 ? options.inputSize : options.units
    const useBias = options.useBias ?? true
    layers.push({
      className: 'LSTM', name: k === 0 ? 'lstm' : `lstm_${k}`, units: options.units,
      returnSequences: k < options.lstms - 1 || options.returnSequencesAtTop === true, useBias,
      kernel: values(inputs * 4 * options.units, scale * 2), recurrentKernel: values(options.units * 4 * options.units, scale * 2),
      ...(useBias ? { bias: values(4 * options.units, 0.5) } : {}),
    })
    if (options.dropouts) layers.push({ className: k % 2 === 0 ? 'Dropout' : 'SpatialDropout1D', name: k === 0 ? 'dropout' : `dropout_${k}`, extra: { rate: 0.2 } })
  }
  let width = options.units
  options.dense.forEach((dense, k) => {
    const useBias = dense.useBias ?? true
    layers.push({
      className: 'Dense', name: k === 0 ? 'dense' : `dense_${k}`, units: dense.units, useBias,
      kernel: values(width * dense.units, 1 / Math.sqrt(width)), ...(useBias ? { bias: values(dense.units, 0.5) } : {}),
    })
    width = dense.units
  })
  return { inputShape: [null, options.steps, options.inputSize], layers, keras: options.keras, functional: options.functional }
}

// ---------------------------------------------------------------------------------------------------
// Reference

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v))

/**
 * Keras' forward pass in float64 on x [batch][steps][features]: the model's output, [batch][out] or (top LSTM
 * returning sequences) [batch][steps][out]. Dropout layers are identities at inference.
 */
export function kerasReference(spec: KerasModelSpec, x: ArrayLike<number>, batch: number, steps: number, outputLayer?: string): Float64Array {
  let width = spec.inputShape[2]
  let sequence = Float64Array.from(x) // [batch][steps][width]
  let perStep = true
  for (const layer of spec.layers) {
    if (isLstm(layer)) {
      const u = layer.units
      const out = new Float64Array(batch * steps * u)
      for (let b = 0; b < batch; b++) {
        const h = new Float64Array(u)
        const c = new Float64Array(u)
        for (let t = 0; t < steps; t++) {
          const z = new Float64Array(4 * u)
          for (let g = 0; g < 4 * u; g++) {
            let sum = layer.bias?.[g] ?? 0
            for (let i = 0; i < width; i++) sum += sequence[(b * steps + t) * width + i]! * layer.kernel[i * 4 * u + g]!
            for (let j = 0; j < u; j++) sum += h[j]! * layer.recurrentKernel[j * 4 * u + g]!
            z[g] = sum
          }
          for (let j = 0; j < u; j++) {
            const input = sigmoid(z[j]!)
            const forget = sigmoid(z[u + j]!)
            const candidate = Math.tanh(z[2 * u + j]!)
            const output = sigmoid(z[3 * u + j]!)
            c[j] = forget * c[j]! + input * candidate
            h[j] = output * Math.tanh(c[j]!)
          }
          out.set(h, (b * steps + t) * u)
        }
      }
      sequence = out
      width = u
      perStep = layer.returnSequences
    } else if (isDense(layer)) {
      // Applied to every row present: all steps (sequences) or the last step's rows.
      const rows = sequence.length / width
      const out = new Float64Array(rows * layer.units)
      for (let r = 0; r < rows; r++) {
        for (let o = 0; o < layer.units; o++) {
          let sum = layer.bias?.[o] ?? 0
          for (let i = 0; i < width; i++) sum += sequence[r * width + i]! * layer.kernel[i * layer.units + o]!
          out[r * layer.units + o] = activate(layer.activation ?? 'linear', sum)
        }
      }
      sequence = out
      width = layer.units
    }
    if (isLstm(layer) && !perStep) {
      // The LSTM's output is its last step only.
      const last = new Float64Array(batch * width)
      for (let b = 0; b < batch; b++) last.set(sequence.subarray((b * steps + steps - 1) * width, (b * steps + steps) * width), b * width)
      sequence = last
    }
    if (layer.name === outputLayer) break
  }
  return sequence
}

function activate(name: string, v: number): number {
  switch (name) {
    case 'linear': return v
    case 'relu': return Math.max(0, v)
    case 'tanh': return Math.tanh(v)
    case 'sigmoid': return sigmoid(v)
    default: throw new Error(`reference: activation ${name}`)
  }
}

// ---------------------------------------------------------------------------------------------------
// Configs

function lstmConfig(layer: KerasLstmSpec, keras: 2 | 3): Record<string, unknown> {
  return {
    name: layer.name, trainable: true, dtype: keras === 2 ? 'float32' : { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null },
    return_sequences: layer.returnSequences, return_state: false, go_backwards: false, stateful: false, unroll: false,
    ...(keras === 2 ? { time_major: false, implementation: 2 } : { zero_output_for_mask: false, seed: null }),
    units: layer.units, activation: 'tanh', recurrent_activation: 'sigmoid', use_bias: layer.useBias !== false,
    kernel_initializer: { module: 'keras.initializers', class_name: 'GlorotUniform', config: { seed: null }, registered_name: null },
    unit_forget_bias: true, kernel_regularizer: null, dropout: 0.0, recurrent_dropout: 0.0,
    ...layer.extra,
  }
}

function layerConfig(layer: KerasLayerSpec, keras: 2 | 3): Record<string, unknown> {
  if (isLstm(layer)) return lstmConfig(layer, keras)
  if (isDense(layer)) {
    return { name: layer.name, trainable: true, dtype: 'float32', units: layer.units, activation: layer.activation ?? 'linear', use_bias: layer.useBias !== false, kernel_initializer: { class_name: 'GlorotUniform', config: { seed: null } } }
  }
  return { name: layer.name, trainable: true, dtype: 'float32', ...(layer as KerasOtherSpec).extra }
}

/** The model's config as Keras 2 (tf.keras, model_config) or Keras 3 (config.json) writes it. */
export function kerasConfig(spec: KerasModelSpec): Record<string, unknown> {
  const { keras } = spec
  const inputName = keras === 3 ? 'input_layer' : spec.functional ? 'input_1' : 'lstm_input'
  const inputLayer = {
    ...(keras === 3 ? { module: 'keras.layers' } : {}),
    class_name: 'InputLayer',
    config: keras === 3 ? { batch_shape: spec.inputShape, dtype: 'float32', sparse: false, name: inputName } : { batch_input_shape: spec.inputShape, dtype: 'float32', sparse: false, ragged: false, name: inputName },
    ...(keras === 3 ? { registered_name: null } : {}),
  }
  const layers: Record<string, unknown>[] = spec.layers.map((layer, k) => {
    const config = layerConfig(layer, keras)
    if (k === 0 && spec.noInputLayer) config.batch_input_shape = spec.inputShape
    return { ...(keras === 3 ? { module: 'keras.layers' } : {}), class_name: layer.className, config, ...(keras === 3 ? { registered_name: null } : {}) }
  })
  if (!spec.functional) {
    const all = spec.noInputLayer ? layers : [inputLayer, ...layers]
    if (keras === 2) return { class_name: 'Sequential', config: { name: 'sequential', layers: all }, keras_version: '2.13.1', backend: 'tensorflow' }
    return {
      module: 'keras', class_name: 'Sequential', config: { name: 'sequential', trainable: true, layers: all }, registered_name: null,
      build_config: { input_shape: spec.inputShape }, compile_config: { optimizer: 'adam', loss: 'mse' },
    }
  }
  // Functional: each layer names the layer it reads.
  const names = [inputName, ...spec.layers.map((l) => l.name)]
  const graphLayers = [inputLayer, ...layers].map((layer, k) => {
    const name = names[k]!
    if (k === 0) return { ...layer, name, inbound_nodes: [] }
    const previous = names[k - 1]!
    const inbound = keras === 2
      ? [[[previous, 0, 0, {}]]]
      : [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, null, 1], dtype: 'float32', keras_history: [previous, 0, 0] } }], kwargs: { training: false, ...(spec.layers[k - 1]!.className === 'LSTM' ? { mask: null } : {}) } }]
    return { ...layer, name, inbound_nodes: inbound }
  })
  const config = { name: 'model', trainable: true, layers: graphLayers, input_layers: [[inputName, 0, 0]], output_layers: [[names[names.length - 1], 0, 0]] }
  if (keras === 2) return { class_name: 'Functional', config, keras_version: '2.13.1', backend: 'tensorflow' }
  return { module: 'keras.src.models.functional', class_name: 'Functional', config, registered_name: 'Functional', build_config: { input_shape: spec.inputShape } }
}

// ---------------------------------------------------------------------------------------------------
// Writers

type H5 = typeof import('h5wasm/node').default
type H5Group = InstanceType<H5['Group']>
let h5wasm: H5 | undefined

async function library(): Promise<H5> {
  if (h5wasm === undefined) {
    const loaded = (await import('h5wasm/node')).default
    await loaded.ready
    h5wasm = loaded
  }
  return h5wasm
}

/**
 * A Keras model file's layers and weights read through h5wasm (not through sluice's reader): Keras 2 layout
 * (`model_config` + `model_weights`) or Keras 3's model.weights.h5 with its config.json text.
 */
export async function readKerasWithH5wasm(bytes: Uint8Array, configText?: string): Promise<KerasModelSpec> {
  const h5 = await library()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-keras-'))
  const file = path.join(dir, 'model.h5')
  fs.writeFileSync(file, bytes)
  const root = new h5.File(file, 'r')
  try {
    const text = configText ?? String(root.attrs.model_config!.value)
    const config = JSON.parse(text) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }
    const floats = (dataset: unknown) => Float64Array.from((dataset as { value: Float32Array }).value)
    let shape: [null, number | null, number] = [null, null, 0]
    const layers: KerasLayerSpec[] = []
    const used = new Map<string, number>()
    let weighted = 0
    const legacy = configText === undefined
    const layerNames = legacy ? ((root.get('model_weights') as H5Group).attrs.layer_names!.value as string[]) : []
    const withWeights = legacy ? layerNames.filter((n) => ((root.get(`model_weights/${n}`) as H5Group).attrs.weight_names?.value as string[] | undefined)?.length) : []
    for (const layer of config.config.layers) {
      const c = layer.config
      // Keras ≤ 2.3 put the input shape on the first layer (and sometimes repeated it on later ones).
      if (shape[2] === 0 && Array.isArray(c.batch_input_shape)) shape = c.batch_input_shape as typeof shape
      if (layer.class_name === 'InputLayer') {
        shape = (c.batch_shape ?? c.batch_input_shape) as typeof shape
        continue
      }
      let arrays: Float64Array[] = []
      if (layer.class_name === 'LSTM' || layer.class_name === 'Dense') {
        if (legacy) {
          const group = `model_weights/${withWeights[weighted++]}`
          const names = (root.get(group) as H5Group).attrs.weight_names!.value as string[]
          arrays = names.map((n) => floats(root.get(`${group}/${n}`)))
        } else {
          const base = layer.class_name.toLowerCase()
          const seen = used.get(base)
          used.set(base, seen === undefined ? 0 : seen + 1)
          const vars = `layers/${seen === undefined ? base : `${base}_${seen + 1}`}${layer.class_name === 'LSTM' ? '/cell' : ''}/vars`
          arrays = (root.get(vars) as H5Group).keys().sort().map((k) => floats(root.get(`${vars}/${k}`)))
        }
      }
      if (layer.class_name === 'LSTM') {
        layers.push({ className: 'LSTM', name: String(c.name), units: Number(c.units), returnSequences: c.return_sequences === true, kernel: arrays[0]!, recurrentKernel: arrays[1]!, ...(arrays[2] ? { bias: arrays[2] } : {}) })
      } else if (layer.class_name === 'Dense') {
        layers.push({ className: 'Dense', name: String(c.name), units: Number(c.units), activation: String(c.activation), kernel: arrays[0]!, ...(arrays[1] ? { bias: arrays[1] } : {}) })
      } else {
        layers.push({ className: layer.class_name, name: String(c.name) })
      }
    }
    return { inputShape: shape, layers, keras: legacy ? 2 : 3 }
  } finally {
    root.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes an HDF5 file through h5wasm and returns its bytes. */
export async function writeHdf5(fill: (root: H5Group, h5: H5) => void): Promise<Uint8Array> {
  const h5 = await library()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-keras-'))
  const file = path.join(dir, 'model.h5')
  try {
    const root = new h5.File(file, 'w')
    try {
      fill(root, h5)
    } finally {
      root.close()
    }
    return new Uint8Array(fs.readFileSync(file))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** The group at `groupPath` under `root`, creating each missing level (h5wasm does not create parents). */
export function ensureGroup(root: H5Group, groupPath: string): H5Group {
  let group = root
  for (const part of groupPath.split('/').filter((p) => p !== '')) {
    if (!group.keys().includes(part)) group.create_group(part)
    group = group.get(part) as H5Group
  }
  return group
}

export function writeDataset(root: H5Group, datasetPath: string, values: Float64Array, shape: number[], dtype: 'float32' | 'float64' = 'float32'): void {
  const parts = datasetPath.split('/')
  const group = ensureGroup(root, parts.slice(0, -1).join('/'))
  group.create_dataset({ name: parts[parts.length - 1]!, data: dtype === 'float32' ? Float32Array.from(values) : values, shape })
}

/** Fixed-length bytes strings, NUL-padded to the longest, as numpy arrays of bytes are stored. */
export function writeBytesList(group: H5Group, name: string, values: string[]): void {
  if (values.length === 0) {
    group.create_attribute(name, new Float64Array(0), [0]) // Keras stores an empty list as an empty float array
    return
  }
  const width = Math.max(1, ...values.map((v) => Buffer.byteLength(v)))
  group.create_attribute(name, values, [values.length], `S${width}`)
}

function layerWeights(layer: KerasLayerSpec): { shape: number[]; values: Float64Array; suffix: string }[] {
  if (isLstm(layer)) {
    const inputs = layer.kernel.length / (4 * layer.units)
    return [
      { shape: [inputs, 4 * layer.units], values: layer.kernel, suffix: 'kernel' },
      { shape: [layer.units, 4 * layer.units], values: layer.recurrentKernel, suffix: 'recurrent_kernel' },
      ...(layer.bias ? [{ shape: [4 * layer.units], values: layer.bias, suffix: 'bias' }] : []),
    ]
  }
  if (isDense(layer)) {
    return [
      { shape: [layer.kernel.length / layer.units, layer.units], values: layer.kernel, suffix: 'kernel' },
      ...(layer.bias ? [{ shape: [layer.units], values: layer.bias, suffix: 'bias' }] : []),
    ]
  }
  return []
}

export interface Keras2WriteOptions {
  /** Weight names: 'tf2' = 'lstm/lstm_cell/kernel:0' (tf.keras 2.x), 'keras22' = 'lstm_1/kernel:0' (Keras 2.2). */
  weightNames?: 'tf2' | 'keras22'
  /** model_config as fixed-length bytes (Keras ≤ 2.2 encoded it) instead of a variable-length string. */
  configAsBytes?: boolean
  /** Weights only (model.save_weights): the layer groups at the root, no model_config. */
  weightsOnly?: boolean
  /** Store the weights as float64. */
  float64?: boolean
  /** The file's group for each layer, when it differs from the layer's name. */
  groupNames?: Record<string, string>
  /** The model_config to store (default: kerasConfig(spec)). */
  config?: Record<string, unknown>
}

/** A Keras 2 `model.save('m.h5')` (or `save_weights`) file. */
export async function writeKeras2H5(spec: KerasModelSpec, options: Keras2WriteOptions = {}): Promise<Uint8Array> {
  const config = JSON.stringify(options.config ?? kerasConfig(spec))
  return writeHdf5((root) => {
    if (!options.weightsOnly) {
      root.create_attribute('backend', 'tensorflow')
      root.create_attribute('keras_version', '2.13.1')
      if (options.configAsBytes) root.create_attribute('model_config', config, null, `S${Buffer.byteLength(config)}`)
      else root.create_attribute('model_config', config)
    }
    const weightsRoot = options.weightsOnly ? root : ensureGroup(root, 'model_weights')
    const groupName = (layer: KerasLayerSpec) => options.groupNames?.[layer.name] ?? layer.name
    const layers = spec.functional ? [{ className: 'InputLayer', name: 'input_1' } as KerasLayerSpec, ...spec.layers] : spec.layers
    writeBytesList(weightsRoot, 'layer_names', layers.map(groupName))
    weightsRoot.create_attribute('backend', 'tensorflow', null, 'S10')
    weightsRoot.create_attribute('keras_version', '2.13.1', null, 'S6')
    let cells = 0
    for (const layer of [...layers].sort((a, b) => (groupName(a) < groupName(b) ? -1 : 1))) {
      const group = ensureGroup(weightsRoot, groupName(layer))
      const weights = layerWeights(layer)
      const cell = isLstm(layer) ? (cells++ === 0 ? 'lstm_cell' : `lstm_cell_${cells - 1}`) : undefined
      const names = weights.map((w) => (options.weightNames === 'keras22' ? `${layer.name}_7/${w.suffix}:0` : `${layer.name}/${cell ? `${cell}/` : ''}${w.suffix}:0`))
      writeBytesList(group, 'weight_names', names)
      weights.forEach((w, i) => writeDataset(group, names[i]!, w.values, w.shape, options.float64 ? 'float64' : 'float32'))
    }
  })
}

/** Keras 3's model.weights.h5 (also a `.weights.h5` file by itself). */
export async function writeKeras3WeightsH5(spec: KerasModelSpec, options: { top?: string } = {}): Promise<Uint8Array> {
  const top = options.top ?? 'layers' // tf.keras 2.13–2.15 wrote '_layer_checkpoint_dependencies'
  return writeHdf5((root) => {
    ensureGroup(root, 'vars') // the model's own (none)
    const used = new Map<string, number>()
    for (const layer of spec.layers) {
      const base = layer.className.replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()
      const seen = used.get(base)
      used.set(base, seen === undefined ? 0 : seen + 1)
      const layerPath = `${top}/${seen === undefined ? base : `${base}_${seen + 1}`}`
      ensureGroup(root, `${layerPath}/vars`)
      const varsPath = isLstm(layer) ? `${layerPath}/cell/vars` : `${layerPath}/vars`
      ensureGroup(root, varsPath)
      layerWeights(layer).forEach((w, i) => writeDataset(root, `${varsPath}/${i}`, w.values, w.shape))
    }
    // The optimizer's state sits beside the layers; a loader must ignore it.
    writeDataset(root, 'optimizer/vars/0', Float64Array.of(100), [])
  })
}

/** A Keras 3 `.keras` file: a zip of metadata.json, config.json and model.weights.h5. */
export async function writeKeras3(spec: KerasModelSpec, options: { deflate?: boolean; config?: Record<string, unknown> } = {}): Promise<Uint8Array> {
  const weights = await writeKeras3WeightsH5(spec)
  return writeZip([
    ['metadata.json', Buffer.from(JSON.stringify({ keras_version: '3.6.0', date_saved: '2026-12-03@07:00:00' }))],
    ['config.json', Buffer.from(JSON.stringify(options.config ?? kerasConfig(spec)))],
    ['model.weights.h5', weights],
  ], options.deflate ?? false)
}

/** A zip archive (stored or deflated entries), as Python's zipfile writes one. */
export function writeZip(files: [string, Uint8Array][], deflate: boolean): Uint8Array {
  const locals: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, data] of files) {
    const nameBytes = Buffer.from(name)
    const body = deflate ? zlib.deflateRawSync(data) : Buffer.from(data)
    const crc = zlib.crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt16LE(deflate ? 8 : 0, 8)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(body.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(nameBytes.length, 26)
    const entry = Buffer.alloc(46)
    entry.writeUInt32LE(0x02014b50, 0)
    entry.writeUInt16LE(20, 4)
    entry.writeUInt16LE(20, 6)
    entry.writeUInt16LE(deflate ? 8 : 0, 10)
    entry.writeUInt32LE(crc, 16)
    entry.writeUInt32LE(body.length, 20)
    entry.writeUInt32LE(data.length, 24)
    entry.writeUInt16LE(nameBytes.length, 28)
    entry.writeUInt32LE(offset, 42)
    locals.push(local, nameBytes, body)
    central.push(entry, nameBytes)
    offset += 30 + nameBytes.length + body.length
  }
  const directory = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0)
  end.writeUInt16LE(files.length, 8)
  end.writeUInt16LE(files.length, 10)
  end.writeUInt32LE(directory.length, 12)
  end.writeUInt32LE(offset, 16)
  return new Uint8Array(Buffer.concat([...locals, directory, end]))
}
