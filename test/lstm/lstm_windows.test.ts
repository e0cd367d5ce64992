// LstmWindows (keyed count windows feeding an LSTM) against a naive reference: every key's whole history
// kept in JS, its last `steps` rows (zeros in front while shorter) run through the float64 reference LSTM.
import { describe, expect, it } from 'vitest'
import { backends, LstmModel } from '../../lib/index'
import { expectSluiceError } from '../helpers'
import { lstmReference, maxAbsDiff, randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

function referenceWindows(history: Map<number, number[]>, keys: number[], steps: number, I: number): Float64Array {
  const x = new Float64Array(steps * keys.length * I)
  keys.forEach((key, b) => {
    const rows = history.get(key)!
    const n = rows.length / I
    for (let t = 0; t < steps; t++) {
      const row = n - steps + t
      if (row >= 0) for (let j = 0; j < I; j++) x[(t * keys.length + b) * I + j] = rows[row * I + j]!
    }
  })
  return x
}

const backendsToTest = ['cpu', ...(backends().cuda.available ? ['cuda'] : [])] as const

describe('LstmWindows', () => {
  for (const backend of backendsToTest) {
    it(`${backend}: each push evaluates the window of every key it touched, as the reference does`, () => {
      const random = rng(21)
      const I = 3, steps = 5, O = 2
      const weights = randomLstmWeights(random, { layers: 2, inputSize: I, hiddenSize: 12, outputSize: O })
      const model = LstmModel.fromWeights(weights, { backend })
      const windows = model.createWindows({ capacity: 64, steps })
      expect(windows.backend).toBe(backend)
      expect(windows.bytesPerKey).toBe(steps * I * 4 + 16)
      const history = new Map<number, number[]>()
      for (let batch = 0; batch < 15; batch++) {
        const n = 1 + Math.floor(random() * 40)
        // Few keys early (many repeats within a batch, some more than `steps` times), all 64 later.
        const keys = Uint32Array.from({ length: n }, () => Math.floor(random() * (batch < 7 ? 4 : 64)))
        const x = randomArray(random, n * I)
        const result = windows.push(keys, x)
        const distinct: number[] = []
        keys.forEach((key, i) => {
          if (!history.has(key)) history.set(key, [])
          history.get(key)!.push(...x.subarray(i * I, (i + 1) * I))
          if (!distinct.includes(key)) distinct.push(key)
        })
        expect(Array.from(result.keys)).toEqual(distinct)
        const expected = lstmReference(weights, referenceWindows(history, distinct, steps, I), steps, distinct.length).output
        expect(maxAbsDiff(result.output, expected)).toBeLessThanOrEqual(backend === 'cpu' ? 2e-5 : 1e-4)
      }
      windows.close()
      model.close()
    })
  }

  it('fills caller-provided outputs and returns views of the filled length; empty batches return nothing', () => {
    const random = rng(22)
    const model = LstmModel.fromWeights(randomLstmWeights(random, { layers: 1, inputSize: 2, hiddenSize: 4 }), { backend: 'cpu' })
    const windows = model.createWindows({ capacity: 10, steps: 3 })
    const keysOut = new Uint32Array(8)
    const output = new Float32Array(40)
    const result = windows.push(Uint32Array.of(3, 3, 7), randomArray(random, 6), { keys: keysOut, output })
    expect(result.keys.buffer).toBe(keysOut.buffer)
    expect(result.output.buffer).toBe(output.buffer)
    expect(Array.from(result.keys)).toEqual([3, 7])
    expect(result.output.length).toBe(2 * 4)
    const empty = windows.push(new Uint32Array(0), new Float32Array(0))
    expect(empty.keys.length).toBe(0)
    expect(empty.output.length).toBe(0)
    windows.close()
    model.close()
  })

  it('reset empties every window: the next push equals a fresh one', () => {
    const random = rng(23)
    const model = LstmModel.fromWeights(randomLstmWeights(random, { layers: 1, inputSize: 2, hiddenSize: 6, outputSize: 1 }), { backend: 'cpu' })
    const windows = model.createWindows({ capacity: 10, steps: 4 })
    const keys = Uint32Array.of(1, 2, 1)
    const x = randomArray(random, 6)
    const first = Array.from(windows.push(keys, x).output)
    expect(Array.from(windows.push(keys, x).output)).not.toEqual(first)
    windows.reset()
    expect(Array.from(windows.push(keys, x).output)).toEqual(first)
    windows.close()
    model.close()
  })

  it('bad input is refused with a stable code before any change', () => {
    const random = rng(24)
    const model = LstmModel.fromWeights(randomLstmWeights(random, { layers: 1, inputSize: 2, hiddenSize: 3 }), { backend: 'cpu' })
    expectSluiceError(() => model.createWindows({ capacity: 0, steps: 2 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.createWindows({ capacity: 5, steps: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.createWindows(null as never), 'ERR_INVALID_TYPE')
    const windows = model.createWindows({ capacity: 5, steps: 2 })
    const twin = model.createWindows({ capacity: 5, steps: 2 })
    const keys = Uint32Array.of(0, 4)
    const x = randomArray(random, 4)
    windows.push(keys, x)
    twin.push(keys, x)
    expectSluiceError(() => windows.push(Uint32Array.of(0, 5), x), 'ERR_OUT_OF_RANGE', /beyond the capacity/)
    expectSluiceError(() => windows.push(keys, x.subarray(1)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => windows.push(keys, new Float64Array(4) as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => windows.push(keys, x, { output: new Float32Array(1) }), 'ERR_INVALID_LENGTH', /out\.output/)
    expect(Array.from(windows.push(keys, x).output)).toEqual(Array.from(twin.push(keys, x).output))
    windows.close()
    expectSluiceError(() => windows.push(keys, x), 'ERR_INVALID_STATE')
    twin.close()
    model.close()
  })
})
