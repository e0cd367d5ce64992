// The CUDA backend against the CPU engine on the same weights and inputs (≤ 1e-4): whole sequences in both
// layouts, with and without a head, both cuDNN algorithms, async calls, per-key streaming with device-
// resident states (stepAsync too), snapshots moved between the backends, and bad keys refused before any change.
// Skips (printing why) where no usable GPU is present: see scripts/gpu-check.sh for the GPU run.
import { describe, expect, it } from 'vitest'
import { backends, LstmModel } from '../../lib/index'
import { expectSluiceError } from '../helpers'
import { CUDA_SHAPES, firstPredictError, onBothBackends, predictOptions } from '../support/cuda_cases'
import { maxAbsDiff, randomArray, randomLstmWeights, rng, seededLstmWeights } from '../support/lstm_reference'

const cuda = backends().cuda
if (!cuda.available) console.log(`CUDA tests skipped: ${cuda.reason}`)

describe.skipIf(!cuda.available)('LstmModel on CUDA agrees with the CPU engine', () => {
  it('predict, every layout and output form, both algorithms', () => {
    const random = rng(11)
    for (const s of CUDA_SHAPES) {
      const weights = randomLstmWeights(random, { layers: s.layers, inputSize: s.inputSize, hiddenSize: s.hiddenSize, ...(s.outputSize ? { outputSize: s.outputSize } : {}) })
      const cpu = LstmModel.fromWeights(weights, { backend: 'cpu' })
      for (const cudnnAlgorithm of ['auto', 'standard', 'persist-static'] as const) {
        let gpu: LstmModel
        try {
          gpu = LstmModel.fromWeights(weights, { backend: 'cuda', cudnnAlgorithm })
        } catch (error) {
          if (cudnnAlgorithm === 'persist-static') { console.log(`persist-static unavailable: ${(error as Error).message}`); continue }
          throw error
        }
        expect(gpu.backend).toBe('cuda')
        const x = randomArray(random, s.steps * s.batch * s.inputSize)
        const refused = cudnnAlgorithm === 'persist-static' ? firstPredictError(gpu, x, s) : undefined
        if (refused) {
          expect(refused.code).toBe('ERR_NOT_SUPPORTED')
          console.log(`persist-static refused for ${JSON.stringify(s)}: ${refused.message}`)
          gpu.close()
          continue
        }
        for (const options of predictOptions(s)) {
          const expected = cpu.predict(x, options)
          const actual = gpu.predict(x, options)
          expect(actual.length).toBe(expected.length)
          expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-4)
        }
        gpu.close()
      }
      cpu.close()
    }
  })

  it('predictAsync resolves with what predict returns, into the given out', async () => {
    const { random, weights } = seededLstmWeights(12, { layers: 2, inputSize: 4, hiddenSize: 32, outputSize: 2 })
    const gpu = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const x = randomArray(random, 10 * 50 * 4)
    const out = new Float32Array(100 + 50 * 2)
    const calls = await Promise.all([0, 1, 2].map(() => gpu.predictAsync(x, { steps: 10, batch: 50 })))
    const into = await gpu.predictAsync(x, { steps: 10, batch: 50 }, out)
    const sync = gpu.predict(x, { steps: 10, batch: 50 })
    for (const c of calls) expect(Array.from(c)).toEqual(Array.from(sync))
    expect(into.buffer).toBe(out.buffer)
    expect(Array.from(into)).toEqual(Array.from(sync))
    gpu.close()
  })

  it('stepAsync on several device states at once matches the CPU states stepped one by one', async () => {
    const { random, weights } = seededLstmWeights(14, { layers: 2, inputSize: 5, hiddenSize: 40, outputSize: 3 })
    const { cpu, gpu } = onBothBackends(LstmModel, weights)
    const capacity = 3000
    const gpuStates = [0, 1, 2, 3].map(() => gpu.createState({ capacity }))
    const cpuStates = gpuStates.map(() => cpu.createState({ capacity }))
    for (let t = 0; t < 5; t++) {
      const calls = gpuStates.map((_, s) => {
        const n = 100 + 300 * s + 17 * t
        return { keys: Uint32Array.from({ length: n }, (_, j) => (j * 7919 + t * 131 + s) % capacity), x: randomArray(random, n * 5) }
      })
      const got = await Promise.all(gpuStates.map((state, s) => state.stepAsync(calls[s]!.keys, calls[s]!.x)))
      calls.forEach((call, s) => expect(maxAbsDiff(got[s]!, cpuStates[s]!.step(call.keys, call.x))).toBeLessThanOrEqual(1e-4))
    }
    for (const s of [...gpuStates, ...cpuStates]) s.close()
    cpu.close()
    gpu.close()
  })

  it('per-key steps match the CPU state; snapshots move between backends; resets', () => {
    const { random, weights } = seededLstmWeights(13, { layers: 2, inputSize: 5, hiddenSize: 40, outputSize: 3 })
    const { cpu, gpu } = onBothBackends(LstmModel, weights)
    const capacity = 5000
    const [cpuState, gpuState] = [cpu, gpu].map((model) => model.createState({ capacity }))
    expect(gpuState.bytesPerKey).toBe(cpuState.bytesPerKey)
    for (let t = 0; t < 6; t++) {
      const n = 200 + 37 * t
      const keys = Uint32Array.from({ length: n }, (_, j) => (j * 7919 + t * 131) % capacity)
      const x = randomArray(random, n * 5)
      expect(maxAbsDiff(gpuState.step(keys, x), cpuState.step(keys, x))).toBeLessThanOrEqual(1e-4)
      if (t === 2) {
        gpuState.reset(keys.subarray(0, 10))
        cpuState.reset(keys.subarray(0, 10))
      }
    }
    // GPU snapshot → CPU state: both continue identically.
    const bytes = gpuState.snapshot()
    const moved = cpu.createState({ capacity })
    moved.restore(bytes)
    const keys = Uint32Array.from({ length: 300 }, (_, j) => (j * 13) % capacity)
    const x = randomArray(random, 300 * 5)
    const a = moved.step(keys, x)
    const b = gpuState.step(keys, x)
    expect(maxAbsDiff(a, b)).toBeLessThanOrEqual(1e-4)
    // CPU snapshot → GPU state.
    const back = gpu.createState({ capacity })
    back.restore(moved.snapshot())
    expect(maxAbsDiff(back.step(keys, x), moved.step(keys, x))).toBeLessThanOrEqual(1e-4)
    for (const s of [cpuState, gpuState, moved, back]) s.close()
    cpu.close()
    gpu.close()
  })

  it('weights(), toSafetensors and training work on a CUDA model (training runs on the CPU; the model stays on the GPU)', async () => {
    const { random, weights } = seededLstmWeights(15, { layers: 1, inputSize: 3, hiddenSize: 16, outputSize: 1 })
    const gpu = LstmModel.fromWeights(weights, { backend: 'cuda' })
    expect(maxAbsDiff(gpu.weights().layers[0]!.weightHh, weights.layers[0]!.weightHh)).toBe(0)
    const steps = 6, examples = 40
    const x = randomArray(random, steps * examples * 3)
    const y = randomArray(random, examples)
    gpu.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
    expect(gpu.backend).toBe('cuda')
    const trained = gpu.weights()
    expect(maxAbsDiff(trained.layers[0]!.weightHh, weights.layers[0]!.weightHh)).toBeGreaterThan(0)
    const cpu = LstmModel.fromWeights(trained, { backend: 'cpu' })
    expect(maxAbsDiff(gpu.predict(x, { steps, batch: examples }), cpu.predict(x, { steps, batch: examples }))).toBeLessThanOrEqual(1e-4)
    const reference = LstmModel.fromWeights(weights, { backend: 'cpu' })
    reference.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
    expect(maxAbsDiff(trained.layers[0]!.weightHh, reference.weights().layers[0]!.weightHh)).toBe(0)
    await gpu.fitAsync(x, y, { epochs: 1, batchSize: 8, seed: 2 })
    expect(gpu.backend).toBe('cuda')
    const reloaded = LstmModel.fromSafetensors(gpu.toSafetensors(), { backend: 'cpu' })
    expect(maxAbsDiff(reloaded.predict(x, { steps, batch: examples }), gpu.predict(x, { steps, batch: examples }))).toBeLessThanOrEqual(1e-4)
    for (const m of [gpu, cpu, reference, reloaded]) m.close()
  })

  it('bad keys are refused before any change', () => {
    const { random, weights } = seededLstmWeights(14, { layers: 1, inputSize: 2, hiddenSize: 8 })
    const gpu = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const state = gpu.createState({ capacity: 10 })
    const x = randomArray(random, 3 * 2)
    const before = state.snapshot()
    expectSluiceError(() => state.step(Uint32Array.of(1, 2, 1), x), 'ERR_INVALID_ARGUMENT', /twice/)
    expectSluiceError(() => state.step(Uint32Array.of(1, 2, 10), x), 'ERR_OUT_OF_RANGE')
    expect(Array.from(state.snapshot())).toEqual(Array.from(before))
    state.close()
    gpu.close()
  })
})
