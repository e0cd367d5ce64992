// LstmModel: predict / predictAsync against the naive float64 reference (PyTorch semantics), layouts,
// output buffers, bad input, closing, and every SIMD level (child processes with SLUICE_SIMD).
import { describe, expect, it } from 'vitest'
import { backends, LstmModel, SluiceError } from '../../lib/index'
import type { LstmWeights } from '../../lib/lstm/lstm_weights'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { native } from '../../lib/runtime/native'
import { expectSluiceError, repoRoot, runNode, runnableSimdLevels } from '../helpers'
import { maxAbsDiff, randomArray, randomLstmWeights, referenceLstm, rng } from '../support/lstm_reference'

/** [steps][batch][O] → [batch][O] of the last step. */
function lastStep(all: Float64Array, steps: number, batch: number, O: number): Float64Array {
  return all.subarray((steps - 1) * batch * O, steps * batch * O)
}

/** [steps][batch][n] ↔ [batch][steps][n]. */
function swapSteps<T extends Float32Array | Float64Array>(a: T, outer: number, inner: number, n: number): T {
  const out = new (a.constructor as new (n: number) => T)(a.length)
  for (let i = 0; i < outer; i++) for (let j = 0; j < inner; j++) out.set(a.subarray((i * inner + j) * n, (i * inner + j + 1) * n), (j * outer + i) * n)
  return out
}

const shapes = [
  { layers: 1, inputSize: 1, hiddenSize: 1, outputSize: 0, steps: 1, batch: 1 },
  { layers: 1, inputSize: 3, hiddenSize: 5, outputSize: 2, steps: 6, batch: 4 },
  { layers: 2, inputSize: 7, hiddenSize: 19, outputSize: 0, steps: 5, batch: 13 },
  { layers: 3, inputSize: 4, hiddenSize: 33, outputSize: 17, steps: 3, batch: 9 },
]

describe('LstmModel.predict matches a float64 reference', () => {
  shapes.forEach((s, index) => {
    it(`L${s.layers} I${s.inputSize} H${s.hiddenSize} O${s.outputSize || '-'} T${s.steps} B${s.batch}`, () => {
      const random = rng(index + 1)
      const weights = randomLstmWeights(random, { ...s, scale: 0.5 })
      const x = randomArray(random, s.steps * s.batch * s.inputSize, 2)
      const model = LstmModel.fromWeights(weights, { threads: 2 })
      const O = model.outputSize
      expect(O).toBe(s.outputSize || s.hiddenSize)
      expect(model.hasHead).toBe(s.outputSize > 0)
      expect(model.numLayers).toBe(s.layers)
      const reference = referenceLstm(weights, x, s.steps, s.batch)
      const opts = { steps: s.steps, batch: s.batch }
      expect(maxAbsDiff(model.predict(x, opts), lastStep(reference, s.steps, s.batch, O))).toBeLessThanOrEqual(1e-5)
      expect(maxAbsDiff(model.predict(x, { ...opts, sequence: true }), reference)).toBeLessThanOrEqual(1e-5)
      // batchFirst: the same sequences laid out [batch][steps][I]; the sequence output comes back [batch][steps][O].
      const xBatchFirst = swapSteps(x, s.steps, s.batch, s.inputSize)
      expect(maxAbsDiff(model.predict(xBatchFirst, { ...opts, batchFirst: true }), lastStep(reference, s.steps, s.batch, O))).toBeLessThanOrEqual(1e-5)
      expect(maxAbsDiff(model.predict(xBatchFirst, { ...opts, batchFirst: true, sequence: true }), swapSteps(reference, s.steps, s.batch, O))).toBeLessThanOrEqual(1e-5)
      model.close()
    })
  })

  it('treats missing biases as zeros and saturating inputs without NaN', () => {
    const random = rng(77)
    const weights = randomLstmWeights(random, { layers: 2, inputSize: 3, hiddenSize: 8, outputSize: 2, scale: 2 })
    for (const layer of weights.layers) {
      delete layer.biasIh
      delete layer.biasHh
    }
    delete weights.head!.bias
    const x = randomArray(random, 4 * 3 * 3, 60)
    const model = LstmModel.fromWeights(weights, { threads: 1 })
    const ours = model.predict(x, { steps: 4, batch: 3, sequence: true })
    expect(maxAbsDiff(ours, referenceLstm(weights, x, 4, 3))).toBeLessThanOrEqual(1e-5)
    model.close()
  })

  it('a NaN input spoils only its own sequence', () => {
    const weights = randomLstmWeights(rng(15), { layers: 2, inputSize: 3, hiddenSize: 20, outputSize: 2 })
    const model = LstmModel.fromWeights(weights, { threads: 2 })
    const steps = 4, batch = 30
    const x = randomArray(rng(16), steps * batch * 3)
    const clean = model.predict(x, { steps, batch })
    x[(1 * batch + 17) * 3 + 2] = NaN // step 1, sequence 17
    const dirty = model.predict(x, { steps, batch })
    for (let b = 0; b < batch; b++) {
      for (let o = 0; o < 2; o++) {
        if (b === 17) expect(dirty[b * 2 + o]).toBeNaN()
        else expect(dirty[b * 2 + o]).toBe(clean[b * 2 + o])
      }
    }
    model.close()
  })

  it('writes into a caller’s out and returns a view of exactly the filled length', () => {
    const weights = randomLstmWeights(rng(5), { layers: 1, inputSize: 2, hiddenSize: 4, outputSize: 3 })
    const model = LstmModel.fromWeights(weights)
    const x = randomArray(rng(6), 2 * 5 * 2)
    const out = new Float32Array(100).fill(-1)
    const result = model.predict(x, { steps: 2, batch: 5 }, out)
    expect(result.buffer).toBe(out.buffer)
    expect(result.length).toBe(15)
    expect(out[15]).toBe(-1)
    expect(Array.from(result)).toEqual(Array.from(model.predict(x, { steps: 2, batch: 5 })))
    const exact = new Float32Array(15)
    expect(model.predict(x, { steps: 2, batch: 5 }, exact)).toBe(exact)
    expect(model.outputLength({ steps: 2, batch: 5, sequence: true })).toBe(30)
    model.close()
  })

  it('gives identical results for any thread count', () => {
    const weights = randomLstmWeights(rng(8), { layers: 2, inputSize: 5, hiddenSize: 40, outputSize: 0 })
    const x = randomArray(rng(9), 3 * 70 * 5)
    const results = [1, 2, 3].map((threads) => {
      const model = LstmModel.fromWeights(weights, { threads })
      expect(model.threads).toBe(threads)
      const y = model.predict(x, { steps: 3, batch: 70, sequence: true })
      model.close()
      return Array.from(y)
    })
    expect(results[1]).toEqual(results[0])
    expect(results[2]).toEqual(results[0])
  })
})

describe('LstmModel.predictAsync', () => {
  const weights = randomLstmWeights(rng(10), { layers: 2, inputSize: 6, hiddenSize: 48, outputSize: 3 })

  it('equals predict, and many calls in flight on one model are safe', async () => {
    const model = LstmModel.fromWeights(weights, { threads: 2 })
    const inputs = Array.from({ length: 24 }, (_, i) => randomArray(rng(100 + i), 7 * (i + 1) * 6))
    const expected = inputs.map((x, i) => Array.from(model.predict(x, { steps: 7, batch: i + 1, sequence: i % 2 === 0 })))
    const results = await Promise.all(inputs.map((x, i) => model.predictAsync(x, { steps: 7, batch: i + 1, sequence: i % 2 === 0 })))
    results.forEach((r, i) => expect(Array.from(r)).toEqual(expected[i]))
    model.close()
  })

  it('does not block the event loop', async () => {
    const model = LstmModel.fromWeights(randomLstmWeights(rng(11), { layers: 2, inputSize: 32, hiddenSize: 256 }), { threads: 1 })
    const x = randomArray(rng(12), 64 * 64 * 32)
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    const started = performance.now()
    await model.predictAsync(x, { steps: 64, batch: 64 })
    const elapsed = performance.now() - started
    clearInterval(timer)
    // The event loop ran timers while the worker computed (only checkable when the call took a while).
    if (elapsed > 20) expect(ticks).toBeGreaterThan(0)
    model.close()
  })

  it('keeps x, out and the model alive while it runs, even after close()', async () => {
    const model = LstmModel.fromWeights(weights, { threads: 2 })
    const x = randomArray(rng(13), 9 * 33 * 6)
    const expected = Array.from(model.predict(x, { steps: 9, batch: 33 }))
    const pending = model.predictAsync(x, { steps: 9, batch: 33 }, new Float32Array(99))
    model.close()
    ;(globalThis as { gc?: () => void }).gc?.()
    expect(Array.from(await pending)).toEqual(expected)
    await expect(model.predictAsync(x, { steps: 9, batch: 33 })).rejects.toMatchObject({ code: 'ERR_INVALID_STATE' })
  })

  it('copies views of resizable buffers before the worker uses them', async () => {
    const model = LstmModel.fromWeights(weights)
    const x = randomArray(rng(14), 4 * 5 * 6)
    const expected = Array.from(model.predict(x, { steps: 4, batch: 5 }))
    const Resizable = ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resizable: boolean; resize(n: number): void }
    const buffer = new Resizable(x.byteLength, { maxByteLength: 4 * x.byteLength })
    if (!buffer.resizable) return // this Node has no resizable ArrayBuffer
    const xr = new Float32Array(buffer, 0, x.length)
    xr.set(x)
    const outBuffer = new Resizable(15 * 4, { maxByteLength: 1024 })
    const out = new Float32Array(outBuffer, 0, 15)
    const pending = model.predictAsync(xr, { steps: 4, batch: 5 }, out)
    buffer.resize(0) // the caller shrinks it while the work is queued
    const result = await pending
    expect(result).toBe(out)
    expect(Array.from(result)).toEqual(expected)
    model.close()
  })

  it('rejects bad input with SluiceError instead of throwing', async () => {
    const model = LstmModel.fromWeights(weights)
    await expect(model.predictAsync(new Float32Array(5), { steps: 1, batch: 1 })).rejects.toBeInstanceOf(SluiceError)
    await expect(model.predictAsync(new Float32Array(5), { steps: 1, batch: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_LENGTH' })
    model.close()
  })
})

describe('LstmModel rejects bad input with SluiceError', () => {
  const good = () => randomLstmWeights(rng(20), { layers: 2, inputSize: 3, hiddenSize: 4, outputSize: 2 })

  it('names a weight of the wrong length or type', () => {
    const w1 = good()
    w1.layers[1]!.weightHh = new Float32Array(63)
    expectSluiceError(() => LstmModel.fromWeights(w1), 'ERR_INVALID_LENGTH', /layers\[1\]\.weightHh/)
    const w2 = good()
    w2.layers[0]!.weightIh = new Float32Array(4 * 4 * 4)
    expectSluiceError(() => LstmModel.fromWeights(w2), 'ERR_INVALID_LENGTH', /layers\[0\]\.weightIh.*48/)
    const w3 = good()
    w3.layers[0]!.biasHh = new Float32Array(15)
    expectSluiceError(() => LstmModel.fromWeights(w3), 'ERR_INVALID_LENGTH', /layers\[0\]\.biasHh/)
    const w4 = good()
    w4.head!.weight = new Float32Array(7)
    expectSluiceError(() => LstmModel.fromWeights(w4), 'ERR_INVALID_LENGTH', /head\.weight/)
    const w5 = good()
    w5.head!.bias = new Float32Array(3)
    expectSluiceError(() => LstmModel.fromWeights(w5), 'ERR_INVALID_LENGTH', /head\.bias/)
    const w6 = good()
    ;(w6.layers[0] as { weightIh: unknown }).weightIh = new Float64Array(48)
    expectSluiceError(() => LstmModel.fromWeights(w6), 'ERR_INVALID_TYPE', /layers\[0\]\.weightIh/)
    const w7 = good()
    w7.layers = []
    expectSluiceError(() => LstmModel.fromWeights(w7), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => LstmModel.fromWeights({ ...good(), hiddenSize: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => LstmModel.fromWeights({ ...good(), inputSize: 2.5 }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => LstmModel.fromWeights(good(), { threads: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => LstmModel.fromWeights(null as unknown as LstmWeights), 'ERR_INVALID_TYPE')
    expectSluiceError(() => LstmModel.fromWeights({ ...good(), head: 5 as unknown as LstmWeights['head'] }), 'ERR_INVALID_TYPE', /head/)
    expectSluiceError(() => LstmModel.fromWeights({ ...good(), layers: [5] as unknown as LstmWeights['layers'] }), 'ERR_INVALID_TYPE', /layers\[0\]/)
    // head: null means no head
    expect(LstmModel.fromWeights({ ...good(), head: null as unknown as undefined }).outputSize).toBe(4)
  })

  it('rejects NaN and Infinity in any weight, naming it', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = good()
      w.layers[1]!.weightIh[7] = bad
      expectSluiceError(() => LstmModel.fromWeights(w), 'ERR_INVALID_ARGUMENT', /layers\[1\]\.weightIh\[7\]/)
      const h = good()
      h.head!.bias![1] = bad
      expectSluiceError(() => LstmModel.fromWeights(h), 'ERR_INVALID_ARGUMENT', /head\.bias\[1\]/)
    }
  })

  it('checks x, steps, batch and out, and keeps working afterwards', () => {
    const model = LstmModel.fromWeights(good())
    const x = new Float32Array(2 * 3 * 3)
    expectSluiceError(() => model.predict(new Float64Array(18) as unknown as Float32Array, { steps: 2, batch: 3 }), 'ERR_INVALID_TYPE', /x must be a Float32Array/)
    expectSluiceError(() => model.predict(x, { steps: 3, batch: 3 }), 'ERR_INVALID_LENGTH', /steps·batch·inputSize/)
    expectSluiceError(() => model.predict(x.subarray(1), { steps: 2, batch: 3 }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => model.predict(x, { steps: 0, batch: 3 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.predict(x, { steps: 2, batch: 1.5 }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => model.predict(x, undefined as unknown as { steps: number; batch: number }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => model.predict(x, { steps: 2, batch: 3 }, new Float32Array(5)), 'ERR_INVALID_LENGTH', /out must hold at least 6/)
    expectSluiceError(() => model.predict(x, { steps: 2, batch: 3, sequence: true }, new Float32Array(11)), 'ERR_INVALID_LENGTH')
    expect(model.predict(x, { steps: 2, batch: 3 }).length).toBe(6)
    model.close()
    expectSluiceError(() => model.predict(x, { steps: 2, batch: 3 }), 'ERR_INVALID_STATE')
    expectSluiceError(() => model.createState({ capacity: 4 }), 'ERR_INVALID_STATE')
    model.close() // twice is fine
  })

  it('the native layer re-checks lengths itself', () => {
    const model = LstmModel.fromWeights(good())
    // Bypass the TypeScript checks: call the native object directly with a short x and out.
    const Ctor = native().NativeLstmModel as new (w: LstmWeights, t?: number) => { predict(...a: unknown[]): number; close(): void }
    const direct = new Ctor(good(), 1)
    expectSluiceError(() => direct.predict(new Float32Array(17), 2, 3, false, false, new Float32Array(6)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => direct.predict(new Float32Array(18), 2, 3, false, false, new Float32Array(5)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => direct.predict(new Float32Array(18), 2, 3, false, true, new Float32Array(11)), 'ERR_INVALID_LENGTH')
    expect(direct.predict(new Float32Array(18), 2, 3, false, false, new Float32Array(6))).toBe(6)
    direct.close()
    model.close()
  })
})

describe('every SIMD level (SLUICE_SIMD in a child process)', () => {
  const shape = { layers: 2, inputSize: 5, hiddenSize: 37, outputSize: 3 }
  const weights = randomLstmWeights(rng(30), { ...shape, scale: 0.4 })
  const steps = 6, batch = 11
  const x = randomArray(rng(31), steps * batch * shape.inputSize, 3)
  const reference = referenceLstm(weights, x, steps, batch)
  const dataFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-lstm-')), 'case.json')
  fs.writeFileSync(dataFile, JSON.stringify({
    x: Array.from(x),
    inputSize: weights.inputSize, hiddenSize: weights.hiddenSize,
    layers: weights.layers.map((l) => ({ weightIh: Array.from(l.weightIh), weightHh: Array.from(l.weightHh), biasIh: Array.from(l.biasIh!), biasHh: Array.from(l.biasHh!) })),
    head: { weight: Array.from(weights.head!.weight), bias: Array.from(weights.head!.bias!) },
  }))
  const child = `
    const { LstmModel } = require('./dist')
    const w = JSON.parse(require('node:fs').readFileSync(${JSON.stringify(dataFile)}, 'utf8'))
    const f = (a) => Float32Array.from(a)
    const weights = { inputSize: w.inputSize, hiddenSize: w.hiddenSize, head: { weight: f(w.head.weight), bias: f(w.head.bias) },
      layers: w.layers.map((l) => ({ weightIh: f(l.weightIh), weightHh: f(l.weightHh), biasIh: f(l.biasIh), biasHh: f(l.biasHh) })) }
    const x = f(w.x)
    const model = LstmModel.fromWeights(weights, { threads: 2 })
    const sequence = Array.from(model.predict(x, { steps: ${steps}, batch: ${batch}, sequence: true }))
    const state = model.createState({ capacity: ${batch} })
    const keys = Uint32Array.from({ length: ${batch} }, (_, i) => i)
    const streamed = []
    for (let t = 0; t < ${steps}; t++) streamed.push(...state.step(keys, x.subarray(t * ${batch * shape.inputSize}, (t + 1) * ${batch * shape.inputSize})))
    const snapshot = Buffer.from(state.snapshot()).toString('base64')
    console.log(JSON.stringify({ simd: model.simd, sequence, streamed, snapshot }))
  `
  const supported = backends().cpu.simdSupported
  const levels = runnableSimdLevels(supported)
  for (const level of levels) {
    it(`${level} kernels match the reference, batch and streaming`, () => {
      const result = JSON.parse(runNode(child, { SLUICE_SIMD: level }))
      expect(result.simd).toBe(level)
      expect(maxAbsDiff(result.sequence, reference)).toBeLessThanOrEqual(1e-5)
      expect(result.streamed).toEqual(result.sequence)
      // The state's snapshot does not depend on the SIMD level: this process (the widest level) restores
      // it and continues one more step in agreement with the reference over steps + 1.
      const more = randomArray(rng(32), batch * shape.inputSize, 3)
      const longer = new Float32Array(x.length + more.length)
      longer.set(x)
      longer.set(more, x.length)
      const expected = referenceLstm(weights, longer, steps + 1, batch).subarray(steps * batch * 3)
      const model = LstmModel.fromWeights(weights)
      const state = model.createState({ capacity: batch })
      state.restore(new Uint8Array(Buffer.from(result.snapshot, 'base64')))
      const next = state.step(Uint32Array.from({ length: batch }, (_, i) => i), more)
      expect(maxAbsDiff(next, expected)).toBeLessThanOrEqual(1e-5)
      model.close()
    })
  }
})

describe('worker threads', () => {
  it('models work in several worker threads at once (context-aware addon)', async () => {
    const { Worker } = await import('node:worker_threads')
    const weights = randomLstmWeights(rng(40), { layers: 2, inputSize: 4, hiddenSize: 24, outputSize: 2 })
    const x = randomArray(rng(41), 5 * 9 * 4)
    const expected = Array.from(LstmModel.fromWeights(weights).predict(x, { steps: 5, batch: 9 }))
    const source = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { LstmModel } = require(${JSON.stringify(path.join(repoRoot, 'dist'))})
      const model = LstmModel.fromWeights(workerData.weights, { threads: 2 })
      model.predictAsync(workerData.x, { steps: 5, batch: 9 }).then((y) => { parentPort.postMessage(Array.from(y)); model.close() })
    `
    const results = await Promise.all([0, 1, 2].map(() => new Promise<number[]>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: { weights, x } })
      worker.once('message', (m) => { resolve(m); void worker.terminate() })
      worker.once('error', reject)
    })))
    for (const r of results) expect(r).toEqual(expected)
  })
})
