// RollingZScore keyed by string[], 64-bit ids and packed bytes against a naive recomputation: a dense
// RollingZScore fed ids from a plain JS Map (a key gets a fresh id when it first appears or comes back after
// expiry, so it starts with no history). Unicode and empty keys, expiry at random points, growth past the
// starting capacity, maxKeys, refused batches and key columns over shared memory.
import { describe, expect, it } from 'vitest'
import { RollingZScore, type PackedKeys } from '../../lib/index'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'
import { INTERNED_KINDS as KINDS, keyColumn, keyNames, keyPool, type InternedKind as Kind } from '../support/key_columns'

const C = 2
const options = { channels: C, window: 8, warmup: 3, threshold: 2.5 }

/** keys as a column of `kind`; packed bytes start at offset 1 (offsets need not start at 0). */
const column = (kind: Kind, keys: string[], pool: string[], Buffer: typeof ArrayBuffer | typeof SharedArrayBuffer = ArrayBuffer) =>
  keyColumn(kind, keys, pool, { start: 1, Buffer })

/** The naive peer: a dense RollingZScore with room for every fresh id, keyed through a JS Map. */
class MapKeyedZScore {
  readonly ids = new Map<string, number>()
  private next = 0
  readonly z = new RollingZScore({ ...options, keyCount: 5000 })
  scores(keys: string[], values: Float64Array): number[] {
    return keys.map((k, i) => {
      let id = this.ids.get(k)
      if (id === undefined) this.ids.set(k, (id = this.next++))
      return this.z.scoreAndUpdate(id, values, i * C)
    })
  }
}

/** Values around a per-key level with rare spikes and NaNs. */
function valuesOf(r: () => number, n: number): Float64Array {
  return Float64Array.from({ length: n * C }, () => (r() < 0.03 ? NaN : r() < 0.05 ? 50 * r() : 10 + r()))
}

describe('RollingZScore keyed by any kind, against a Map-keyed dense one', () => {
  for (const kind of KINDS) {
    it(`${kind}: random batches (keys may repeat) and expiry, growth past the starting capacity`, () => {
      const r = rng(kind.length * 17 + 3)
      const pool = keyPool(r, 40)
      const keyed = new RollingZScore({ ...options, keys: kind, keyCount: 2 })
      const peer = new MapKeyedZScore()
      let expired = 0, scored = 0, flagged = 0
      for (let t = 0; t < 200; t++) {
        const keys = Array.from({ length: 1 + Math.floor(r() * 12) }, () => pool[Math.floor(r() * pool.length)]!)
        const values = valuesOf(r, keys.length)
        const got = keyed.scoreBatch(column(kind, keys, pool) as never, values)
        expect(Array.from(got)).toEqual(peer.scores(keys, values))
        for (const z of got) {
          if (Number.isFinite(z)) scored++
          if (z > options.threshold) flagged++
        }
        if (r() < 0.1) {
          const live = [...peer.ids.keys()]
          const gone = [...new Set(Array.from({ length: 3 }, () => live[Math.floor(r() * live.length)]!))]
          expect(keyed.expire(column(kind, gone, pool) as never)).toBe(gone.length)
          for (const k of gone) peer.ids.delete(k)
          expired += gone.length
        }
        expect(keyed.keyStats()).toEqual({ liveKeys: peer.ids.size, expiredKeys: expired })
      }
      expect(keyed.keyCount).toBeGreaterThan(2)
      expect(scored).toBeGreaterThan(300) // the comparison covers real scores, not only warm-up NaNs
      expect(flagged).toBeGreaterThan(0)
      keyed.close()
    })
  }

  it('a key that comes back after expire() starts with no history', () => {
    const z = new RollingZScore({ ...options, keys: 'string' })
    for (let t = 0; t < 5; t++) z.scoreBatch(['', 'é'], Float64Array.of(1 + t, 2, 3, 4 - t))
    expect(Number.isNaN(z.scoreBatch([''], Float64Array.of(9, 9))[0])).toBe(false) // warmed up
    expect(z.expire(['', 'not there'])).toBe(1)
    expect(Number.isNaN(z.scoreBatch([''], Float64Array.of(9, 9))[0])).toBe(true) // warming up again
    expect(z.keysOf(Uint32Array.of(0, 1)).sort()).toEqual(['', 'é'])
    z.close()
  })

  it('maxKeys and bad input are refused before any change: a refused batch adds no key', () => {
    const z = new RollingZScore({ ...options, keys: 'bytes', maxKeys: 2 })
    const pack = (keys: string[]) => column('bytes', keys, keys) as PackedKeys
    z.scoreBatch(pack(['a']), Float64Array.of(1, 1))
    expectSluiceError(() => z.scoreBatch(pack(['b', 'c']), new Float64Array(2 * C)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => z.scoreBatch(pack(['b']), new Float64Array(3)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => z.scoreBatch(pack(['b']), new Float64Array(C), new Float64Array(0)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => z.scoreBatch({ bytes: new Uint8Array(2), offsets: Uint32Array.of(2, 1) }, new Float64Array(C)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => z.scoreBatch(['b'] as never, new Float64Array(C)), 'ERR_INVALID_TYPE')
    expect(z.keyStats().liveKeys).toBe(1)
    z.scoreBatch(pack(['b', 'a']), new Float64Array(2 * C)) // the second key fits
    expect(z.keyStats().liveKeys).toBe(2)
    expectSluiceError(() => z.expire(Uint32Array.of(7)), 'ERR_OUT_OF_RANGE')
    z.close()
    const s = new RollingZScore({ ...options, keys: 'string' })
    expectSluiceError(() => s.scoreBatch(['a', null as never], new Float64Array(2 * C)), 'ERR_INVALID_TYPE')
    expectSluiceError(() => s.scoreBatch(['\udc00'], new Float64Array(C)), 'ERR_INVALID_ARGUMENT')
    expect(s.keyStats().liveKeys).toBe(0)
    s.close()
    const dense = new RollingZScore({ ...options, keyCount: 4 })
    expectSluiceError(() => dense.scoreBatch(Uint32Array.of(4), new Float64Array(C)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => dense.expire(['a']), 'ERR_INVALID_ARGUMENT')
    expect(dense.scoreBatch(Uint32Array.of(3, 3), Float64Array.of(1, 2, 3, 4)).length).toBe(2)
  })

  it('key columns over a SharedArrayBuffer score as plain ones', () => {
    const pool = keyPool(rng(5), 10)
    for (const kind of ['bigint', 'bytes'] as Kind[]) {
      const [plain, shared] = [new RollingZScore({ ...options, keys: kind }), new RollingZScore({ ...options, keys: kind })]
      const r = rng(6)
      for (let t = 0; t < 30; t++) {
        const keys = Array.from({ length: 4 }, () => pool[Math.floor(r() * pool.length)]!)
        const values = valuesOf(r, keys.length)
        expect(Array.from(shared.scoreBatch(column(kind, keys, pool, SharedArrayBuffer) as never, values))).toEqual(Array.from(plain.scoreBatch(column(kind, keys, pool) as never, values)))
      }
      expect(keyNames(kind, shared.keysOf(Uint32Array.of(0, 1)), pool)).toEqual(keyNames(kind, plain.keysOf(Uint32Array.of(0, 1)), pool))
      plain.close()
      shared.close()
    }
  })
})
