// LstmModel.fromKeras: model files written through h5wasm in both Keras layouts (Keras 2 .h5, Keras 3 .keras
// and weights-only files), every accepted layer combination compared against a float64 reference of Keras'
// own LSTM and Dense computed from the Keras-layout weights; refusals name the layer and attribute; damaged
// files only ever give SluiceErrors.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LstmModel, readKerasModel, SluiceError, type KerasOptions } from '../../../lib/index'
import { expectSluiceError, repoRoot } from '../../helpers'
import { fuzzParser, inTurn, inserted, overwritten, truncated } from '../../support/fuzz'
import {
  kerasConfig, kerasReference, randomKerasModel, writeKeras2H5, writeKeras3, writeKeras3WeightsH5, writeZip,
  type Keras2WriteOptions, type KerasModelSpec,
} from '../../support/keras_files'
import { maxAbsDiff, randomArray, rng } from '../../support/lstm_reference'
import { tempDirs } from '../../support/temp_dirs'

const tempDir = tempDirs('sluice-keras-')

/** Loads `bytes`, runs x [batch][steps][features] and returns the largest difference to Keras' reference. */
function compare(bytes: Uint8Array, spec: KerasModelSpec, options: KerasOptions = {}, steps = spec.inputShape[1] ?? 9, batch = 5): number {
  const model = LstmModel.fromKeras(bytes, { threads: 1, backend: 'cpu', ...options })
  try {
    const random = rng(steps * 101 + batch)
    const x = randomArray(random, batch * steps * spec.inputShape[2])
    const keras = readKerasModel(bytes, options)
    const expected = kerasReference(spec, x, batch, steps)
    const actual = model.predict(x, { steps, batch, batchFirst: true, sequence: keras.returnSequences })
    expect(actual.length).toBe(expected.length)
    expect(model.inputSteps).toBe(spec.inputShape[1])
    return maxAbsDiff(actual, expected)
  } finally {
    model.close()
  }
}

type Variant = [string, Parameters<typeof randomKerasModel>[1], Keras2WriteOptions?]
const variants: Variant[] = [
  ['Sequential: LSTM → Dense, fixed steps', { inputSize: 4, units: 8, lstms: 1, dense: [{ units: 1 }], steps: 12, keras: 3 }],
  ['Sequential: 2 LSTM + Dropout/SpatialDropout1D → 2 Dense (folded), steps None', { inputSize: 3, units: 16, lstms: 2, dense: [{ units: 6 }, { units: 2 }], steps: null, keras: 3, dropouts: true }],
  ['Sequential: 3 LSTM, no biases, Dense without bias', { inputSize: 5, units: 6, lstms: 3, dense: [{ units: 3, useBias: false }], steps: 7, keras: 3, useBias: false }],
  ['Sequential: LSTM only (output: the hidden state)', { inputSize: 2, units: 5, lstms: 2, dense: [], steps: null, keras: 3 }],
  ['Sequential: top LSTM returns sequences → Dense on every step', { inputSize: 3, units: 7, lstms: 2, dense: [{ units: 2 }], steps: 6, keras: 3, returnSequencesAtTop: true }],
  ['Functional: Input → LSTM → Dropout → LSTM → Dense → Dense', { inputSize: 4, units: 12, lstms: 2, dense: [{ units: 4 }, { units: 1 }], steps: 10, keras: 3, functional: true, dropouts: true }],
]

describe('LstmModel.fromKeras matches a float64 Keras reference', () => {
  for (const [name, options] of variants) {
    it(`Keras 3 .keras — ${name}`, async () => {
      const spec = randomKerasModel(rng(name.length * 7919), { ...options, keras: 3 })
      expect(compare(await writeKeras3(spec), spec)).toBeLessThan(2e-5)
    })
    it(`Keras 2 .h5 — ${name}`, async () => {
      const spec = randomKerasModel(rng(name.length * 7919), { ...options, keras: 2 })
      expect(compare(await writeKeras2H5(spec), spec)).toBeLessThan(2e-5)
    })
  }

  const spec2 = () => randomKerasModel(rng(77), { inputSize: 3, units: 8, lstms: 2, dense: [{ units: 4 }, { units: 2 }], steps: 6, keras: 2, dropouts: true })
  it('Keras 2 quirks: Keras 2.2 weight names (lstm_7/kernel:0) in groups named unlike their layers, bytes model_config, float64 weights', async () => {
    const spec = spec2()
    const renamed = { lstm: 'lstm_first', lstm_1: 'lstm_second', dense: 'dense_a', dense_1: 'dense_b' }
    const bytes = await writeKeras2H5(spec, { weightNames: 'keras22', configAsBytes: true, float64: true, groupNames: renamed })
    // The config names its layers lstm, lstm_1…; the file's groups are named otherwise: matched in order, as Keras does.
    expect(compare(bytes, spec, { config: kerasConfig({ ...spec }) })).toBeLessThan(2e-5)
    expect(compare(bytes, spec)).toBeLessThan(2e-5)
  })
  it('Keras 2.0–2.3 configs: no InputLayer, batch_input_shape on the first LSTM; a bare list of layers', async () => {
    const spec = { ...spec2(), noInputLayer: true }
    expect(compare(await writeKeras2H5(spec), spec)).toBeLessThan(2e-5)
    const config = kerasConfig(spec)
    const bare = { class_name: 'Sequential', config: (config.config as { layers: unknown[] }).layers }
    expect(compare(await writeKeras2H5(spec, { config: bare }), spec)).toBeLessThan(2e-5)
  })
  it('weights-only files with the config given: Keras 2 save_weights .h5 and Keras 3 .weights.h5', async () => {
    const spec = spec2()
    const config = kerasConfig(spec)
    expect(compare(await writeKeras2H5(spec, { weightsOnly: true }), spec, { config })).toBeLessThan(2e-5)
    const spec3 = { ...spec, keras: 3 as const }
    const weights = await writeKeras3WeightsH5(spec3)
    expect(compare(weights, spec3, { config: kerasConfig(spec3) })).toBeLessThan(2e-5)
    // Given as JSON text, too.
    expect(compare(weights, spec3, { config: JSON.stringify(kerasConfig(spec3)) })).toBeLessThan(2e-5)
    expectSluiceError(() => LstmModel.fromKeras(weights), 'ERR_INVALID_ARGUMENT', /options\.config/)
    expectSluiceError(() => LstmModel.fromKeras(weights, { config: '{not json' }), 'ERR_INVALID_ARGUMENT', /not JSON/)
  })
  it('tf.keras 2.13–2.15 .keras files: weights under _layer_checkpoint_dependencies', async () => {
    const spec = randomKerasModel(rng(17), { inputSize: 2, units: 4, lstms: 2, dense: [{ units: 1 }], steps: 5, keras: 3 })
    const weights = await writeKeras3WeightsH5(spec, { top: '_layer_checkpoint_dependencies' })
    const bytes = writeZip([['config.json', Buffer.from(JSON.stringify(kerasConfig(spec)))], ['model.weights.h5', weights]], false)
    expect(compare(bytes, spec)).toBeLessThan(2e-5)
  })
  it('a .keras zip with deflated entries', async () => {
    const spec = randomKerasModel(rng(5), { inputSize: 2, units: 4, lstms: 1, dense: [{ units: 1 }], steps: 5, keras: 3 })
    expect(compare(await writeKeras3(spec, { deflate: true }), spec)).toBeLessThan(2e-5)
  })
  it('reads a path as well as bytes, and recurrent_dropout / unroll / unit_forget_bias change nothing', async () => {
    const spec = randomKerasModel(rng(6), { inputSize: 2, units: 4, lstms: 1, dense: [{ units: 1 }], steps: 5, keras: 3 })
    ;(spec.layers[0] as { extra?: object }).extra = { unroll: true, recurrent_dropout: 0.3, dropout: 0.1, unit_forget_bias: false }
    const bytes = await writeKeras3(spec)
    const file = path.join(tempDir(), 'model.keras')
    fs.writeFileSync(file, bytes)
    const fromPath = readKerasModel(file)
    expect(fromPath.weights).toEqual(readKerasModel(bytes).weights)
    expect(compare(bytes, spec)).toBeLessThan(2e-5)
  })
})

describe('options.outputLayer', () => {
  it('cuts the model after a layer (both layouts), refusing names it lacks; the layers after it are not read', async () => {
    const spec = randomKerasModel(rng(15), { inputSize: 3, units: 6, lstms: 2, dense: [{ units: 4 }, { units: 1 }], steps: 8, keras: 3, dropouts: true })
    ;(spec.layers.find((l) => l.name === 'dense') as { activation?: string }).activation = 'relu'
    const cut: KerasModelSpec = { ...spec, layers: spec.layers.slice(0, spec.layers.findIndex((l) => l.name === 'dropout_1') + 1) }
    for (const bytes of [await writeKeras3(spec), await writeKeras2H5({ ...spec, keras: 2 })]) {
      expectSluiceError(() => readKerasModel(bytes), 'ERR_NOT_SUPPORTED', /Dense layer 'dense' has activation 'relu'/)
      expect(compare(bytes, cut, { outputLayer: 'dropout_1' })).toBeLessThan(2e-5)
      expect(readKerasModel(bytes, { outputLayer: 'lstm' }).returnSequences).toBe(true)
      expectSluiceError(() => readKerasModel(bytes, { outputLayer: 'nope' }), 'ERR_INVALID_ARGUMENT', /'nope' is not a layer of the model \(.*lstm, dropout, lstm_1/)
    }
  })
})

describe('examples/stock-forecast.js with a Keras model', () => {
  it('forecasts with the Keras file given on the command line instead of training', async () => {
    const spec = randomKerasModel(rng(16), { inputSize: 4, units: 8, lstms: 2, dense: [{ units: 1 }], steps: 15, keras: 3 })
    const file = path.join(tempDir(), 'model.keras')
    fs.writeFileSync(file, await writeKeras3(spec))
    const output = execFileSync(process.execPath, [path.join(repoRoot, 'examples', 'stock-forecast.js'), file], { encoding: 'utf8' })
    expect(output).toMatch(/Keras model .*model\.keras \(2 LSTM layers of 8, 15 steps of 4 features\)/)
    expect(output).toMatch(/LSTM +\d+\.\d+ points/)
    expect(output).not.toMatch(/epoch/)
  }, 60_000)
})

describe('LstmModel.fromKeras checks the input shape against predict', () => {
  it('fixed steps: other lengths are refused naming the model\'s shape; steps None accepts any', async () => {
    const spec = randomKerasModel(rng(8), { inputSize: 3, units: 4, lstms: 1, dense: [{ units: 1 }], steps: 10, keras: 3 })
    const model = LstmModel.fromKeras(await writeKeras3(spec), { backend: 'cpu' })
    try {
      expect(model.inputSteps).toBe(10)
      expectSluiceError(() => model.predict(new Float32Array(9 * 2 * 3), { steps: 9, batch: 2 }), 'ERR_INVALID_ARGUMENT', /steps is 9 .* 10 steps .*\[batch, 10, 3\]/)
      expectSluiceError(() => model.createWindows({ capacity: 4, steps: 5 }), 'ERR_INVALID_ARGUMENT', /10 steps/)
      expectSluiceError(() => model.predict(new Float32Array(10 * 2 * 4), { steps: 10, batch: 2 }), 'ERR_INVALID_LENGTH', /inputSize/)
      await expect(model.predictAsync(new Float32Array(3 * 3), { steps: 3, batch: 1 })).rejects.toThrow(/10 steps/)
      expect(model.predict(new Float32Array(10 * 2 * 3), { steps: 10, batch: 2 }).length).toBe(2)
    } finally {
      model.close()
    }
    const free = LstmModel.fromKeras(await writeKeras3({ ...spec, inputShape: [null, null, 3] }), { backend: 'cpu' })
    try {
      expect(free.inputSteps).toBeNull()
      expect(free.predict(new Float32Array(3 * 3), { steps: 3, batch: 1 }).length).toBe(1)
    } finally {
      free.close()
    }
  })
  it('a declared feature count that the kernel contradicts is malformed', async () => {
    const spec = await prepare(randomKerasModel(rng(9), { inputSize: 3, units: 4, lstms: 1, dense: [{ units: 1 }], steps: 10, keras: 3 }))
    const config = kerasConfig({ ...spec, inputShape: [null, 10, 5] })
    expectSluiceError(() => readKerasModel(writeZipOf(spec, config)), 'ERR_MALFORMED_DATA', /kernel.*shape \[3, 16\], expected \[5, 16\]/)
  })
})

// Synchronous .keras built from an already written weights file (kept for the refusal tests).
let cachedWeights: { spec: KerasModelSpec; bytes: Uint8Array } | undefined
function writeZipOf(spec: KerasModelSpec, config: object): Uint8Array {
  if (cachedWeights?.spec !== spec) throw new Error('call prepare(spec) first')
  return writeZip([['config.json', Buffer.from(JSON.stringify(config))], ['model.weights.h5', cachedWeights.bytes]], false)
}
async function prepare(spec: KerasModelSpec): Promise<KerasModelSpec> {
  cachedWeights = { spec, bytes: await writeKeras3WeightsH5(spec) }
  return spec
}

describe('fromKeras refuses what sluice does not compute, naming the layer and attribute', () => {
  /** Changes one layer's config entry in the model's config. */
  function edited(spec: KerasModelSpec, change: (layers: { class_name: string; config: Record<string, unknown> }[]) => void): object {
    const config = kerasConfig(spec) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }
    change(config.config.layers)
    return config
  }
  const base = () => randomKerasModel(rng(10), { inputSize: 3, units: 4, lstms: 2, dense: [{ units: 2 }], steps: 6, keras: 3 })
  const lstm = (layers: { class_name: string; config: Record<string, unknown> }[]) => layers.find((l) => l.class_name === 'LSTM')!
  const cases: [string, (layers: { class_name: string; config: Record<string, unknown> }[]) => void, RegExp][] = [
    ['go_backwards', (l) => { lstm(l).config.go_backwards = true }, /LSTM layer 'lstm' has go_backwards=True/],
    ['stateful', (l) => { lstm(l).config.stateful = true }, /LSTM layer 'lstm' has stateful=True/],
    ['time_major', (l) => { lstm(l).config.time_major = true }, /LSTM layer 'lstm' has time_major=True/],
    ['return_state', (l) => { lstm(l).config.return_state = true }, /return_state=True/],
    ['hard_sigmoid', (l) => { lstm(l).config.recurrent_activation = 'hard_sigmoid' }, /LSTM layer 'lstm' has recurrent_activation 'hard_sigmoid'.*sigmoid/],
    ['relu activation', (l) => { lstm(l).config.activation = 'relu' }, /LSTM layer 'lstm' has activation 'relu'/],
    ['Dense relu', (l) => { l.find((x) => x.class_name === 'Dense')!.config.activation = 'relu' }, /Dense layer 'dense' has activation 'relu'/],
    ['Dense sigmoid (Keras 3 serialised)', (l) => { l.find((x) => x.class_name === 'Dense')!.config.activation = { class_name: 'function', config: 'sigmoid' } }, /Dense layer 'dense' has activation 'sigmoid'/],
    ['GRU', (l) => { lstm(l).class_name = 'GRU' }, /GRU layer 'lstm' is not supported/],
    ['SimpleRNN', (l) => { lstm(l).class_name = 'SimpleRNN' }, /SimpleRNN layer 'lstm' is not supported/],
    ['Bidirectional', (l) => { lstm(l).class_name = 'Bidirectional' }, /Bidirectional layer 'lstm' is not supported/],
    ['Masking', (l) => { l.splice(1, 0, { class_name: 'Masking', config: { name: 'masking', mask_value: 0 } }) }, /Masking layer 'masking' is not supported/],
    ['units differ', (l) => { l.filter((x) => x.class_name === 'LSTM')[1]!.config.units = 5 }, /LSTM layer 'lstm_1' has units 5.*one size/],
    ['Dense before the LSTM', (l) => { l.splice(1, 0, { class_name: 'Dense', config: { name: 'pre', units: 3, activation: 'linear' } }) }, /Dense layer 'pre' comes before any LSTM/],
  ]
  for (const [name, change, message] of cases) {
    it(name, async () => {
      const spec = await prepare(base())
      expectSluiceError(() => LstmModel.fromKeras(writeZipOf(spec, edited(spec, change))), 'ERR_NOT_SUPPORTED', message)
    })
  }
  it('a Functional graph that is not a chain, and a layer called with a mask', async () => {
    const spec = await prepare({ ...base(), functional: true })
    const config = kerasConfig(spec) as { config: { layers: { name: string; inbound_nodes: unknown[] }[] } }
    const branch = structuredClone(config)
    ;(branch.config.layers[2]!.inbound_nodes[0] as { args: { config: { keras_history: unknown[] } }[] }).args[0]!.config.keras_history = ['input_layer', 0, 0]
    expectSluiceError(() => readKerasModel(writeZipOf(spec, branch)), 'ERR_NOT_SUPPORTED', /layer 'lstm_1' reads \[input_layer\].*chains/)
    const masked = structuredClone(config)
    ;(masked.config.layers[1]!.inbound_nodes[0] as { kwargs: Record<string, unknown> }).kwargs.mask = { class_name: '__keras_tensor__' }
    expectSluiceError(() => readKerasModel(writeZipOf(spec, masked)), 'ERR_NOT_SUPPORTED', /layer 'lstm' is called with 'mask'/)
  })
  it('weights that contradict the config, and NaN weights', async () => {
    const spec = await prepare(base())
    const wrongUnits = edited(spec, (l) => { for (const x of l.filter((y) => y.class_name === 'LSTM')) x.config.units = 5 })
    expectSluiceError(() => readKerasModel(writeZipOf(spec, wrongUnits)), 'ERR_MALFORMED_DATA', /recurrent_kernel|kernel/)
    const noBias = edited(spec, (l) => { lstm(l).config.use_bias = false })
    expectSluiceError(() => readKerasModel(writeZipOf(spec, noBias)), 'ERR_MALFORMED_DATA', /holds 3 variables, LSTM layer 'lstm' needs 2/)
    const bad = structuredClone(spec)
    ;(bad.layers[0] as { recurrentKernel: Float64Array }).recurrentKernel[5] = Number.NaN
    const badBytes = await writeKeras3(bad)
    expectSluiceError(() => readKerasModel(badBytes), 'ERR_INVALID_ARGUMENT', /LSTM layer 'lstm' recurrent_kernel holds NaN/)
  })
})

describe('damaged Keras files give SluiceErrors only', () => {
  const spec = randomKerasModel(rng(11), { inputSize: 3, units: 4, lstms: 2, dense: [{ units: 2 }], steps: 6, keras: 2, dropouts: true })
  // A hang in the HDF5 reader (jsfive loops for ever on some damaged B-trees) ends at the time limit (1 s
  // here) as ERR_MALFORMED_DATA.
  const load = (bytes: Uint8Array) => {
    const model = LstmModel.fromKeras(bytes, { backend: 'cpu', threads: 1, timeoutMs: 1000 })
    model.close()
  }
  it('not a model file', () => {
    expectSluiceError(() => load(new Uint8Array([1, 2, 3])), 'ERR_MALFORMED_DATA', /neither a \.keras zip archive nor an HDF5 file/)
    expectSluiceError(() => load(new Uint8Array(0)), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => LstmModel.fromKeras('/nonexistent/model.keras'), 'ERR_INVALID_ARGUMENT', /cannot read/)
    expectSluiceError(() => load(writeZip([['config.json', Buffer.from('{}')]], false)), 'ERR_MALFORMED_DATA', /no model\.weights\.h5/)
  })
  it('an HDF5 file that makes jsfive loop for ever is refused at the time limit', () => {
    // Written by the fuzz below (a damaged B-tree whose child claims its parent's level); jsfive alone hangs on it.
    const bytes = new Uint8Array(fs.readFileSync(path.join(__dirname, 'keras_hostile', 'btree_loop.h5')))
    const started = performance.now()
    expectSluiceError(() => readKerasModel(bytes, { timeoutMs: 500 }), 'ERR_MALFORMED_DATA', /could not be read within 500 ms/)
    expect(performance.now() - started).toBeLessThan(5000)
    expectSluiceError(() => readKerasModel(bytes, { timeoutMs: 0 }), 'ERR_INVALID_ARGUMENT', /timeoutMs/)
  })
  it('zip archives: an entry that inflates beyond its declared size, zip64, encryption, unknown methods', () => {
    const big = Buffer.alloc(1 << 20, 7)
    const bomb = Buffer.from(writeZip([['config.json', Buffer.from('{}')], ['model.weights.h5', big]], true))
    // Declare 100 bytes for the 1 MiB entry, in its directory entry (the second one).
    const directory = bomb.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), bomb.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])) + 1)
    bomb.writeUInt32LE(100, directory + 24)
    expectSluiceError(() => readKerasModel(bomb), 'ERR_MALFORMED_DATA', /inflate|inflates/)
    const edit = (offset: number, value: number, size: 2 | 4) => {
      const copy = Buffer.from(writeZip([['config.json', Buffer.from('{}')], ['model.weights.h5', Buffer.from('x')]], false))
      const entry = copy.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]))
      if (size === 2) copy.writeUInt16LE(value, entry + offset)
      else copy.writeUInt32LE(value, entry + offset)
      return copy
    }
    expectSluiceError(() => readKerasModel(edit(20, 0xffffffff, 4)), 'ERR_NOT_SUPPORTED', /zip64/)
    expectSluiceError(() => readKerasModel(edit(8, 1, 2)), 'ERR_NOT_SUPPORTED', /encrypted/)
    expectSluiceError(() => readKerasModel(edit(10, 14, 2)), 'ERR_NOT_SUPPORTED', /compression method 14/)
  })
  it('Keras 2 .h5: truncated, overwritten and inserted bytes', async () => {
    const valid = await writeKeras2H5(spec)
    load(valid)
    const random = rng(12)
    const codes = fuzzParser('keras .h5 fuzz', 400, inTurn(valid, [(b) => truncated(b, random), (b) => overwritten(b, random, 8), (b) => inserted(b, random, 16)]), load)
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(100)
  }, 120_000)
  it('Keras 3 .keras: truncated, overwritten and inserted bytes (the zip reader: directory checks and CRC-32)', async () => {
    const valid = await writeKeras3({ ...spec, keras: 3 })
    load(valid)
    const random = rng(13)
    const codes = fuzzParser('keras .keras fuzz', 600, inTurn(valid, [(b) => truncated(b, random), (b) => overwritten(b, random, 8), (b) => inserted(b, random, 16)]), load)
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(100)
  }, 120_000)
  it('Keras 3 model.weights.h5 damaged inside an intact zip (CRCs recomputed), and hostile configs', async () => {
    const weights = await writeKeras3WeightsH5({ ...spec, keras: 3 })
    const config = Buffer.from(JSON.stringify(kerasConfig({ ...spec, keras: 3 })))
    const random = rng(14)
    const damage = inTurn(weights, [(b) => overwritten(b, random, 8), (b) => truncated(b, random)])
    fuzzParser('keras weights fuzz', 400, (t) => writeZip([['config.json', config], ['model.weights.h5', damage(t)]], false), load)
    const hostile: unknown[] = [null, [], 'x', { class_name: 'Sequential' }, { class_name: 'Sequential', config: { layers: [null] } },
      { class_name: 'Sequential', config: { layers: [{ class_name: 'LSTM', config: { units: 1e12 } }] } },
      { class_name: 'Functional', config: { layers: [{ class_name: 'LSTM', config: { name: 'a', units: 4 }, inbound_nodes: 'x' }] } },
      { class_name: 'Sequential', config: { layers: [{ class_name: 'InputLayer', config: { batch_shape: [null, -1, 3] } }] } }]
    for (const config of hostile) {
      let thrown: unknown
      try {
        load(writeZip([['config.json', Buffer.from(JSON.stringify(config))], ['model.weights.h5', weights]], false))
      } catch (error) {
        thrown = error
      }
      expect(thrown, JSON.stringify(config)).toBeInstanceOf(SluiceError)
    }
  }, 120_000)
})
