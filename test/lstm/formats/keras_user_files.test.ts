// Checks Keras files that cannot live in this repository (no licence, or your own) against the float64
// reference: SLUICE_KERAS_FILES=a.h5:b.keras npx vitest run test/lstm/formats/keras_user_files.test.ts
// Each file's weights are read through h5wasm. A model sluice loads whole is compared forecast for forecast; a
// refused one prints why, then its LSTM stack (cut after the last LSTM that loads) is compared, and the rest of
// the model is run in float64 on sluice's output when it is Dense and Dropout layers only.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LstmModel, SluiceError } from '../../../lib/index'
import { zipEntries, zipEntryBytes } from '../../../lib/lstm/formats/zip'
import { kerasReference, readKerasWithH5wasm, type KerasModelSpec } from '../../support/keras_files'
import { maxAbsDiff, rng } from '../../support/lstm_reference'

const files = (process.env.SLUICE_KERAS_FILES ?? '').split(':').filter((f) => f !== '')

async function specOf(bytes: Uint8Array, file: string): Promise<KerasModelSpec> {
  if (bytes[0] !== 0x50) return readKerasWithH5wasm(bytes)
  const entries = zipEntries(bytes, file)
  const config = new TextDecoder().decode(zipEntryBytes(bytes, entries.get('config.json')!, file))
  return readKerasWithH5wasm(zipEntryBytes(bytes, entries.get('model.weights.h5')!, file), config)
}

function load(bytes: Uint8Array, outputLayer?: string): LstmModel | SluiceError {
  try {
    return LstmModel.fromKeras(bytes, { backend: 'cpu', threads: 1, ...(outputLayer ? { outputLayer } : {}) })
  } catch (error) {
    if (error instanceof SluiceError && error.code === 'ERR_NOT_SUPPORTED') return error
    throw error
  }
}

describe('Keras files named by SLUICE_KERAS_FILES', () => {
  if (files.length === 0) it.skip('skipped: no files named (set SLUICE_KERAS_FILES=a.h5:b.keras)', () => {})
  for (const file of files) {
    it(path.basename(file), async () => {
      const bytes = new Uint8Array(fs.readFileSync(file))
      const spec = await specOf(bytes, file)
      const steps = spec.inputShape[1] ?? 30
      const features = spec.inputShape[2]
      const batch = 3
      const random = rng(7)
      const x = Float32Array.from({ length: batch * steps * features }, () => random())
      const shape = `input [${spec.inputShape.map(String).join(', ')}], layers ${spec.layers.map((l) => `${l.className}${'units' in l ? `(${l.units}${'activation' in l && l.activation !== 'linear' ? `, ${l.activation}` : ''})` : ''}`).join(' → ')}`
      const whole = load(bytes)
      if (whole instanceof LstmModel) {
        const top = spec.layers.filter((l) => l.className === 'LSTM').at(-1) as { returnSequences: boolean }
        const out = whole.predict(x, { steps, batch, batchFirst: true, sequence: top.returnSequences })
        const diff = maxAbsDiff(out, kerasReference(spec, x, batch, steps))
        whole.close()
        console.log(`${file}: ${shape}\n  loaded whole; largest forecast difference to the float64 reference ${diff.toExponential(2)}`)
        expect(diff).toBeLessThan(1e-4)
        return
      }
      // The deepest LSTM (or the Dropout after it) that loads.
      const lstms = spec.layers.map((l, i) => [l, i] as const).filter(([l]) => l.className === 'LSTM').reverse()
      for (const [layer, index] of lstms) {
        const model = load(bytes, layer.name)
        if (!(model instanceof LstmModel)) continue
        const sequence = (layer as { returnSequences: boolean }).returnSequences
        const out = model.predict(x, { steps, batch, batchFirst: true, sequence })
        model.close()
        const lstmDiff = maxAbsDiff(out, kerasReference(spec, x, batch, steps, layer.name))
        const rest = spec.layers.slice(index + 1)
        let forecast = 'not computed (the rest is not Dense/Dropout only)'
        if (rest.every((l) => l.className === 'Dense' || l.className === 'Dropout')) {
          const width = out.length / (sequence ? batch * steps : batch)
          const restSpec: KerasModelSpec = { ...spec, inputShape: [null, sequence ? steps : 1, width], layers: rest }
          const diff = maxAbsDiff(kerasReference(restSpec, out, batch, sequence ? steps : 1), kerasReference(spec, x, batch, steps))
          forecast = diff.toExponential(2)
          expect(diff).toBeLessThan(1e-4)
        }
        console.log(`${file}: ${shape}\n  refused whole: ${whole.message}\n  outputLayer '${layer.name}': largest difference ${lstmDiff.toExponential(2)}; forecast with the rest in float64: ${forecast}`)
        expect(lstmDiff).toBeLessThan(1e-4)
        return
      }
      console.log(`${file}: ${shape}\n  refused whole: ${whole.message}; no LSTM stack loads either`)
    }, 60_000)
  }
})
