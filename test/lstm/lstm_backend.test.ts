// LstmModel's `backend` option where no GPU can be used (CI, this build machine): 'auto' falls back to the
// CPU and says why, 'cuda' refuses with ERR_NOT_SUPPORTED naming backends().cuda.reason, SLUICE_BACKEND=cpu
// wins over everything, and bad weights are refused the same way whichever backend was asked for.
import { describe, expect, it } from 'vitest'
import { backends, LstmModel } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { expectSluiceError, runNode } from '../helpers'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

const cuda = backends().cuda
const weights = randomLstmWeights(rng(5), { layers: 2, inputSize: 3, hiddenSize: 7, outputSize: 2 })

describe('LstmModel backend selection', () => {
  it("'cpu' always runs on the CPU, with no reason to give", () => {
    const model = LstmModel.fromWeights(weights, { backend: 'cpu' })
    expect(model.backend).toBe('cpu')
    expect(model.backendReason).toBeNull()
    expect(model.cudaInfo()).toBeNull()
    expect(model.simd).not.toBe('cuda')
    model.close()
  })

  it("'auto' (the default) uses CUDA when available, else the CPU with backends().cuda.reason", () => {
    for (const model of [LstmModel.fromWeights(weights), LstmModel.fromWeights(weights, { backend: 'auto' })]) {
      if (cuda.available) {
        expect(model.backend).toBe('cuda')
        expect(model.backendReason).toBeNull()
      } else {
        console.log(`auto → cpu here: ${model.backendReason}`)
        expect(model.backend).toBe('cpu')
        expect(model.backendReason).toBe(cuda.reason)
        expect(model.backendReason).toMatch(/not built|driver|device|cuDNN|SLUICE_BACKEND|compute capability/)
      }
      model.close()
    }
  })

  it("an 'auto' model on the CPU computes exactly what a 'cpu' model computes", () => {
    const random = rng(6)
    const x = randomArray(random, 5 * 4 * 3)
    const auto = LstmModel.fromWeights(weights, { threads: 1 })
    const cpu = LstmModel.fromWeights(weights, { backend: 'cpu', threads: 1 })
    if (auto.backend === 'cpu') {
      expect(Array.from(auto.predict(x, { steps: 5, batch: 4, sequence: true }))).toEqual(Array.from(cpu.predict(x, { steps: 5, batch: 4, sequence: true })))
    }
    auto.close()
    cpu.close()
  })

  it.skipIf(cuda.available)("'cuda' without a usable GPU is ERR_NOT_SUPPORTED naming the reason", () => {
    const reason = cuda.reason as string
    const error = expectSluiceError(() => LstmModel.fromWeights(weights, { backend: 'cuda' }), 'ERR_NOT_SUPPORTED')
    expect(error.message).toBe(`backend 'cuda' is unavailable: ${reason}`)
  })

  it.skipIf(cuda.available)('the native CUDA model refuses on its own too (the core checks again), after validating the weights', () => {
    const Ctor = native().NativeCudaLstmModel as new (w: unknown, a?: string) => unknown
    expectSluiceError(() => new Ctor(weights), 'ERR_NOT_SUPPORTED', new RegExp(`^the CUDA backend is unavailable: ${escape(cuda.reason as string)}$`))
    const short = { ...weights, layers: [{ ...weights.layers[0], weightHh: new Float32Array(3) }, weights.layers[1]] }
    expectSluiceError(() => new Ctor(short), 'ERR_INVALID_LENGTH', /layers\[0\]\.weightHh/)
  })

  it('SLUICE_BACKEND=cpu: auto → cpu with that reason, cuda → ERR_NOT_SUPPORTED with it', () => {
    const out = runNode(`
      const { LstmModel } = require('./dist')
      const w = { inputSize: 1, hiddenSize: 2, layers: [{ weightIh: new Float32Array(8), weightHh: new Float32Array(16) }] }
      const auto = LstmModel.fromWeights(w)
      let error
      try { LstmModel.fromWeights(w, { backend: 'cuda' }) } catch (e) { error = { code: e.code, message: e.message } }
      console.log(JSON.stringify({ backend: auto.backend, reason: auto.backendReason, error }))`, { SLUICE_BACKEND: 'cpu' })
    const result = JSON.parse(out)
    expect(result.backend).toBe('cpu')
    expect(result.reason).toBe('disabled by SLUICE_BACKEND=cpu')
    expect(result.error).toEqual({ code: 'ERR_NOT_SUPPORTED', message: "backend 'cuda' is unavailable: disabled by SLUICE_BACKEND=cpu" })
  })

  it('bad options are ERR_INVALID_ARGUMENT; bad weights fail the same on every backend', () => {
    expectSluiceError(() => LstmModel.fromWeights(weights, { backend: 'gpu' as never }), 'ERR_INVALID_ARGUMENT', /backend/)
    expectSluiceError(() => LstmModel.fromWeights(weights, { cudnnAlgorithm: 'fast' as never }), 'ERR_INVALID_ARGUMENT', /cudnnAlgorithm/)
    const nan = randomLstmWeights(rng(7), { layers: 1, inputSize: 2, hiddenSize: 3 })
    nan.layers[0].weightIh[2] = Number.NaN
    for (const backend of ['auto', 'cpu', 'cuda'] as const) {
      const short = { ...weights, layers: [{ ...weights.layers[0], biasIh: new Float32Array(5) }, weights.layers[1]] }
      expectSluiceError(() => LstmModel.fromWeights(short, { backend }), 'ERR_INVALID_LENGTH', /biasIh/)
      if (backend !== 'cuda' || cuda.available) expectSluiceError(() => LstmModel.fromWeights(nan, { backend }), 'ERR_INVALID_ARGUMENT', /NaN/)
    }
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
