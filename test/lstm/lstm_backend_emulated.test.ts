// The TypeScript side of a CUDA LstmModel, run without a GPU: the native CUDA classes are replaced, for
// this file only, by the CPU ones, and backends() reports CUDA available. This exercises every CUDA branch
// of lib/lstm_model.ts (selection, the host copy of the weights, training on a CPU copy, re-uploading the
// trained weights, states and windows made from a CUDA model); the CUDA library itself is covered by
// test/lstm-cuda.test.ts and scripts/gpu-check.sh on a GPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LstmModel } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { maxAbsDiff, randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

const addon = native() as Record<string, unknown>
const saved: Record<string, unknown> = {}
let cudaModelsBuilt = 0
let lastAlgorithm: unknown

beforeAll(() => {
  for (const name of ['backends', 'NativeCudaLstmModel', 'NativeCudaLstmState']) saved[name] = addon[name]
  const realBackends = addon.backends as () => { cuda: Record<string, unknown> }
  const CpuModel = addon.NativeLstmModel as new (w: unknown, t?: number) => unknown
  addon.backends = () => {
    const report = realBackends()
    return { ...report, cuda: { ...report.cuda, available: true, reason: null } }
  }
  addon.NativeCudaLstmModel = function EmulatedCudaModel(weights: unknown, algorithm: unknown) {
    cudaModelsBuilt++
    lastAlgorithm = algorithm
    return new CpuModel(weights, 1)
  }
  addon.NativeCudaLstmState = addon.NativeLstmState
})

afterAll(() => {
  Object.assign(addon, saved)
})

describe('a CUDA LstmModel (native side emulated by the CPU)', () => {
  it("'auto' and 'cuda' pick CUDA when backends() reports it; the algorithm is passed on", () => {
    const weights = randomLstmWeights(rng(1), { layers: 1, inputSize: 2, hiddenSize: 4 })
    const before = cudaModelsBuilt
    const auto = LstmModel.fromWeights(weights)
    const cuda = LstmModel.fromWeights(weights, { backend: 'cuda', cudnnAlgorithm: 'persist-static' })
    expect(auto.backend).toBe('cuda')
    expect(auto.backendReason).toBeNull()
    expect(cuda.backend).toBe('cuda')
    expect(lastAlgorithm).toBe('persist-static')
    expect(cudaModelsBuilt - before).toBe(2)
    expect(LstmModel.fromWeights(weights, { backend: 'cpu' }).backend).toBe('cpu')
  })

  it('weights() returns copies of the weights it was built from', () => {
    const weights = randomLstmWeights(rng(2), { layers: 2, inputSize: 3, hiddenSize: 5, outputSize: 2 })
    const model = LstmModel.fromWeights(weights, { backend: 'cuda' })
    weights.layers[0]!.weightIh[0] = 123 // the caller changing its arrays afterwards changes nothing
    const copy = model.weights()
    expect(copy.layers[0]!.weightIh[0]).not.toBe(123)
    copy.layers[1]!.weightHh[0] = 456
    expect(model.weights().layers[1]!.weightHh[0]).not.toBe(456)
    expect(model.weights().head!.weight.length).toBe(10)
  })

  it('fit trains on a CPU copy exactly as a CPU model does, then uploads the result (the model stays CUDA)', async () => {
    const random = rng(3)
    const weights = randomLstmWeights(random, { layers: 1, inputSize: 3, hiddenSize: 8, outputSize: 1 })
    const x = randomArray(random, 5 * 30 * 3)
    const y = randomArray(random, 30)
    const gpu = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const cpu = LstmModel.fromWeights(weights, { backend: 'cpu' })
    const gradientGpu = gpu.lossAndGradient(x, y)
    const gradientCpu = cpu.lossAndGradient(x, y)
    expect(gradientGpu.loss).toBe(gradientCpu.loss)
    expect(maxAbsDiff(gradientGpu.gradient.layers[0]!.weightHh, gradientCpu.gradient.layers[0]!.weightHh)).toBe(0)
    const built = cudaModelsBuilt
    gpu.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
    cpu.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
    expect(cudaModelsBuilt).toBe(built + 1) // the trained weights went into a new CUDA model
    expect(gpu.backend).toBe('cuda')
    expect(maxAbsDiff(gpu.weights().layers[0]!.weightHh, cpu.weights().layers[0]!.weightHh)).toBe(0)
    expect(maxAbsDiff(gpu.predict(x, { steps: 5, batch: 30 }), cpu.predict(x, { steps: 5, batch: 30 }))).toBe(0)
    await gpu.fitAsync(x, y, { epochs: 1, batchSize: 8, seed: 2 })
    await cpu.fitAsync(x, y, { epochs: 1, batchSize: 8, seed: 2 })
    expect(maxAbsDiff(gpu.weights().layers[0]!.weightIh, cpu.weights().layers[0]!.weightIh)).toBe(0)
    const reloaded = LstmModel.fromSafetensors(gpu.toSafetensors(), { backend: 'cpu' })
    expect(maxAbsDiff(reloaded.predict(x, { steps: 5, batch: 30 }), cpu.predict(x, { steps: 5, batch: 30 }))).toBe(0)
  })

  it('states (NativeCudaLstmState) and windows can be made from a CUDA model', () => {
    const weights = randomLstmWeights(rng(4), { layers: 1, inputSize: 2, hiddenSize: 4 })
    const model = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const state = model.createState({ capacity: 4 })
    expect(state.step(Uint32Array.of(1), Float32Array.of(0.5, -0.5)).length).toBe(4)
    const windows = model.createWindows({ capacity: 4, steps: 3 })
    expect(windows.push(Uint32Array.of(2, 2), Float32Array.of(1, 2, 3, 4)).keys).toEqual(Uint32Array.of(2))
  })
})
