// Columns in shared memory (issue 16, class 2): keys (or timestamps) backed by a SharedArrayBuffer that
// another thread changes during a synchronous call were checked in one pass and used in another, so a key
// that turned huge after the check indexed past the end (SIGSEGV). Now the binding copies a shared column
// once (StableColumn, native/addon/typed_array.h) and the core checks and uses that copy. Each case runs in a
// child process, so a crash fails the test instead of killing the runner: a worker flips the column between
// valid and out-of-range values in a tight loop while the main thread calls many times; every call must give
// a result or a SluiceError.
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers'

/**
 * The child: `setup` defines `column` (a typed array over `shared`, a SharedArrayBuffer), `valid` and `bad`
 * (arrays of the values the worker writes) and `call()`; the worker alternates the whole column between
 * them until told to stop. Prints the tally of outcomes and how many times the worker flipped.
 */
function race(setup: string, calls: number): { tally: Record<string, number>; flips: number } {
  const out = runNode(`
    const sluice = require('./dist')
    const { SluiceError } = sluice
    const { Worker } = require('worker_threads')
    ${setup}
    const control = new Int32Array(new SharedArrayBuffer(8)) // [0]: stop, [1]: flips
    const worker = new Worker(\`
      const { workerData } = require('worker_threads')
      const { shared, Type, valid, bad, control } = workerData
      const column = new globalThis[Type](shared)
      Atomics.store(control, 1, 1)
      // Each state is held for a random while (0 to a few µs), so that some calls check while the column is
      // valid and use it after it turned bad, whatever the call's own timing.
      let spin = 0
      while (Atomics.load(control, 0) === 0) {
        column.set(bad)
        for (let k = Math.random() * 3000; k > 0; k--) spin++
        column.set(valid)
        for (let k = Math.random() * 3000; k > 0; k--) spin++
        Atomics.add(control, 1, 1)
      }
    \`, { eval: true, workerData: { shared, Type: column.constructor.name, valid, bad, control } })
    while (Atomics.load(control, 1) === 0) {} // the worker is flipping before the first call
    const tally = {}
    for (let i = 0; i < ${calls}; i++) {
      let outcome = 'result'
      try { call() } catch (error) { outcome = error instanceof SluiceError ? error.code : 'other: ' + error }
      tally[outcome] = (tally[outcome] || 0) + 1
    }
    Atomics.store(control, 0, 1)
    worker.on('exit', () => console.log(JSON.stringify({ tally, flips: Atomics.load(control, 1) })))
  `)
  return JSON.parse(out.trim().split('\n').pop()!)
}

/** Every call gave a result or one of `codes`, and the worker flipped while they ran. */
function expectSurvived(outcome: { tally: Record<string, number>; flips: number }, calls: number, codes: string[]): void {
  const { tally, flips } = outcome
  expect(Object.values(tally).reduce((a, b) => a + b, 0)).toBe(calls)
  for (const name of Object.keys(tally)) expect(['result', ...codes]).toContain(name)
  expect(flips).toBeGreaterThan(1)
}

const rows = 512
const calls = 3000
// keys: 0 … 7 (valid for 8 keys) or huge; values alternate whole columns
const keySetup = `
  const shared = new SharedArrayBuffer(${rows} * 4)
  const column = new Uint32Array(shared)
  const valid = Array.from({ length: ${rows} }, (_, i) => i % 8)
  const bad = Array.from({ length: ${rows} }, (_, i) => 0xfffffff0 + (i % 8))
  column.set(valid)
`

describe('shared keys and timestamps changed by another thread during a call', () => {
  for (const kind of ['tumbling', 'session'] as const) {
    it(`EventTimeWindows.push (${kind}): shared keys`, () => {
      const outcome = race(`${keySetup}
        const windows = new sluice.EventTimeWindows({ type: '${kind}', size: 100, gap: 100, horizon: 1000, keyCount: 8, aggregates: ['sum'] })
        const values = new Float64Array(${rows}).fill(1)
        let t = 0
        function call() {
          const timestamps = Float64Array.from({ length: ${rows} }, () => t++)
          windows.advance(t - 200) // before the push: a refused push must not stop the watermark
          windows.push({ timestamps, keys: column, values })
        }
      `, calls)
      expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE'])
    })

    it(`EventTimeWindows.push (${kind}): shared timestamps`, () => {
      const outcome = race(`
        const shared = new SharedArrayBuffer(${rows} * 8)
        const column = new Float64Array(shared)
        const valid = Array.from({ length: ${rows} }, (_, i) => 1e6 + i)
        const bad = Array.from({ length: ${rows} }, (_, i) => [1e300, -9e15, NaN, 9e15][i % 4])
        column.set(valid)
        const windows = new sluice.EventTimeWindows({ type: '${kind}', size: 100, gap: 100, keyCount: 8, aggregates: ['sum'] })
        const keys = Uint32Array.from({ length: ${rows} }, (_, i) => i % 8)
        const values = new Float64Array(${rows}).fill(1)
        function call() { windows.push({ timestamps: column, keys, values }) }
      `, calls)
      expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE', 'ERR_INVALID_ARGUMENT'])
    })
  }

  it('LstmState.step and reset: shared keys', () => {
    const outcome = race(`${keySetup}
      const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 4, seed: 1 })
      const state = model.createState({ capacity: 8 })
      const stepKeys = new Uint32Array(shared, 0, 8) // distinct when valid: step refuses repeats
      const x = new Float32Array(8).fill(0.5)
      let i = 0
      function call() { if (i++ % 2) state.step(stepKeys, x); else state.reset(column) }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE', 'ERR_INVALID_ARGUMENT'])
  })

  it('restore: snapshot bytes in shared memory, flipped between a valid snapshot and one with huge keys', () => {
    const outcome = race(`
      const make = () => new sluice.EventTimeWindows({ type: 'tumbling', size: 100, horizon: 1000, keyCount: 8, aggregates: ['sum'] })
      const source = make()
      source.push({ timestamps: Float64Array.from({ length: 64 }, (_, i) => i), keys: Uint32Array.from({ length: 64 }, (_, i) => i % 8), values: new Float64Array(64).fill(1) })
      const bytes = source.snapshot()
      // Every u32 that holds a key (0 … 7) turned huge, the checksum resealed: a snapshot of impossible keys.
      const forged = Uint8Array.from(bytes), view = new DataView(forged.buffer)
      for (let at = 16; at + 4 <= forged.length - 4; at++) {
        const value = view.getUint32(at, true)
        if (value > 0 && value < 8 && view.getFloat64(at + 4, true) >= 1) view.setUint32(at, 0xfffffff0, true) // a cell: key, then events
      }
      view.setUint32(forged.length - 4, require('node:zlib').crc32(forged.subarray(0, forged.length - 4)), true)
      try { make().restore(forged); throw new Error('the forged snapshot restored') } catch (error) { if (!(error instanceof SluiceError)) throw error }
      const shared = new SharedArrayBuffer(bytes.length)
      const column = new Uint8Array(shared)
      const valid = Array.from(bytes), bad = Array.from(forged)
      column.set(valid)
      const target = make()
      function call() { target.restore(column) }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_MALFORMED_DATA', 'ERR_INVALID_ARGUMENT'])
  })

  it('Pipeline.process: shared keys (its native core copies them before it checks)', () => {
    const outcome = race(`${keySetup}
      const pipeline = new sluice.Pipeline({ keyCount: 8, window: { size: 100, horizon: 100000 }, clock: () => 0 })
      const values = new Float64Array(${rows}).fill(1)
      let t = 0
      function call() {
        const timestamps = Float64Array.from({ length: ${rows} }, () => t++)
        pipeline.process({ timestamps, keys: column, values })
      }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE'])
  })

  it('LstmWindows.push: shared keys', () => {
    const outcome = race(`${keySetup}
      const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 4, seed: 1 })
      const windows = model.createWindows({ capacity: 8, steps: 4 })
      const x = new Float32Array(${rows}).fill(0.5)
      function call() { windows.push(column, x) }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE'])
  })

  // Packed byte keys: the dictionary checks every key's offsets (and UTF-8) in one pass and interns in the
  // next; offsets flipped to run past the bytes must be refused, never read (KeyColumn copies them).
  it('EventTimeWindows.push with packed byte keys: shared offsets', () => {
    const outcome = race(`
      const shared = new SharedArrayBuffer((${rows} + 1) * 4)
      const column = new Uint32Array(shared)
      const valid = Array.from({ length: ${rows} + 1 }, (_, i) => i)
      const bad = Array.from({ length: ${rows} + 1 }, (_, i) => (i === 0 ? 0 : 0x7ffffff0 + i))
      column.set(valid)
      const bytes = new Uint8Array(${rows}).map((_, i) => 97 + (i % 8))
      const windows = new sluice.EventTimeWindows({ type: 'tumbling', size: 100, keys: 'bytes', aggregates: ['sum'] })
      const values = new Float64Array(${rows}).fill(1)
      let t = 0
      function call() {
        const timestamps = Float64Array.from({ length: ${rows} }, () => t++)
        windows.advance(t - 200)
        windows.push({ timestamps, keys: { bytes, offsets: column }, values })
      }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE'])
  })

  it('EventTimeWindows.push with 64-bit keys and expire(): shared ids', () => {
    const outcome = race(`
      const shared = new SharedArrayBuffer(${rows} * 8)
      const column = new BigUint64Array(shared)
      const valid = Array.from({ length: ${rows} }, (_, i) => BigInt(i % 16))
      const bad = Array.from({ length: ${rows} }, (_, i) => 2n ** 64n - 1n - BigInt(i % 16))
      column.set(valid)
      const windows = new sluice.EventTimeWindows({ type: 'sliding', size: 100, slide: 50, keys: 'bigint', maxKeys: 24, aggregates: ['sum'] })
      const values = new Float64Array(${rows}).fill(1)
      let t = 0
      function call() {
        const timestamps = Float64Array.from({ length: ${rows} }, () => t++)
        windows.advance(t - 200)
        windows.push({ timestamps, keys: column, values })
        if (t % 4096 < ${rows}) windows.expire(column)
      }
    `, calls)
    expectSurvived(outcome, calls, ['ERR_OUT_OF_RANGE'])
  })
})
