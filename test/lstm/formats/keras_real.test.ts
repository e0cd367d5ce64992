// Real Keras files from public repositories (MIT-licensed; see keras_real/README.md): their weights are read
// through h5wasm (the HDF5 C library, independent of sluice's jsfive reader) into a float64 Keras reference,
// and sluice's forecasts are compared with it. Both models end in a Dense layer with 'relu', which sluice's
// linear head refuses; sluice runs their LSTM stacks (options.outputLayer) and the test applies the rest of
// the head in float64 to sluice's output, so the whole forecast is checked too.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LstmModel, readKerasModel } from '../../../lib/index'
import { zipEntries, zipEntryBytes } from '../../../lib/lstm/formats/zip'
import { expectSluiceError } from '../../helpers'
import { kerasReference, readKerasWithH5wasm, type KerasModelSpec } from '../../support/keras_files'
import { maxAbsDiff, rng } from '../../support/lstm_reference'

const dir = path.join(__dirname, 'keras_real')

/** The layers after `from` applied in float64 to `input` (rows of the width `from` outputs). */
function restOfModel(spec: KerasModelSpec, from: string, input: ArrayLike<number>, batch: number): Float64Array {
  const index = spec.layers.findIndex((l) => l.name === from)
  const rest: KerasModelSpec = { ...spec, inputShape: [null, 1, input.length / batch], layers: spec.layers.slice(index + 1) }
  return kerasReference(rest, input, batch, 1)
}

/** Scaled prices, as the models were trained on: values in [0, 1]. */
function input(batch: number, steps: number, features: number, seed: number): Float32Array {
  const random = rng(seed)
  return Float32Array.from({ length: batch * steps * features }, () => random())
}

describe('real Keras files', () => {
  it('Keras 3.10 legacy .h5 (model.save("lstm_model.h5")): 2 × LSTM(50), Dropouts, Dense(32, relu), Dense(1); input [60, 5]', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'lstm_model.h5')))
    const spec = await readKerasWithH5wasm(bytes)
    expect(spec.inputShape).toEqual([null, 60, 5])
    expectSluiceError(() => readKerasModel(bytes), 'ERR_NOT_SUPPORTED', /Dense layer 'dense' has activation 'relu'/)

    const model = LstmModel.fromKeras(bytes, { outputLayer: 'dropout_1', backend: 'cpu', threads: 1 })
    try {
      expect([model.inputSize, model.hiddenSize, model.numLayers, model.inputSteps, model.hasHead]).toEqual([5, 50, 2, 60, false])
      const batch = 4
      const x = input(batch, 60, 5, 1)
      const hidden = model.predict(x, { steps: 60, batch, batchFirst: true })
      const hiddenDiff = maxAbsDiff(hidden, kerasReference(spec, x, batch, 60, 'dropout_1'))
      const forecastDiff = maxAbsDiff(restOfModel(spec, 'dropout_1', hidden, batch), kerasReference(spec, x, batch, 60))
      console.log(`lstm_model.h5: largest difference to the float64 reference: LSTM output ${hiddenDiff.toExponential(2)}, forecast ${forecastDiff.toExponential(2)}`)
      expect(hiddenDiff).toBeLessThan(1e-5)
      expect(forecastDiff).toBeLessThan(1e-5)
    } finally {
      model.close()
    }
  })

  it('Keras 3.15 .keras: LSTM(64, sequences), Dropout, LSTM(32), Dropout, Dense(32, relu), Dense(30); input [60, 1]', async () => {
    const bytes = new Uint8Array(fs.readFileSync(path.join(dir, 'amd_model.keras')))
    const entries = zipEntries(bytes, 'amd_model.keras')
    const config = new TextDecoder().decode(zipEntryBytes(bytes, entries.get('config.json')!, 'amd_model.keras'))
    const spec = await readKerasWithH5wasm(zipEntryBytes(bytes, entries.get('model.weights.h5')!, 'amd_model.keras'), config)
    expect(spec.inputShape).toEqual([null, 60, 1])
    // Two refusals: the head has a relu, and the LSTMs differ in size.
    expectSluiceError(() => readKerasModel(bytes), 'ERR_NOT_SUPPORTED', /Dense layer 'dense_6' has activation 'relu'/)
    expectSluiceError(() => readKerasModel(bytes, { outputLayer: 'lstm_7' }), 'ERR_NOT_SUPPORTED', /LSTM layer 'lstm_7' has units 32, layer 'lstm_6' has 64/)

    // sluice runs the first LSTM (every step's output); the test runs the rest of the model in float64 on it.
    const model = LstmModel.fromKeras(bytes, { outputLayer: 'lstm_6', backend: 'cpu', threads: 1 })
    try {
      expect([model.inputSize, model.hiddenSize, model.numLayers, model.inputSteps]).toEqual([1, 64, 1, 60])
      const batch = 3
      const x = input(batch, 60, 1, 2)
      const sequence = model.predict(x, { steps: 60, batch, batchFirst: true, sequence: true })
      const lstmDiff = maxAbsDiff(sequence, kerasReference(spec, x, batch, 60, 'lstm_6'))
      const rest: KerasModelSpec = { ...spec, inputShape: [null, 60, 64], layers: spec.layers.slice(spec.layers.findIndex((l) => l.name === 'lstm_6') + 1) }
      const forecastDiff = maxAbsDiff(kerasReference(rest, sequence, batch, 60), kerasReference(spec, x, batch, 60))
      console.log(`amd_model.keras: largest difference to the float64 reference: lstm_6 output ${lstmDiff.toExponential(2)}, forecast (30 values) ${forecastDiff.toExponential(2)}`)
      expect(lstmDiff).toBeLessThan(1e-5)
      expect(forecastDiff).toBeLessThan(1e-4)
    } finally {
      model.close()
    }
  })
})
