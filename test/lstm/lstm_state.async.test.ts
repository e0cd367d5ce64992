// LstmState.stepAsync: the same step as step() on a libuv worker thread. Checked against a twin state
// stepped synchronously (bit for bit), for its argument checks (step()'s codes, before anything changes),
// its one-step-at-a-time rule (other calls refused while in flight, close() deferred) and the lifetime of
// the arrays and the model it uses.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { LstmModel, SluiceError, type LstmState } from '../../lib/index'
import { expectSluiceError } from '../helpers'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** `count` distinct keys below `capacity`, in random order. */
function randomKeys(random: () => number, count: number, capacity: number): Uint32Array {
  const all = Array.from({ length: capacity }, (_, k) => k)
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (capacity - i))
    ;[all[i], all[j]] = [all[j]!, all[i]!]
  }
  return Uint32Array.from(all.slice(0, count))
}

/** Bit-for-bit equality of two arrays (fast for snapshots of megabytes, where toEqual is slow). */
function expectSameBits(a: ArrayBufferView, b: ArrayBufferView): void {
  expect(a.byteLength).toBe(b.byteLength)
  expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true)
}

async function rejection(promise: Promise<unknown>): Promise<SluiceError> {
  const error = await promise.then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(SluiceError)
  return error as SluiceError
}

const I = 5, H = 19, O = 3

function makeModel(seed: number, layers = 2): LstmModel {
  return LstmModel.fromWeights(randomLstmWeights(rng(seed), { layers, inputSize: I, hiddenSize: H, outputSize: O }), { threads: 2 })
}

describe('LstmState.stepAsync', () => {
  it('equals step() on a twin state bit for bit, over random keys and batch sizes', async () => {
    const random = rng(101)
    const model = makeModel(1)
    const capacity = 300
    const async = model.createState({ capacity }), sync = model.createState({ capacity })
    for (let round = 0; round < 40; round++) {
      const n = round === 7 ? 0 : 1 + Math.floor(random() * (round % 5 === 0 ? capacity : 40))
      const keys = randomKeys(random, n, capacity)
      const x = randomArray(random, n * I, 2)
      const expected = sync.step(keys, x)
      const got = await async.stepAsync(keys, x)
      expect(got).toBeInstanceOf(Float32Array)
      expect(got.length).toBe(n * O)
      expectSameBits(got, expected)
    }
    expectSameBits(async.snapshot(), sync.snapshot())
    async.close()
    sync.close()
    model.close()
  })

  it('writes into the caller’s out and resolves with the view step() returns', async () => {
    const random = rng(102)
    const model = makeModel(2)
    const async = model.createState({ capacity: 16 }), sync = model.createState({ capacity: 16 })
    const keys = Uint32Array.of(3, 9, 0)
    const x = randomArray(random, 3 * I)
    const exact = new Float32Array(3 * O)
    const resolved = await async.stepAsync(keys, x, exact)
    expect(resolved).toBe(exact)
    expect(resolved).toEqual(sync.step(keys, x))
    const larger = new Float32Array(3 * O + 4).fill(-42)
    const x2 = randomArray(random, 3 * I)
    const view = await async.stepAsync(keys, x2, larger)
    expect(view.buffer).toBe(larger.buffer)
    expect(view.byteOffset).toBe(larger.byteOffset)
    expect(view.length).toBe(3 * O)
    expect(view).toEqual(sync.step(keys, x2))
    expect(Array.from(larger.subarray(3 * O))).toEqual([-42, -42, -42, -42]) // beyond the view: untouched
    // A view in a resizable buffer (copied for the worker) is filled all the same.
    const resizable = new Float32Array(new ArrayBuffer(3 * O * 4, { maxByteLength: 1024 }))
    const xr = new Float32Array(new ArrayBuffer(3 * I * 4, { maxByteLength: 1024 }))
    xr.set(randomArray(random, 3 * I))
    const r = await async.stepAsync(keys, xr, resizable)
    expect(r).toBe(resizable)
    expect(r).toEqual(sync.step(keys, xr))
    model.close()
  })

  it('rejects every bad call with step()’s code and message, and the state is unchanged', async () => {
    const random = rng(103)
    const model = makeModel(3)
    const async = model.createState({ capacity: 8 }), sync = model.createState({ capacity: 8 })
    const warm = Uint32Array.of(1, 5, 7), xw = randomArray(random, 3 * I)
    await async.stepAsync(warm, xw)
    sync.step(warm, xw)
    const before = async.snapshot()
    const x2 = randomArray(random, 2 * I)
    const bad: [string, unknown[]][] = [
      ['ERR_INVALID_TYPE', [Array.of(1, 2), x2]],
      ['ERR_INVALID_TYPE', [Int32Array.of(1, 2), x2]],
      ['ERR_INVALID_TYPE', [Uint32Array.of(1, 2), Float64Array.from(x2)]],
      ['ERR_INVALID_TYPE', [Uint32Array.of(1, 2), x2, new Float64Array(2 * O)]],
      ['ERR_INVALID_LENGTH', [Uint32Array.of(1, 2), x2.subarray(1)]],
      ['ERR_INVALID_LENGTH', [Uint32Array.of(1), x2]],
      ['ERR_INVALID_LENGTH', [Uint32Array.of(1, 2), x2, new Float32Array(2 * O - 1)]],
      ['ERR_OUT_OF_RANGE', [Uint32Array.of(1, 8), x2]],
      ['ERR_OUT_OF_RANGE', [Uint32Array.of(0xffffffff, 2), x2]],
      ['ERR_INVALID_ARGUMENT', [Uint32Array.of(4, 4), x2]],
      ['ERR_INVALID_ARGUMENT', [Uint32Array.of(2, 3, 2), randomArray(random, 3 * I)]],
    ]
    for (const [code, args] of bad) {
      const call = args as [Uint32Array, Float32Array, Float32Array?]
      const expected = expectSluiceError(() => sync.step(...call), code as never)
      let promise: Promise<Float32Array> | undefined
      expect(() => (promise = async.stepAsync(...call))).not.toThrow() // a Promise API: rejects, never throws
      const error = await rejection(promise!)
      expect(error.code).toBe(code)
      expect(error.message).toBe(expected.message)
      expect(async.snapshot()).toEqual(before)
    }
    // Both still step, and still agree.
    const keys = Uint32Array.of(7, 2), x = randomArray(random, 2 * I)
    expect(await async.stepAsync(keys, x)).toEqual(sync.step(keys, x))
    async.close()
    sync.close()
    const closed = await rejection(async.stepAsync(keys, x))
    expect(closed.code).toBe('ERR_INVALID_STATE')
    expect(closed.message).toBe(expectSluiceError(() => sync.step(keys, x), 'ERR_INVALID_STATE').message)
    model.close()
  })

  it('while a step is in flight, every other call on that state is refused and changes nothing', async () => {
    const random = rng(104)
    const model = makeModel(4)
    const async = model.createState({ capacity: 64 }), sync = model.createState({ capacity: 64 })
    const keys = randomKeys(random, 50, 64), x = randomArray(random, 50 * I)
    const expected = sync.step(keys, x)
    const pending = async.stepAsync(keys, x)
    const busy = /^a stepAsync is in flight on this LstmState: await it first$/
    const other = Uint32Array.of(60), xo = randomArray(random, I)
    expectSluiceError(() => async.step(other, xo), 'ERR_INVALID_STATE', busy)
    expectSluiceError(() => async.reset(), 'ERR_INVALID_STATE', busy)
    expectSluiceError(() => async.reset(other), 'ERR_INVALID_STATE', busy)
    expectSluiceError(() => async.snapshot(), 'ERR_INVALID_STATE', busy)
    expectSluiceError(() => async.restore(sync.snapshot()), 'ERR_INVALID_STATE', busy)
    const second = await rejection(async.stepAsync(other, xo))
    expect(second.code).toBe('ERR_INVALID_STATE')
    expect(second.message).toMatch(busy)
    expect(async.capacity).toBe(64) // plain properties stay readable
    expect(await pending).toEqual(expected)
    // Settled: the state is free again, and the refused calls did nothing (no reset, no restore, no step).
    expectSameBits(async.snapshot(), sync.snapshot())
    expect(await async.stepAsync(other, xo)).toEqual(sync.step(other, xo))
    async.reset(other)
    sync.reset(other)
    expectSameBits(async.snapshot(), sync.snapshot())
    // A step that rejects on the worker's side is not possible on the CPU; a rejected call before queuing
    // leaves the state free at once.
    await rejection(async.stepAsync(Uint32Array.of(64), xo))
    expect(() => async.step(other, xo)).not.toThrow()
    model.close()
  })

  it('close() while in flight: the step still completes and resolves; the state is closed at once', async () => {
    const random = rng(105)
    const model = makeModel(5)
    const twinModel = makeModel(5)
    const sync = twinModel.createState({ capacity: 2000 })
    const async = model.createState({ capacity: 2000 })
    const keys = randomKeys(random, 2000, 2000), x = randomArray(random, 2000 * I)
    const warm = await async.stepAsync(keys, x)
    expectSameBits(warm, sync.step(keys, x))
    const x2 = randomArray(random, 2000 * I)
    const pending = async.stepAsync(keys, x2)
    async.close()
    model.close() // the state in flight keeps the model's weights alive
    expect(async.closed).toBe(true)
    expectSluiceError(() => async.step(keys, x2), 'ERR_INVALID_STATE', /closed/)
    expectSluiceError(() => async.snapshot(), 'ERR_INVALID_STATE', /closed/)
    expect(() => async.close()).not.toThrow()
    expectSameBits(await pending, sync.step(keys, x2))
    expect((await rejection(async.stepAsync(keys, x2))).code).toBe('ERR_INVALID_STATE')
    twinModel.close()
  })

  it('many states stepping concurrently give the results of stepping them one after another', async () => {
    const random = rng(106)
    const models = [makeModel(6), makeModel(7, 1)]
    const count = 12, capacity = 500
    const states: LstmState[] = [], twins: LstmState[] = []
    for (let s = 0; s < count; s++) {
      states.push(models[s % 2]!.createState({ capacity }))
      twins.push(models[s % 2]!.createState({ capacity }))
    }
    for (let round = 0; round < 6; round++) {
      const calls = states.map(() => {
        const n = 1 + Math.floor(random() * capacity)
        return { keys: randomKeys(random, n, capacity), x: randomArray(random, n * I) }
      })
      const got = await Promise.all(states.map((state, s) => state.stepAsync(calls[s]!.keys, calls[s]!.x)))
      calls.forEach((call, s) => expectSameBits(got[s]!, twins[s]!.step(call.keys, call.x)))
    }
    states.forEach((state, s) => expectSameBits(state.snapshot(), twins[s]!.snapshot()))
    for (const m of models) m.close()
  })

  it('the caller may drop its arrays and reuse its keys while a step is in flight', async () => {
    const random = rng(107)
    const model = makeModel(8, 3)
    const capacity = 4096
    const async = model.createState({ capacity }), sync = model.createState({ capacity })
    for (let round = 0; round < 3; round++) {
      const keys = randomKeys(random, capacity, capacity)
      const x = randomArray(random, capacity * I)
      const expected = sync.step(keys, x)
      const pending = (() => {
        const ownKeys = keys.slice(), ownX = x.slice(), ownOut = new Float32Array(capacity * O)
        const promise = async.stepAsync(ownKeys, ownX, ownOut)
        ownKeys.fill(0xffffffff) // the keys were copied at the call: changing them now cannot matter
        return promise
      })()
      gc() // the only references to x and out are the worker's
      expectSameBits(await pending, expected)
    }
    expectSameBits(async.snapshot(), sync.snapshot())
    model.close()
  })
})
