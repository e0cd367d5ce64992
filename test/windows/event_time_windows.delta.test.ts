// Incremental checkpoints of EventTimeWindows (snapshotDelta / applyDelta): over long random runs (string keys
// expiring under keyTtl, dense ids, tumbling / sliding / long sliding (Two-Stacks) / session windows, late
// events within and beyond the allowed lateness, explicit expire()), an object restored from a full snapshot
// and brought forward by every delta since equals, byte for byte, one restored from a full snapshot taken at
// the same point, at random points; and it goes on exactly like the original. Deltas of another chain,
// missing, repeated, corrupted or forged are refused with nothing changed.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, type EventTimeWindowsOptions } from '../../lib/index'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

const CHANNELS = 2

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

interface Batch {
  timestamps: Float64Array
  keys: Uint32Array | string[]
  values: Float64Array
}

/** Batches with time moving forward by `step` each, disorder up to `disorder` (some events late). */
function makeBatches(seed: number, count: number, perBatch: number, step: number, keyCount: number, strings: boolean, disorder: number): Batch[] {
  const rnd = mulberry32(seed)
  return Array.from({ length: count }, (_, b) => {
    const timestamps = new Float64Array(perBatch)
    const values = new Float64Array(perBatch * CHANNELS)
    const ids: number[] = []
    // Each batch touches a drifting band of keys, so others go idle (and expire under keyTtl).
    const band = Math.max(8, Math.floor(keyCount / 4))
    for (let i = 0; i < perBatch; i++) {
      timestamps[i] = b * step + Math.floor(rnd() * step) - Math.floor(rnd() * disorder)
      ids.push((b * 7 + Math.floor(rnd() * band)) % keyCount)
      for (let c = 0; c < CHANNELS; c++) values[i * CHANNELS + c] = Math.floor(rnd() * 1000)
    }
    return { timestamps, values, keys: strings ? ids.map((k) => `k${k}`) : Uint32Array.from(ids) }
  })
}

const CASES: { name: string; options: EventTimeWindowsOptions; strings: boolean; keyCount: number }[] = [
  { name: 'tumbling, string keys with keyTtl', options: { type: 'tumbling', size: 100, allowedLateness: 40, keys: 'string', keyTtl: 150, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }, strings: true, keyCount: 3000 },
  { name: 'sliding, dense ids, first/last', options: { type: 'sliding', size: 120, slide: 40, allowedLateness: 30, keyCount: 3000, channels: CHANNELS, aggregates: ['count', 'mean', 'first', 'last', 'var'] }, strings: false, keyCount: 3000 },
  { name: 'long sliding (Two-Stacks), string keys', options: { type: 'sliding', size: 400, slide: 10, allowedLateness: 20, keys: 'string', keyTtl: 500, channels: CHANNELS, aggregates: ['sum', 'max'] }, strings: true, keyCount: 3000 },
  { name: 'session, string keys with keyTtl', options: { type: 'session', gap: 200, allowedLateness: 25, keys: 'string', keyTtl: 400, channels: CHANNELS, aggregates: ['count', 'sum', 'last'] }, strings: true, keyCount: 3000 },
  { name: 'session, dense ids growing (maxKeys)', options: { type: 'session', gap: 50, allowedLateness: 0, keyCount: 4, maxKeys: 4096, channels: CHANNELS, aggregates: ['count', 'max'] }, strings: false, keyCount: 3000 },
]

describe('EventTimeWindows incremental checkpoints', () => {
  for (const { name, options, strings, keyCount } of CASES) {
    it(`full + deltas restores byte for byte what a full snapshot restores, at random points (${name})`, () => {
      const rnd = mulberry32(name.length * 7919)
      const batches = makeBatches(name.length, 160, 120, 20, keyCount, strings, 60)
      const live = new EventTimeWindows(options) // checkpoints by deltas
      const twin = new EventTimeWindows(options) // the same events; snapshot() at will (the reference)
      let full = live.snapshot()
      let deltas: Uint8Array[] = []
      let deltaBytes = 0
      let fullBytes = 0
      let checked = 0
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!
        const watermark = Math.max(...batch.timestamps) - 25
        for (const w of [live, twin]) {
          w.push(batch)
          // Every third batch is checkpointed before its advance: late events' pending updates are in the state.
          if (b % 3 !== 1) w.advanceWatermark(watermark)
        }
        if (strings && b % 37 === 36) {
          const gone = [`k${(b * 7) % keyCount}`, 'never-seen']
          expect(live.expire(gone)).toBe(twin.expire(gone))
        }
        if (b % 12 === 11) {
          full = live.snapshot() // a new chain
          deltas = []
        } else {
          const delta = live.snapshotDelta()
          expect(live.changedKeys()).toBe(0)
          deltas.push(delta)
          deltaBytes += delta.length
        }
        const reference = twin.snapshot()
        fullBytes += reference.length
        if (rnd() < 0.3 || b === batches.length - 1) {
          const restored = new EventTimeWindows(options)
          restored.restore(full)
          for (const delta of deltas) restored.applyDelta(delta)
          const fromFull = new EventTimeWindows(options)
          fromFull.restore(reference)
          expect(same(fromFull.snapshot(), reference)).toBe(true)
          expect(same(restored.snapshot(), reference)).toBe(true)
          // And it goes on as the original does.
          const next = batches[(b + 1) % batches.length]!
          const shifted = { ...next, timestamps: next.timestamps.map((t) => t + (b + 1) * 20 - ((b + 1) % batches.length) * 20) }
          for (const w of [restored, fromFull]) w.push(shifted)
          const end = Math.max(...shifted.timestamps) + 1000
          const want = fromFull.advanceWatermark(end)
          const got = restored.advanceWatermark(end)
          expect(got.length).toBe(want.length)
          expect(Array.from(got.values)).toEqual(Array.from(want.values))
          expect(got.keys).toEqual(want.keys)
          restored.close()
          fromFull.close()
          checked++
        }
      }
      expect(checked).toBeGreaterThan(20)
      if (strings && options.keyTtl !== undefined) expect(live.metrics().expiredKeys).toBeGreaterThan(50)
      // Deltas hold the keys that changed, not the whole state.
      expect(deltaBytes).toBeLessThan(0.6 * fullBytes)
      live.close()
      twin.close()
    })
  }

  it('refuses deltas of another chain, missing, repeated, corrupted or forged, changing nothing', () => {
    const options: EventTimeWindowsOptions = { type: 'tumbling', size: 100, allowedLateness: 40, keys: 'string', keyTtl: 300, channels: CHANNELS, aggregates: ['count', 'sum'] }
    const batches = makeBatches(5, 6, 100, 20, 50, true, 30)
    const w = new EventTimeWindows(options)
    const full = w.snapshot()
    const deltas: Uint8Array[] = []
    for (const batch of batches) {
      w.push(batch)
      w.advanceWatermark(Math.max(...batch.timestamps) - 25)
      deltas.push(w.snapshotDelta())
    }
    const fresh = () => {
      const r = new EventTimeWindows(options)
      r.restore(full)
      return r
    }
    // Windows at another checkpoint (the state after the first batch): the chain's first delta does not fit.
    const r = fresh()
    r.applyDelta(deltas[0]!)
    const other = new EventTimeWindows(options)
    other.restore(r.snapshot())
    const before = other.snapshot()
    expectSluiceError(() => other.applyDelta(deltas[0]!), 'ERR_INVALID_ARGUMENT', /does not build on/)
    const s = fresh()
    expectSluiceError(() => s.applyDelta(deltas[1]!), 'ERR_INVALID_ARGUMENT', /does not build on/) // one missing
    s.applyDelta(deltas[0]!)
    expectSluiceError(() => s.applyDelta(deltas[0]!), 'ERR_INVALID_ARGUMENT', /does not build on/) // repeated
    const corrupted = deltas[1]!.slice()
    corrupted[40]! ^= 1
    expectSluiceError(() => s.applyDelta(corrupted), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => s.applyDelta(full), 'ERR_MALFORMED_DATA', /kind/)
    expectSluiceError(() => s.applyDelta(deltas[1]!.subarray(0, 30)), 'ERR_MALFORMED_DATA')
    for (const delta of deltas.slice(1)) s.applyDelta(delta)
    expect(same(s.snapshot(), w.snapshot())).toBe(true)
    // Windows that changed since their checkpoint take no delta.
    const t = fresh()
    t.push(batches[0]!)
    expectSluiceError(() => t.applyDelta(deltas[0]!), 'ERR_INVALID_STATE', /changed since/)
    // Before any checkpoint there is nothing to build on.
    const u = new EventTimeWindows(options)
    expectSluiceError(() => u.snapshotDelta(), 'ERR_INVALID_STATE', /snapshot\(\)/)
    const sketches = new EventTimeWindows({ type: 'tumbling', size: 10, aggregates: ['p50'] })
    sketches.snapshot()
    expectSluiceError(() => sketches.snapshotDelta(), 'ERR_NOT_SUPPORTED')
    expect(same(other.snapshot(), before)).toBe(true)
    for (const x of [w, r, s, t, u, sketches, other]) x.close()
  })
})
