// The addon's CUDA classes (NativeCudaLstmModel, NativeCudaLstmState) driven through a fake CUDA library,
// so their bindings and core wrappers run on machines without a GPU: a copy of the built sluice.node is
// loaded from a temporary folder where test/support/fake_sluice_cuda.cc was compiled as libsluice_cuda.so
// (host memory, no LSTM: see that file for what it computes). What is checked is what the addon does around
// the library: argument checks, key checks before any library call, LstmState's snapshot format, the codes
// of library failures, closed objects, stepAsync's checks and busy state (the binding template is shared).
// The real library is covered by test/lstm-cuda.test.ts on a GPU.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SluiceError } from '../../lib/index'
import { expectSluiceError, repoRoot } from '../helpers'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

type Native = Record<string, (...args: unknown[]) => unknown>
type Ctor = new (...args: unknown[]) => Native

const builtAddon = path.join(repoRoot, 'build', 'Release', 'sluice.node')
const compiler = ['c++', 'g++', 'clang++'].find((cxx) => {
  try {
    execFileSync(cxx, ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})
const runnable = process.platform === 'linux' && compiler !== undefined && fs.existsSync(builtAddon) && process.env.SLUICE_BACKEND !== 'cpu'

let dir: string | undefined
let addon: Record<string, unknown>
let CpuModel: Ctor, CpuState: Ctor, CudaModel: Ctor, CudaState: Ctor

beforeAll(() => {
  if (!runnable) return
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-fake-cuda-'))
  execFileSync(compiler as string, ['-std=c++17', '-shared', '-fPIC', '-O1', '-I', path.join(repoRoot, 'native', 'cuda'),
    '-o', path.join(dir, 'libsluice_cuda.so'), path.join(repoRoot, 'test', 'support', 'fake_sluice_cuda.cc')])
  fs.copyFileSync(builtAddon, path.join(dir, 'sluice.node'))
  const module = { exports: {} as Record<string, unknown> }
  process.dlopen(module, path.join(dir, 'sluice.node'))
  addon = module.exports
  ;(addon.setErrorClass as (ctor: typeof SluiceError) => void)(SluiceError)
  CpuModel = addon.NativeLstmModel as Ctor
  CpuState = addon.NativeLstmState as Ctor
  CudaModel = addon.NativeCudaLstmModel as Ctor
  CudaState = addon.NativeCudaLstmState as Ctor
})

afterEach(() => {
  delete process.env.SLUICE_FAKE_CUDA_FAIL
})

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true }) // the loaded copies stay mapped until exit
})

// Makes the fake library's function `name` fail with `status` (SluiceCudaStatus) until the test ends.
function failIn(name: string, status: number): void {
  process.env.SLUICE_FAKE_CUDA_FAIL = `${name}:${status}`
}

const weights = randomLstmWeights(rng(51), { layers: 2, inputSize: 3, hiddenSize: 5, outputSize: 2 })
const O = 2

/** Every call that reads or changes a state's table, with valid arguments (key `key`, `bytes` to restore). */
function tableCalls(state: Native, key: number, bytes: unknown): (() => unknown)[] {
  return [
    () => state.step(Uint32Array.of(key), new Float32Array(3), new Float32Array(O)),
    () => state.stepAsync(Uint32Array.of(key), new Float32Array(3), new Float32Array(O)),
    () => state.reset(),
    () => state.reset(Uint32Array.of(key)),
    () => state.snapshot(),
    () => state.restore(bytes),
  ]
}
const stateBytesPerKey = 2 * 2 * 16 * 4 + 4 // layers · (h, c) · hiddenSize padded to 16 · float + the key check

describe.skipIf(!runnable)('the CUDA classes over a fake CUDA library', () => {
  it('the copied addon found the fake library beside itself', () => {
    const cuda = (addon.backends as () => { cuda: { available: boolean; device?: { name: string } } })().cuda
    expect(cuda.available).toBe(true)
    expect(cuda.device?.name).toBe('fake GPU')
  })

  it('model: predict and predictAsync pass the library’s output through; info, setAlgorithm', async () => {
    const model = new CudaModel(weights)
    const x = randomArray(rng(52), 4 * 3 * 3)
    const out = new Float32Array(4 * 3 * O + 1)
    expect(model.predict(x, 4, 3, false, true, out)).toBe(4 * 3 * O)
    expect(Array.from(out.subarray(0, 24))).toEqual(Array.from({ length: 24 }, (_, j) => j + 0.5))
    const promised = new Float32Array(3 * O)
    await expect(model.predictAsync(x, 4, 3, true, false, promised)).resolves.toBe(promised)
    expect(Array.from(promised)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    const info = model.info() as Record<string, unknown>
    expect(Object.keys(info)).toEqual(['inputSize', 'hiddenSize', 'numLayers', 'outputSize', 'hasHead', 'threads', 'simd', 'weightBytes',
      'deviceBytes', 'pinnedBytes', 'algorithm', 'device'])
    expect(info).toEqual({ inputSize: 3, hiddenSize: 5, numLayers: 2, outputSize: 2, hasHead: true, threads: 1, simd: 'cuda', weightBytes: 0,
      deviceBytes: 1005, pinnedBytes: 24, algorithm: 'standard', device: 'fake GPU' })
    expect(model.setAlgorithm('persist-static')).toBeUndefined()
    model.predict(x, 4, 3, false, false, out)
    expect((model.info() as { algorithm: string }).algorithm).toBe('persist-static')
    expectSluiceError(() => model.setAlgorithm(2), 'ERR_INVALID_TYPE', /^algorithm must be a string$/)
    expectSluiceError(() => model.setAlgorithm('fast'), 'ERR_INVALID_ARGUMENT', /^cudnnAlgorithm must be 'auto', 'standard' or 'persist-static', got 'fast'$/)
    const chosen = new CudaModel(weights, 'persist-static')
    chosen.predict(x, 4, 3, false, false, out)
    expect((chosen.info() as { algorithm: string }).algorithm).toBe('persist-static')
    expectSluiceError(() => new CudaModel(weights, 'fast'), 'ERR_INVALID_ARGUMENT', /cudnnAlgorithm/)
    chosen.close()
    model.close()
  })

  it('model: the same argument checks as the CPU model, and the core checks lengths before calling the library', async () => {
    const cpu = new CpuModel(weights, 1)
    const gpu = new CudaModel(weights)
    const x = randomArray(rng(53), 2 * 3 * 3)
    const out = new Float32Array(3 * O)
    const bad: [unknown[], string][] = [
      [[new Float64Array(18), 2, 3, false, false, out], 'ERR_INVALID_TYPE'],
      [[x, '2', 3, false, false, out], 'ERR_INVALID_TYPE'],
      [[x, 2, -3, false, false, out], 'ERR_OUT_OF_RANGE'],
      [[x, 2, 3, false, false, new Float64Array(6)], 'ERR_INVALID_TYPE'],
    ]
    for (const [args, code] of bad) {
      for (const method of ['predict', 'predictAsync']) {
        const expected = expectSluiceError(() => cpu[method]!(...args), code as never)
        expectSluiceError(() => gpu[method]!(...args), code as never, new RegExp(`^${escape(expected.message)}$`))
      }
    }
    expectSluiceError(() => gpu.predict(x.subarray(1), 2, 3, false, false, out), 'ERR_INVALID_LENGTH', /^x must have steps·batch·inputSize = 18 floats, got 17$/)
    expectSluiceError(() => gpu.predict(x, 2, 3, false, true, out), 'ERR_INVALID_LENGTH', /^out must hold at least 12 floats, got 6$/)
    await expect(gpu.predictAsync(x, 2, 3, false, true, out)).rejects.toThrow(/out must hold at least 12 floats/)
    expect(gpu.predict(x, 2, 3, false, false, out)).toBe(6) // still works
    cpu.close()
    gpu.close()
  })

  it('model: library failures keep their code; a closed model refuses every call', async () => {
    const model = new CudaModel(weights)
    const x = randomArray(rng(54), 3 * 3)
    const out = new Float32Array(3 * O)
    failIn('lstm_predict', 2)
    expectSluiceError(() => model.predict(x, 1, 3, false, false, out), 'ERR_OUT_OF_MEMORY', /^CUDA backend: fake failure in lstm_predict$/)
    await expect(model.predictAsync(x, 1, 3, false, false, out)).rejects.toMatchObject({ code: 'ERR_OUT_OF_MEMORY', message: 'CUDA backend: fake failure in lstm_predict' })
    failIn('lstm_info', 4)
    expectSluiceError(() => model.info(), 'ERR_INVALID_STATE', /^CUDA backend: fake failure in lstm_info$/)
    failIn('lstm_set_algo', 3)
    expectSluiceError(() => model.setAlgorithm('standard'), 'ERR_NOT_SUPPORTED', /^CUDA backend: fake failure in lstm_set_algo$/)
    expectSluiceError(() => new CudaModel(weights, 'standard'), 'ERR_NOT_SUPPORTED', /lstm_set_algo/)
    failIn('lstm_create', 3)
    expectSluiceError(() => new CudaModel(weights), 'ERR_NOT_SUPPORTED', /^CUDA backend: fake failure in lstm_create$/)
    delete process.env.SLUICE_FAKE_CUDA_FAIL
    expect(model.predict(x, 1, 3, false, false, out)).toBe(6)
    model.close()
    for (const call of [
      () => model.predict(x, 1, 3, false, false, out),
      () => model.predictAsync(x, 1, 3, false, false, out),
      () => model.info(),
      () => model.setAlgorithm('auto'),
    ]) {
      expectSluiceError(call, 'ERR_INVALID_STATE', /^the LstmModel is closed$/)
    }
    model.close() // twice is fine
  })

  it('state: only an open CUDA model; the capacity is checked', () => {
    const cpu = new CpuModel(weights, 1)
    const gpu = new CudaModel(weights)
    expectSluiceError(() => new CudaState(cpu, 4), 'ERR_INVALID_TYPE', /^model must be a native CUDA LstmModel$/)
    expectSluiceError(() => new CpuState(gpu, 4), 'ERR_INVALID_TYPE', /^model must be a native LstmModel$/)
    expectSluiceError(() => new CudaState(gpu, '4'), 'ERR_INVALID_TYPE', /^capacity must be a number$/)
    expectSluiceError(() => new CudaState(gpu, 1.5), 'ERR_OUT_OF_RANGE', /^capacity must be a non-negative integer$/)
    expectSluiceError(() => new CudaState(gpu, -1), 'ERR_OUT_OF_RANGE', /^capacity must be a non-negative integer$/)
    expectSluiceError(() => new CudaState(gpu, 0), 'ERR_OUT_OF_RANGE', /^capacity must be in \[1, 4294967295\]$/)
    expectSluiceError(() => new CudaState(gpu, 2 ** 32), 'ERR_OUT_OF_RANGE', /^capacity must be in \[1, 4294967295\]$/)
    failIn('state_create', 2)
    expectSluiceError(() => new CudaState(gpu, 4), 'ERR_OUT_OF_MEMORY', /^CUDA backend: fake failure in state_create$/)
    delete process.env.SLUICE_FAKE_CUDA_FAIL
    const state = new CudaState(gpu, 6)
    expect(state.info()).toEqual({ capacity: 6, bytesPerKey: stateBytesPerKey, bytes: 6 * stateBytesPerKey })
    gpu.close()
    expectSluiceError(() => new CudaState(gpu, 4), 'ERR_INVALID_STATE', /^the LstmModel is closed$/)
    expect(state.step(Uint32Array.of(1), Float32Array.of(1, 0, 0), new Float32Array(O))).toBe(O) // the state keeps its model
    state.close()
    cpu.close()
  })

  it('state: steps, checks keys before the library sees them, resets', () => {
    const model = new CudaModel(weights)
    const state = new CudaState(model, 8)
    const step = (keys: number[], firsts: number[]) => {
      const x = new Float32Array(keys.length * 3)
      firsts.forEach((v, i) => (x[i * 3] = v))
      const out = new Float32Array(keys.length * O)
      expect(state.step(Uint32Array.from(keys), x, out)).toBe(keys.length * O)
      return Array.from(out)
    }
    expect(step([2, 7], [1, 10])).toEqual([1, 2, 10, 11])
    expect(step([7, 2], [5, 1])).toEqual([15, 16, 2, 3])
    expectSluiceError(() => step([2, 3, 2], [1, 1, 1]), 'ERR_INVALID_ARGUMENT', /^keys\[2\] = 2 appears twice in one step/)
    expectSluiceError(() => step([3, 8], [1, 1]), 'ERR_OUT_OF_RANGE', /^keys\[1\] = 8 is beyond the capacity \(8\)$/)
    expectSluiceError(() => state.step(Uint32Array.of(1), new Float32Array(2), new Float32Array(O)), 'ERR_INVALID_LENGTH', /^x must have keys.length·inputSize = 3 floats, got 2$/)
    expectSluiceError(() => state.step(Uint32Array.of(1), new Float32Array(3), new Float32Array(1)), 'ERR_INVALID_LENGTH', /^out must hold at least 2 floats, got 1$/)
    expectSluiceError(() => state.reset(Uint32Array.of(9)), 'ERR_OUT_OF_RANGE', /^keys\[0\] = 9/)
    expect(step([2, 7, 3], [0, 0, 0])).toEqual([2, 3, 15, 16, 0, 1]) // the refused calls changed nothing
    expect(step([], [])).toEqual([])
    expect(state.reset(Uint32Array.of(7))).toBeUndefined()
    expect(step([2, 7], [0, 0])).toEqual([2, 3, 0, 1])
    expect(state.reset()).toBeUndefined()
    expect(step([2], [0])).toEqual([0, 1])
    failIn('state_step', 4)
    expectSluiceError(() => step([2], [1]), 'ERR_INVALID_STATE', /^CUDA backend: fake failure in state_step$/)
    failIn('state_reset', 4)
    expectSluiceError(() => state.reset(), 'ERR_INVALID_STATE', /^CUDA backend: fake failure in state_reset$/)
    expectSluiceError(() => state.reset(Uint32Array.of(1)), 'ERR_INVALID_STATE', /^CUDA backend: fake failure in state_reset$/)
    state.close()
    model.close()
  })

  it('state: snapshots in LstmState’s format, restorable on either backend; bad bytes change nothing', () => {
    const gpuModel = new CudaModel(weights)
    const cpuModel = new CpuModel(weights, 1)
    const gpu = new CudaState(gpuModel, 5)
    const cpu = new CpuState(cpuModel, 5)
    expect(gpu.snapshot()).toEqual(cpu.snapshot()) // both start from zeros
    // The fake adds x to h[0]: values a real state can hold (restore checks |h| ≤ 1).
    gpu.step(Uint32Array.of(4, 1), Float32Array.of(0.5, 0, 0, -0.25, 0, 0), new Float32Array(2 * O))
    const bytes = gpu.snapshot() as Uint8Array
    expect(bytes).not.toEqual(cpu.snapshot())
    cpu.restore(bytes)
    expect(cpu.snapshot()).toEqual(bytes)
    const back = new CudaState(gpuModel, 5)
    back.restore(cpu.snapshot())
    expect(back.snapshot()).toEqual(bytes)
    const out = new Float32Array(O)
    back.step(Uint32Array.of(4), Float32Array.of(0.25, 0, 0), out)
    expect(Array.from(out)).toEqual([0.75, 1.75]) // continues from the restored table
    expectSluiceError(() => back.restore(bytes.subarray(0, bytes.length - 1)), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => back.restore(new CpuState(cpuModel, 6).snapshot()), 'ERR_MALFORMED_DATA', /^the snapshot is of a state with another capacity$/)
    const otherShape = new CpuModel(randomLstmWeights(rng(55), { layers: 1, inputSize: 3, hiddenSize: 5, outputSize: 2 }), 1)
    expectSluiceError(() => back.restore(new CpuState(otherShape, 5).snapshot()), 'ERR_MALFORMED_DATA', /^the snapshot is of a model with another shape$/)
    expectSluiceError(() => back.restore(Array.from(bytes)), 'ERR_INVALID_TYPE', /^bytes must be a Uint8Array$/)
    back.step(Uint32Array.of(4), Float32Array.of(0, 0, 0), out)
    expect(Array.from(out)).toEqual([0.75, 1.75]) // unchanged by the refused restores
    failIn('state_read', 4)
    expectSluiceError(() => back.snapshot(), 'ERR_INVALID_STATE', /^CUDA backend: fake failure in state_read$/)
    failIn('state_write', 2)
    expectSluiceError(() => back.restore(bytes), 'ERR_OUT_OF_MEMORY', /^CUDA backend: fake failure in state_write$/)
    for (const s of [gpu, cpu, back]) s.close()
    for (const m of [gpuModel, cpuModel, otherShape]) m.close()
  })

  it('state: stepAsync equals step on a twin, checks before queuing, refuses other calls while in flight', async () => {
    const model = new CudaModel(weights)
    const cpuModel = new CpuModel(weights, 1)
    const async = new CudaState(model, 8), sync = new CudaState(model, 8)
    const random = rng(56)
    for (let round = 0; round < 10; round++) {
      const keys = Uint32Array.from([0, 1, 2, 3, 4, 5, 6, 7].filter(() => random() < 0.6))
      const x = randomArray(random, keys.length * 3)
      const out = new Float32Array(keys.length * O)
      const expected = new Float32Array(keys.length * O)
      sync.step(keys, x, expected)
      const pending = async.stepAsync(keys, x, out) as Promise<Float32Array>
      keys.fill(9) // copied at the call
      await expect(pending).resolves.toBe(out)
      expect(Array.from(out)).toEqual(Array.from(expected))
    }
    expect(async.snapshot()).toEqual(sync.snapshot())
    // The binding's checks throw synchronously, with step's codes and messages, before anything is queued;
    // the CPU binding (the same template) says the same.
    const cpu = new CpuState(cpuModel, 8)
    const x2 = new Float32Array(6), out2 = new Float32Array(2 * O)
    for (const [args, code] of [
      [[Uint32Array.of(2, 2), x2, out2], 'ERR_INVALID_ARGUMENT'],
      [[Uint32Array.of(2, 8), x2, out2], 'ERR_OUT_OF_RANGE'],
      [[Uint32Array.of(2, 3), x2.subarray(1), out2], 'ERR_INVALID_LENGTH'],
      [[Uint32Array.of(2, 3), x2, out2.subarray(1)], 'ERR_INVALID_LENGTH'],
      [[Int32Array.of(2, 3), x2, out2], 'ERR_INVALID_TYPE'],
      [[Uint32Array.of(2, 3), new Float64Array(6), out2], 'ERR_INVALID_TYPE'],
    ] as [unknown[], string][]) {
      const expected = expectSluiceError(() => sync.step(...args), code as never)
      for (const state of [async, cpu]) expectSluiceError(() => state.stepAsync(...args), code as never, new RegExp(`^${escape(expected.message)}$`))
    }
    expect(async.snapshot()).toEqual(sync.snapshot())
    // In flight: the state is busy; info stays readable.
    const pending = async.stepAsync(Uint32Array.of(3), Float32Array.of(2, 0, 0), new Float32Array(O)) as Promise<Float32Array>
    const busy = /^a stepAsync is in flight on this LstmState: await it first$/
    for (const call of tableCalls(async, 4, sync.snapshot())) expectSluiceError(call, 'ERR_INVALID_STATE', busy)
    expect(async.info()).toEqual(sync.info())
    sync.step(Uint32Array.of(3), Float32Array.of(2, 0, 0), new Float32Array(O))
    await pending
    expect(async.snapshot()).toEqual(sync.snapshot())
    // A library failure on the worker rejects with its code and frees the state for the next call.
    failIn('state_step', 2)
    await expect(async.stepAsync(Uint32Array.of(1), new Float32Array(3), new Float32Array(O))).rejects.toMatchObject({
      code: 'ERR_OUT_OF_MEMORY', message: 'CUDA backend: fake failure in state_step' })
    delete process.env.SLUICE_FAKE_CUDA_FAIL
    expect(async.snapshot()).toEqual(sync.snapshot())
    // close() while in flight: closed at once, the step still resolves (the worker holds the table).
    const last = new Float32Array(O)
    const closing = async.stepAsync(Uint32Array.of(3), Float32Array.of(1, 0, 0), last) as Promise<Float32Array>
    async.close()
    model.close()
    expectSluiceError(() => async.snapshot(), 'ERR_INVALID_STATE', /^the LstmState is closed$/)
    await expect(closing).resolves.toBe(last)
    const expected = new Float32Array(O)
    sync.step(Uint32Array.of(3), Float32Array.of(1, 0, 0), expected)
    expect(Array.from(last)).toEqual(Array.from(expected))
    for (const s of [sync, cpu]) s.close()
    cpuModel.close()
  })

  it('state: a closed state refuses every call', () => {
    const model = new CudaModel(weights)
    const state = new CudaState(model, 2)
    const bytes = state.snapshot()
    state.close()
    for (const call of [...tableCalls(state, 1, bytes), () => state.info()]) expectSluiceError(call, 'ERR_INVALID_STATE', /^the LstmState is closed$/)
    state.close() // twice is fine
    model.close()
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
