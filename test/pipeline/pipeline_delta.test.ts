// Incremental checkpoints of the Pipeline (snapshotDelta / applyDelta): over long random keyed runs with an
// LSTM state step, the residual z-score and keyTtl expiry (string keys, and dense ids), a fresh pipeline
// brought by restore(full) and the chain's deltas in order holds, byte for byte, the state of a full
// snapshot taken at the chain's end (chains of 1 … 6 deltas), and continues with the same results as the
// live one. Damaged or out-of-chain deltas are refused and change nothing; sketch features refuse deltas.
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type PipelineOptions, type ResultBatch } from '../../lib/index'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

const model = LstmModel.create({ inputSize: 2, hiddenSize: 6, outputSize: 2, seed: 5 })
const KEYS = 40

function options(keyed: boolean): PipelineOptions {
  return {
    window: { size: 10 }, bound: 3, clock: () => 0, maxFill: 4, channels: 2,
    forecaster: { model, mode: 'state' }, anomaly: { window: 4, warmup: 2, threshold: 1.5 },
    ...(keyed ? { keys: 'string' as const, keyCount: 2, keyTtl: 60 } : { keyCount: KEYS }),
  }
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

/** A batch: a few events of keys from a band that drifts (keys go quiet, expire with keyTtl, come back). */
function makeBatch(random: () => number, b: number, keyed: boolean) {
  const from = Math.floor(b / 4) % (KEYS - 12)
  const n = 1 + Math.floor(random() * 10)
  const timestamps = Float64Array.from({ length: n }, (_, i) => b * 5 + i + Math.floor(random() * 6) - 2)
  const ids = Array.from({ length: n }, () => from + Math.floor(random() * 12))
  const values = Float64Array.from({ length: n * 2 }, (_, i) => Math.round(Math.sin(b + i) * 40 + random() * 10) / 4)
  return { timestamps, values, keys: keyed ? ids.map((k) => `host-${k}`) : Uint32Array.from(ids) }
}

function rows(result: ResultBatch, keysOf: (ids: Uint32Array) => unknown): string {
  const keys = result.length > 0 ? Array.from(keysOf(result.key) as ArrayLike<unknown>) : []
  return JSON.stringify({ keys, start: [...result.start], values: [...result.values], forecast: [...result.forecast], score: [...result.score] })
}

describe('Pipeline incremental checkpoints', () => {
  for (const keyed of [true, false]) {
    it(`restore(full) + deltas == the full snapshot at the chain's end (${keyed ? 'string keys, keyTtl' : 'dense ids'})`, () => {
      const random = mulberry32(keyed ? 11 : 12)
      const live = new Pipeline(options(keyed))
      let full = live.snapshot()
      let chain: Uint8Array[] = []
      let chainLength = 1 + Math.floor(random() * 6)
      let checked = 0, deltaBytes = 0, fullBytes = 0
      for (let b = 0; b < 240; b++) {
        live.process(makeBatch(random, b, keyed) as never)
        if (b % 3 !== 2) continue
        const delta = live.snapshotDelta()
        chain.push(delta)
        if (chain.length < chainLength) continue
        // The chain ends: a full snapshot now (the state the deltas must reach), then a new chain on it.
        const reference = live.snapshot()
        const restored = new Pipeline(options(keyed))
        restored.restore(full)
        for (const d of chain) restored.applyDelta(d)
        expect(same(restored.snapshot(), reference), `batch ${b}`).toBe(true)
        expect(restored.metrics().liveKeys).toBe(live.metrics().liveKeys)
        restored.close()
        checked++
        deltaBytes += delta.length
        fullBytes += reference.length
        full = reference
        chain = []
        chainLength = 1 + Math.floor(random() * 6)
      }
      expect(checked).toBeGreaterThan(15)
      if (keyed) expect(live.metrics().expiredKeys).toBeGreaterThan(10) // keyTtl freed keys along the way
      expect(deltaBytes).toBeLessThan(fullBytes) // deltas hold the changed keys only
      live.close()
    })

    it(`a pipeline restored from full + deltas continues exactly as the live one (${keyed ? 'string keys' : 'dense ids'})`, () => {
      const random = mulberry32(keyed ? 21 : 22)
      const live = new Pipeline(options(keyed))
      const restored = new Pipeline(options(keyed))
      for (let b = 0; b < 30; b++) live.process(makeBatch(random, b, keyed) as never)
      restored.restore(live.snapshot())
      for (let b = 30; b < 150; b++) {
        live.process(makeBatch(random, b, keyed) as never)
        if (b % 7 === 0) restored.applyDelta(live.snapshotDelta())
      }
      restored.applyDelta(live.snapshotDelta())
      for (let b = 150; b < 200; b++) {
        const batch = makeBatch(random, b, keyed)
        expect(rows(restored.process(batch as never), (ids) => restored.keysOf(ids))).toBe(rows(live.process(batch as never), (ids) => live.keysOf(ids)))
      }
      expect(live.metrics().windowsFired).toBeGreaterThan(100)
      live.close()
      restored.close()
    })
  }

  it('refuses damaged, repeated, missing and foreign deltas, changing nothing', () => {
    const random = mulberry32(31)
    const live = new Pipeline(options(true))
    for (let b = 0; b < 20; b++) live.process(makeBatch(random, b, true) as never)
    const full = live.snapshot()
    const deltas: Uint8Array[] = []
    for (let b = 20; b < 50; b++) {
      live.process(makeBatch(random, b, true) as never)
      if (b % 10 === 9) deltas.push(live.snapshotDelta())
    }
    const target = new Pipeline(options(true))
    target.restore(full)
    const check = (bytes: Uint8Array, code: string, message?: RegExp) => {
      const probe = new Pipeline(options(true))
      probe.restore(target.snapshot())
      expectSluiceError(() => target.applyDelta(bytes), code, message)
      // Nothing changed: its state is the one before, and its chain still takes the right delta.
      expect(same(target.snapshot(), probe.snapshot())).toBe(true)
      probe.close()
    }
    // target.snapshot() starts a new chain, on the same bytes as `full` (nothing changed): deltas[0] still fits.
    const corrupted = deltas[0]!.slice()
    corrupted[corrupted.length - 5]! ^= 0x40
    check(corrupted, 'ERR_MALFORMED_DATA')
    check(full, 'ERR_MALFORMED_DATA', /kind/)
    check(deltas[1]!, 'ERR_INVALID_ARGUMENT', /does not build on/) // one missing
    target.applyDelta(deltas[0]!)
    expectSluiceError(() => target.applyDelta(deltas[0]!), 'ERR_INVALID_ARGUMENT', /does not build on/) // repeated
    const truncated = deltas[1]!.subarray(0, deltas[1]!.length - 9)
    expectSluiceError(() => target.applyDelta(truncated), 'ERR_MALFORMED_DATA')
    target.applyDelta(deltas[1]!)
    target.applyDelta(deltas[2]!)
    expect(same(target.snapshot(), live.snapshot())).toBe(true)
    // A dense pipeline's delta into a keyed one (another chain, and another keys kind).
    const dense = new Pipeline(options(false))
    dense.snapshot()
    dense.process(makeBatch(random, 0, false) as never)
    const other = dense.snapshotDelta()
    target.restore(live.snapshot())
    expectSluiceError(() => target.applyDelta(other), 'ERR_INVALID_ARGUMENT')
    // Moved since its checkpoint: ERR_INVALID_STATE.
    const next = live.snapshot()
    live.process(makeBatch(random, 60, true) as never)
    const delta = live.snapshotDelta()
    target.restore(next)
    target.process(makeBatch(random, 61, true) as never)
    expectSluiceError(() => target.applyDelta(delta), 'ERR_INVALID_STATE')
    for (const p of [live, target, dense]) p.close()
  })

  it('snapshotDelta() needs a checkpoint first; sketch features refuse deltas (ERR_NOT_SUPPORTED)', () => {
    const p = new Pipeline(options(false))
    expectSluiceError(() => p.snapshotDelta(), 'ERR_INVALID_STATE', /checkpoint/)
    const sketches = new Pipeline({ keyCount: 4, window: { size: 10 }, clock: () => 0, features: { aggregates: ['mean', 'p50'] } })
    sketches.snapshot()
    expectSluiceError(() => sketches.snapshotDelta(), 'ERR_NOT_SUPPORTED')
    p.close()
    sketches.close()
  })
})
