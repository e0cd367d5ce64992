// The native LSTM classes as the addon exports them, called directly (lib/lstm_model.ts validates before
// these checks can be reached): the CPU classes and their CUDA twins share one binding each, so they must
// keep the same methods and refuse bad arguments with the same codes and messages. Without a GPU a CUDA
// model cannot be built, so the CUDA classes are checked up to the point where they need one.
import { describe, expect, it } from 'vitest'
import { backends } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { expectSluiceError } from '../helpers'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

type Ctor = new (...args: unknown[]) => Record<string, (...args: unknown[]) => unknown>
const addon = native() as Record<string, unknown>
const CpuModel = addon.NativeLstmModel as Ctor
const CpuState = addon.NativeLstmState as Ctor
const CudaModel = addon.NativeCudaLstmModel as Ctor
const CudaState = addon.NativeCudaLstmState as Ctor
const weights = randomLstmWeights(rng(41), { layers: 2, inputSize: 3, hiddenSize: 5, outputSize: 2 })

const methods = (ctor: Ctor) => Object.getOwnPropertyNames(ctor.prototype).filter((name) => name !== 'constructor')
// The native surfaces lib/lstm_model.ts types (NativeLstmModel, NativeLstmState), in the order defined. The
// key-space calls (intern … liveIds) answer ERR_INVALID_ARGUMENT on states without keys (every CUDA state).
const stateMethods = ['step', 'stepAsync', 'reset', 'snapshot', 'restore', 'info', 'intern', 'undoIntern', 'expire', 'keysOf', 'liveIds', 'close']

describe('native LSTM classes', () => {
  it('keep their names and methods; the CUDA twins have the same ones (the model also setAlgorithm)', () => {
    expect([CpuModel.name, CpuState.name, CudaModel.name, CudaState.name]).toEqual(['NativeLstmModel', 'NativeLstmState', 'NativeCudaLstmModel', 'NativeCudaLstmState'])
    expect(methods(CpuModel)).toEqual(['predict', 'predictAsync', 'info', 'close'])
    expect(methods(CudaModel)).toEqual(['predict', 'predictAsync', 'setAlgorithm', 'info', 'close'])
    expect(methods(CpuState)).toEqual(stateMethods)
    expect(methods(CudaState)).toEqual(stateMethods)
  })

  it('a state accepts only a model of its own backend, open', () => {
    const model = new CpuModel(weights, 1)
    for (const notCpu of [undefined, 5, {}, new Float32Array(3)]) {
      expectSluiceError(() => new CpuState(notCpu, 4), 'ERR_INVALID_TYPE', /^model must be a native LstmModel$/)
    }
    for (const notCuda of [undefined, 5, {}, model]) {
      expectSluiceError(() => new CudaState(notCuda, 4), 'ERR_INVALID_TYPE', /^model must be a native CUDA LstmModel$/)
    }
    const closed = new CpuModel(weights, 1)
    closed.close()
    expectSluiceError(() => new CpuState(closed, 4), 'ERR_INVALID_STATE', /^the LstmModel is closed$/)
    model.close()
  })

  it('the CPU state checks its capacity itself', () => {
    const model = new CpuModel(weights, 1)
    expectSluiceError(() => new CpuState(model, '4'), 'ERR_INVALID_TYPE', /^capacity must be a number$/)
    expectSluiceError(() => new CpuState(model), 'ERR_INVALID_TYPE', /^capacity must be a number$/)
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectSluiceError(() => new CpuState(model, bad), 'ERR_OUT_OF_RANGE', /^capacity must be an integer in \[1, 4294967295\]$/)
    }
    const state = new CpuState(model, 3)
    expect(state.info()).toEqual({ capacity: 3, bytesPerKey: 2 * 2 * 16 * 4 + 4, bytes: 3 * (2 * 2 * 16 * 4 + 4) })
    state.close()
    model.close()
  })

  it('a state steps, resets, snapshots and restores through the native surface, and refuses every call once closed', () => {
    const model = new CpuModel(weights, 1)
    const state = new CpuState(model, 4)
    const keys = Uint32Array.of(3, 0)
    const x = randomArray(rng(42), 2 * 3)
    const firstStep = new Float32Array(4)
    model.predict(x, 1, 2, false, false, firstStep)
    model.close() // the state holds its own reference
    const out = new Float32Array(5)
    expect(state.step(keys, x, out)).toBe(4)
    expect(out.subarray(0, 4)).toEqual(firstStep)
    const bytes = state.snapshot() as Uint8Array
    expect(bytes).toBeInstanceOf(Uint8Array)
    expect(state.reset(Uint32Array.of(3))).toBeUndefined()
    expect(state.reset()).toBeUndefined()
    expect(state.restore(bytes)).toBeUndefined()
    expect(state.snapshot()).toEqual(bytes)
    expectSluiceError(() => state.step(Int32Array.of(1), x.subarray(0, 3), out), 'ERR_INVALID_TYPE', /^keys must be a Uint32Array$/)
    expectSluiceError(() => state.step(keys, new Float64Array(6), out), 'ERR_INVALID_TYPE', /^x must be a Float32Array$/)
    expectSluiceError(() => state.step(keys, x, [0]), 'ERR_INVALID_TYPE', /^out must be a Float32Array$/)
    expectSluiceError(() => state.reset([1]), 'ERR_INVALID_TYPE', /^keys must be a Uint32Array$/)
    expectSluiceError(() => state.restore(Array.from(bytes)), 'ERR_INVALID_TYPE', /^bytes must be a Uint8Array$/)
    expectSluiceError(() => state.restore(bytes.subarray(1)), 'ERR_MALFORMED_DATA')
    expect(state.snapshot()).toEqual(bytes) // nothing changed
    state.close()
    for (const call of [
      () => state.step(keys, x, out),
      () => state.reset(),
      () => state.reset(keys),
      () => state.snapshot(),
      () => state.restore(bytes),
      () => state.info(),
    ]) {
      expectSluiceError(call, 'ERR_INVALID_STATE', /^the LstmState is closed$/)
    }
    state.close() // twice is fine
  })

  it('a model parses its arguments, reports its info and refuses every call once closed', async () => {
    const model = new CpuModel(weights, 1)
    const x = randomArray(rng(43), 2 * 3 * 3)
    const out = new Float32Array(6)
    expect(Object.keys(model.info() as object)).toEqual(['inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'hasHead', 'threads', 'simd', 'weightBytes'])
    expect(model.predict(x, 2, 3, false, false, out)).toBe(6)
    const expected = out.slice()
    const promised = new Float32Array(6)
    await expect(model.predictAsync(x, 2, 3, false, false, promised)).resolves.toBe(promised)
    expect(promised).toEqual(expected)
    for (const predict of ['predict', 'predictAsync']) {
      const call = (...args: unknown[]) => model[predict]!(...args)
      expectSluiceError(() => call(new Float64Array(18), 2, 3, false, false, out), 'ERR_INVALID_TYPE', /^x must be a Float32Array$/)
      expectSluiceError(() => call(x, '2', 3, false, false, out), 'ERR_INVALID_TYPE', /^steps must be a number$/)
      expectSluiceError(() => call(x, 2, -3, false, false, out), 'ERR_OUT_OF_RANGE', /^batch must be a non-negative integer$/)
      expectSluiceError(() => call(x, 2, 3, false, false, new Float64Array(6)), 'ERR_INVALID_TYPE', /^out must be a Float32Array$/)
    }
    model.close()
    for (const call of [
      () => model.predict(x, 2, 3, false, false, out),
      () => model.predictAsync(x, 2, 3, false, false, out),
      () => model.info(),
    ]) {
      expectSluiceError(call, 'ERR_INVALID_STATE', /^the LstmModel is closed$/)
    }
    model.close() // twice is fine
  })

  it.skipIf(backends().cuda.available)('the CUDA model parses the weights like the CPU model, then refuses for want of a GPU', () => {
    expectSluiceError(() => new CudaModel(5), 'ERR_INVALID_TYPE', /^weights must be an object$/)
    expectSluiceError(() => new CpuModel(5, 1), 'ERR_INVALID_TYPE', /^weights must be an object$/)
    expectSluiceError(() => new CudaModel({ ...weights, layers: 5 }), 'ERR_INVALID_TYPE', /^layers must be an array$/)
    // The algorithm is looked at only once a GPU model exists.
    expectSluiceError(() => new CudaModel(weights, 'fast'), 'ERR_NOT_SUPPORTED', /^the CUDA backend is unavailable: /)
  })
})
