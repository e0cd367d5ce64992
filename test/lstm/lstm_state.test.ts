// LstmState: per-key streaming equals running whole sequences, agrees with onnxruntime-node run one step
// at a time with the states passed in and out, and rejects bad keys before any change.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { LstmModel } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import { expectSluiceError } from '../helpers'
import { buildOnnxLstmModel } from '../support/onnx_lstm_model'
import { maxAbsDiff, randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

const ort = createRequire(__filename)('onnxruntime-node')

/** x [steps][batch][I] → the rows of step t, for keys listed in `order` (indices into the batch). */
function rowsAt(x: Float32Array, t: number, batch: number, I: number, order: number[]): Float32Array {
  const rows = new Float32Array(order.length * I)
  order.forEach((b, j) => rows.set(x.subarray((t * batch + b) * I, (t * batch + b + 1) * I), j * I))
  return rows
}

describe('LstmState streaming', () => {
  it('stepping keys one step at a time equals predict over the whole sequence, for any key order', () => {
    const random = rng(1)
    const weights = randomLstmWeights(random, { layers: 3, inputSize: 6, hiddenSize: 21, outputSize: 4 })
    const model = LstmModel.fromWeights(weights, { threads: 2 })
    const steps = 7, batch = 40, I = 6, O = 4
    const x = randomArray(random, steps * batch * I)
    const whole = model.predict(x, { steps, batch, sequence: true })
    const state = model.createState({ capacity: 1000 })
    const keyOf = (b: number) => 999 - 7 * b
    for (let t = 0; t < steps; t++) {
      const order = Array.from({ length: batch }, (_, j) => (j * 3 + t * 11) % batch) // a permutation per step
      const out = state.step(Uint32Array.from(order, keyOf), rowsAt(x, t, batch, I, order))
      order.forEach((b, j) => expect(Array.from(out.subarray(j * O, (j + 1) * O))).toEqual(Array.from(whole.subarray((t * batch + b) * O, (t * batch + b + 1) * O))))
    }
    state.close()
    model.close()
  })

  it('keys can step at different rates; a key’s output depends only on its own inputs', () => {
    const random = rng(2)
    const weights = randomLstmWeights(random, { layers: 1, inputSize: 3, hiddenSize: 9 })
    const model = LstmModel.fromWeights(weights)
    const a = randomArray(random, 5 * 3)
    const single = model.predict(a, { steps: 5, batch: 1, sequence: true })
    const state = model.createState({ capacity: 10 })
    for (let t = 0; t < 5; t++) {
      if (t % 2 === 0) state.step(Uint32Array.of(4), randomArray(random, 3)) // another key, stepping now and then
      const out = state.step(Uint32Array.of(7), a.subarray(t * 3, t * 3 + 3))
      expect(Array.from(out)).toEqual(Array.from(single.subarray(t * 9, t * 9 + 9)))
    }
    model.close()
  })

  it('reset(keys) restarts those keys from zero state; reset() restarts all', () => {
    const random = rng(3)
    const model = LstmModel.fromWeights(randomLstmWeights(random, { layers: 2, inputSize: 2, hiddenSize: 5, outputSize: 1 }))
    const state = model.createState({ capacity: 4 })
    const keys = Uint32Array.of(0, 1, 2, 3)
    const x0 = randomArray(random, 8), x1 = randomArray(random, 8)
    const fresh = Array.from(state.step(keys, x0))
    state.step(keys, x1)
    state.reset(Uint32Array.of(2))
    const again = state.step(keys, x0)
    expect(again[2]).toBe(fresh[2])
    expect(again[1]).not.toBe(fresh[1])
    state.reset()
    expect(Array.from(state.step(keys, x0))).toEqual(fresh)
    model.close()
  })
})

describe('LstmState agrees with onnxruntime-node stepping with initial_h/initial_c', () => {
  for (const shape of [{ layers: 1, inputSize: 16, hiddenSize: 128, outputSize: 0 }, { layers: 2, inputSize: 5, hiddenSize: 30, outputSize: 3 }]) {
    it(`L${shape.layers} I${shape.inputSize} H${shape.hiddenSize} O${shape.outputSize || '-'}`, async () => {
      const random = rng(4)
      const weights: LstmWeights = randomLstmWeights(random, shape)
      const model = LstmModel.fromWeights(weights, { threads: 2 })
      const n = 64, H = shape.hiddenSize
      const state = model.createState({ capacity: n })
      const session = await ort.InferenceSession.create(buildOnnxLstmModel(weights, { withState: true }), { intraOpNumThreads: 2, logSeverityLevel: 3 })
      const feeds: Record<string, unknown> = {}
      for (let l = 0; l < shape.layers; l++) {
        feeds[`h0_l${l}`] = new ort.Tensor('float32', new Float32Array(n * H), [1, n, H])
        feeds[`c0_l${l}`] = new ort.Tensor('float32', new Float32Array(n * H), [1, n, H])
      }
      const keys = Uint32Array.from({ length: n }, (_, i) => i)
      for (let t = 0; t < 5; t++) {
        const x = randomArray(random, n * shape.inputSize)
        const ours = state.step(keys, x)
        const result = await session.run({ ...feeds, x: new ort.Tensor('float32', x, [1, n, shape.inputSize]) })
        expect(maxAbsDiff(ours, result.y.data as Float32Array)).toBeLessThanOrEqual(1e-5)
        for (let l = 0; l < shape.layers; l++) {
          feeds[`h0_l${l}`] = result[`h_l${l}`]
          feeds[`c0_l${l}`] = result[`c_l${l}`]
        }
      }
      await session.release()
      model.close()
    })
  }
})

describe('LstmState snapshots', () => {
  it('restore() and continue gives exactly the results of never having stopped', () => {
    const random = rng(5)
    const model = LstmModel.fromWeights(randomLstmWeights(random, { layers: 2, inputSize: 4, hiddenSize: 20, outputSize: 2 }))
    const keys = Uint32Array.of(3, 9, 0, 17)
    const inputs = Array.from({ length: 6 }, () => randomArray(random, 16))
    const a = model.createState({ capacity: 20 })
    for (const x of inputs.slice(0, 3)) a.step(keys, x)
    const bytes = a.snapshot()
    const b = model.createState({ capacity: 20 })
    b.restore(bytes)
    for (const x of inputs.slice(3)) expect(Array.from(b.step(keys, x))).toEqual(Array.from(a.step(keys, x)))
    // Corrupt bytes, or a state of another capacity: ERR_MALFORMED_DATA and nothing changes.
    const before = b.snapshot()
    const corrupt = bytes.slice()
    corrupt[corrupt.length - 100]! ^= 0x40
    expectSluiceError(() => b.restore(corrupt), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => b.restore(bytes.subarray(0, bytes.length - 1)), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => model.createState({ capacity: 21 }).restore(bytes), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => b.restore([1, 2] as unknown as Uint8Array), 'ERR_INVALID_TYPE')
    expect(b.snapshot()).toEqual(before)
    model.close()
  })
})

describe('LstmState rejects bad input before any change', () => {
  const setup = () => {
    const model = LstmModel.fromWeights(randomLstmWeights(rng(6), { layers: 1, inputSize: 2, hiddenSize: 3, outputSize: 1 }))
    const state = model.createState({ capacity: 8 })
    state.step(Uint32Array.of(1, 2), Float32Array.of(0.5, -1, 2, 0.25))
    return { model, state, before: state.snapshot() }
  }

  it('duplicate keys in one call: ERR_INVALID_ARGUMENT', () => {
    const { state, before } = setup()
    expectSluiceError(() => state.step(Uint32Array.of(1, 5, 1), new Float32Array(6)), 'ERR_INVALID_ARGUMENT', /appears twice/)
    expect(state.snapshot()).toEqual(before)
    expect(state.step(Uint32Array.of(1, 5), new Float32Array(4)).length).toBe(2) // still works
  })

  it('keys beyond capacity: ERR_OUT_OF_RANGE, for step and reset', () => {
    const { state, before } = setup()
    expectSluiceError(() => state.step(Uint32Array.of(1, 8), new Float32Array(4)), 'ERR_OUT_OF_RANGE', /keys\[1\] = 8/)
    expectSluiceError(() => state.reset(Uint32Array.of(0, 4294967295)), 'ERR_OUT_OF_RANGE')
    expect(state.snapshot()).toEqual(before)
  })

  it('wrong types and lengths', () => {
    const { state, before } = setup()
    expectSluiceError(() => state.step(Int32Array.of(1) as unknown as Uint32Array, new Float32Array(2)), 'ERR_INVALID_TYPE', /keys/)
    expectSluiceError(() => state.step(Uint32Array.of(1), new Float64Array(2) as unknown as Float32Array), 'ERR_INVALID_TYPE', /x/)
    expectSluiceError(() => state.step(Uint32Array.of(1, 2), new Float32Array(3)), 'ERR_INVALID_LENGTH', /keys.length·inputSize/)
    expectSluiceError(() => state.step(Uint32Array.of(1, 2), new Float32Array(4), new Float32Array(1)), 'ERR_INVALID_LENGTH', /out/)
    expect(state.snapshot()).toEqual(before)
  })

  it('capacity out of range, and closed objects', () => {
    const { model, state } = setup()
    expectSluiceError(() => model.createState({ capacity: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.createState({ capacity: 2 ** 32 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.createState({ capacity: 1.5 }), 'ERR_INVALID_TYPE')
    // A state keeps its model's weights alive: closing the model does not break it.
    model.close()
    expect(state.step(Uint32Array.of(3), new Float32Array(2)).length).toBe(1)
    state.close()
    expectSluiceError(() => state.step(Uint32Array.of(3), new Float32Array(2)), 'ERR_INVALID_STATE')
    expectSluiceError(() => state.snapshot(), 'ERR_INVALID_STATE')
    state.close()
  })
})

describe('LstmState memory', () => {
  it('has fixed, documented memory per key and handles millions of keys', () => {
    const model = LstmModel.fromWeights(randomLstmWeights(rng(7), { layers: 2, inputSize: 3, hiddenSize: 20 }))
    const state = model.createState({ capacity: 2_000_000 })
    expect(state.bytesPerKey).toBe(2 * 2 * 32 * 4 + 4) // layers · 2 · ceil(H/16)·16 · 4 + 4
    const out = state.step(Uint32Array.of(1_999_999, 0), randomArray(rng(8), 6))
    expect(out.length).toBe(40)
    const alone = model.predict(randomArray(rng(8), 6).subarray(0, 3), { steps: 1, batch: 1 })
    expect(Array.from(out.subarray(0, 20))).toEqual(Array.from(alone))
    state.close()
    model.close()
  })
})
