// LstmWindows keyed by string[], 64-bit ids and packed bytes against a naive recomputation: dense LstmWindows
// fed ids from a plain JS Map (a key gets a fresh id when it first appears or comes back after expiry, so its
// window starts empty). Unicode and empty keys, expiry at random points, growth past the starting capacity,
// maxKeys, refused pushes and key columns over shared memory.
import { describe, expect, it } from 'vitest'
import { LstmModel } from '../../lib/index'
import { expectSluiceError } from '../helpers'
import { INTERNED_KINDS as KINDS, keyColumn, keyNames, keyPool, type InternedKind as Kind } from '../support/key_columns'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

const I = 2, O = 3, STEPS = 4

const makeModel = (seed: number) =>
  LstmModel.fromWeights(randomLstmWeights(rng(seed), { layers: 1, inputSize: I, hiddenSize: 6, outputSize: O }), { threads: 1 })

/** keys as a column of `kind`; packed bytes start at offset 2 (offsets need not start at 0). */
const column = (kind: Kind, keys: string[], pool: string[], Buffer: typeof ArrayBuffer | typeof SharedArrayBuffer = ArrayBuffer) =>
  keyColumn(kind, keys, pool, { start: 2, Buffer })

describe('LstmWindows keyed by any kind, against Map-keyed dense windows', () => {
  for (const kind of KINDS) {
    it(`${kind}: random pushes (keys repeat) and expiry, growth past the starting capacity`, () => {
      const r = rng(kind.length * 13 + 1)
      const model = makeModel(3)
      const pool = keyPool(r, 40)
      const keyed = model.createWindows({ keys: kind, steps: STEPS, capacity: 2 })
      const dense = model.createWindows({ capacity: 5000, steps: STEPS })
      const ids = new Map<string, number>()
      let next = 0, expired = 0
      for (let t = 0; t < 100; t++) {
        const keys = Array.from({ length: 1 + Math.floor(r() * 15) }, () => pool[Math.floor(r() * pool.length)]!)
        const x = randomArray(r, keys.length * I)
        const got = keyed.push(column(kind, keys, pool) as never, x)
        const want = dense.push(Uint32Array.from(keys, (k) => ids.get(k) ?? (ids.set(k, next), next++)), x)
        expect(Array.from(got.output)).toEqual(Array.from(want.output))
        const byId = new Map([...ids].map(([k, id]) => [id, k]))
        expect(keyNames(kind, got.keyValues, pool)).toEqual(Array.from(want.keys, (id) => byId.get(id)!))
        if (r() < 0.15) {
          const live = [...ids.keys()]
          const gone = [...new Set(Array.from({ length: 3 }, () => live[Math.floor(r() * live.length)]!))]
          expect(keyed.expire(column(kind, gone, pool) as never)).toBe(gone.length)
          for (const k of gone) ids.delete(k)
          expired += gone.length
        }
        expect(keyed.keyStats()).toEqual({ liveKeys: ids.size, expiredKeys: expired })
      }
      expect(keyed.capacity).toBeGreaterThan(2)
      model.close()
    })
  }

  it('maxKeys and bad input are refused before any change: a refused push adds no key', () => {
    const model = makeModel(4)
    const w = model.createWindows({ keys: 'string', steps: STEPS, maxKeys: 2 })
    w.push(['a'], new Float32Array(I).fill(1))
    expectSluiceError(() => w.push(['b', 'c'], new Float32Array(2 * I)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => w.push(['b', null as never], new Float32Array(2 * I)), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push(['b'], new Float32Array(I), { output: new Float32Array(0) }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => w.push(Uint32Array.of(1), new Float32Array(I)), 'ERR_OUT_OF_RANGE') // id 1 is not live
    expect(w.keyStats().liveKeys).toBe(1)
    w.push(['b', 'a'], new Float32Array(2 * I))
    expect(w.keyStats().liveKeys).toBe(2)
    const b = model.createWindows({ keys: 'bytes', steps: STEPS })
    expectSluiceError(() => b.push({ bytes: new Uint8Array(2), offsets: Uint32Array.of(2, 1) }, new Float32Array(I)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => b.push(BigUint64Array.of(1n) as never, new Float32Array(I)), 'ERR_INVALID_TYPE')
    expect(b.keyStats().liveKeys).toBe(0)
    expectSluiceError(() => model.createWindows({ capacity: 4, steps: STEPS }).expire(['a']), 'ERR_INVALID_ARGUMENT')
    model.close()
  })

  it('key columns over a SharedArrayBuffer push as plain ones', () => {
    const model = makeModel(5)
    const pool = keyPool(rng(6), 12)
    for (const kind of ['bigint64', 'bytes'] as Kind[]) {
      const [plain, shared] = [model.createWindows({ keys: kind, steps: STEPS }), model.createWindows({ keys: kind, steps: STEPS })]
      const r = rng(7)
      for (let t = 0; t < 20; t++) {
        const keys = Array.from({ length: 5 }, () => pool[Math.floor(r() * pool.length)]!)
        const x = randomArray(r, keys.length * I)
        const a = plain.push(column(kind, keys, pool) as never, x)
        const s = shared.push(column(kind, keys, pool, SharedArrayBuffer) as never, x)
        expect(Array.from(s.output)).toEqual(Array.from(a.output))
        expect(keyNames(kind, s.keyValues, pool)).toEqual(keyNames(kind, a.keyValues, pool))
      }
    }
    model.close()
  })
})
