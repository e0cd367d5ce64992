// LstmState keyed by string[], 64-bit ids and packed bytes against a naive recomputation: a dense LstmState
// fed ids from a plain JS Map (a key gets a fresh id when it first appears or comes back after expiry, so it
// starts from zero state). Unicode and empty keys, expiry at random points, growth past the starting
// capacity, maxKeys, refused batches, snapshot/restore in another process, stepAsync and shared memory.
import { describe, expect, it } from 'vitest'
import { LstmModel, type PackedKeys } from '../../lib/index'
import type { LstmState } from '../../lib/lstm/lstm_state'
import { expectSluiceError, runNode } from '../helpers'
import { INTERNED_KINDS as KINDS, keyColumn, keyNames, keyPool as basePool, type InternedKind as Kind } from '../support/key_columns'
import { randomArray, randomLstmWeights, rng } from '../support/lstm_reference'

const I = 3, O = 2

function makeModel(seed: number): LstmModel {
  return LstmModel.fromWeights(randomLstmWeights(rng(seed), { layers: 2, inputSize: I, hiddenSize: 5, outputSize: O }), { threads: 1 })
}

/** Pool keys with a long one among the first. */
const keyPool = (r: () => number, size: number) => basePool(r, size, ['x'.repeat(300)])

/** keys as a column of `kind`; packed bytes start at a random offset (offsets need not start at 0). */
const column = (kind: Kind, keys: string[], pool: string[], r: () => number, Buffer: typeof ArrayBuffer | typeof SharedArrayBuffer = ArrayBuffer) =>
  keyColumn(kind, keys, pool, { start: kind === 'bytes' ? Math.floor(r() * 3) : 0, Buffer })

/** Keys given back (keysOf) as the pool's strings; 64-bit keys come back in their own array type. */
function names(kind: Kind, keys: unknown, pool: string[]): string[] {
  if (kind === 'bigint' || kind === 'bigint64') expect(keys).toBeInstanceOf(kind === 'bigint' ? BigUint64Array : BigInt64Array)
  return keyNames(kind, keys, pool)
}

/** The naive peer: a dense state with room for every fresh id, keyed through a JS Map. */
class MapKeyedState {
  readonly ids = new Map<string, number>()
  private next = 0
  constructor(readonly state: LstmState) {}
  step(keys: string[], x: Float32Array): Float32Array {
    const ids = keys.map((k) => {
      let id = this.ids.get(k)
      if (id === undefined) this.ids.set(k, (id = this.next++)) // a fresh id: zero state
      return id
    })
    return this.state.step(Uint32Array.from(ids), x)
  }
  expire(keys: string[]): void {
    for (const k of keys) this.ids.delete(k)
  }
}

/** A batch of distinct keys drawn from the pool. */
function batchOf(r: () => number, pool: string[], n: number): string[] {
  const keys = new Set<string>()
  while (keys.size < n) keys.add(pool[Math.floor(r() * pool.length)]!)
  return [...keys]
}

describe('LstmState keyed by any kind, against a Map-keyed dense state', () => {
  for (const kind of KINDS) {
    it(`${kind}: random steps and expiry, growth past the starting capacity`, async () => {
      const r = rng(kind.length * 31 + 7)
      const model = makeModel(5)
      const pool = keyPool(r, 60)
      const keyed = model.createState({ keys: kind, capacity: 4 })
      const peer = new MapKeyedState(model.createState({ capacity: 4000 }))
      expect(keyed.capacity).toBe(4)
      let expiredTotal = 0
      for (let t = 0; t < 120; t++) {
        const keys = batchOf(r, pool, 1 + Math.floor(r() * 20))
        const x = randomArray(r, keys.length * I)
        const out = t % 7 === 3 ? await keyed.stepAsync(column(kind, keys, pool, r) as never, x) : keyed.step(column(kind, keys, pool, r) as never, x)
        expect(Array.from(out)).toEqual(Array.from(peer.step(keys, x)))
        if (r() < 0.15) {
          // expire some live keys and one unknown key (skipped)
          const live = [...peer.ids.keys()]
          const gone = batchOf(r, live, Math.min(live.length, 1 + Math.floor(r() * 5)))
          const freed = keyed.expire(column(kind, [...gone, ...(kind === 'string' ? ['never seen'] : [])], [...pool, 'never seen'], r) as never)
          expect(freed).toBe(gone.length)
          peer.expire(gone)
          expiredTotal += gone.length
        }
        const info = keyed.info()
        expect(info.liveKeys).toBe(peer.ids.size)
        expect(info.expiredKeys).toBe(expiredTotal)
      }
      const ids = keyed.liveIds()
      expect(keyed.capacity).toBeGreaterThan(Math.max(4, ...ids)) // grew past the starting capacity
      expect(names(kind, keyed.keysOf(ids), pool).sort()).toEqual([...peer.ids.keys()].sort())
      keyed.close()
      peer.state.close()
      model.close()
    })
  }

  it('a key that comes back after expire() starts from zero state', () => {
    const model = makeModel(6)
    const keyed = model.createState({ keys: 'string' })
    const fresh = model.createState({ capacity: 1 })
    const x = Float32Array.from([0.5, -0.25, 1])
    const first = keyed.step(['', '🙂'], Float32Array.from([...x, ...x]))
    keyed.step(['🙂'], x) // '🙂' moves on
    expect(keyed.expire(['🙂'])).toBe(1)
    expect(keyed.info().liveKeys).toBe(1)
    const again = keyed.step(['🙂'], x)
    expect(Array.from(again)).toEqual(Array.from(fresh.step(Uint32Array.of(0), x)))
    expect(Array.from(again)).toEqual(Array.from(first.subarray(O, 2 * O)))
    model.close()
  })

  it('maxKeys: new keys beyond are ERR_OUT_OF_RANGE and change nothing; accepted keys stay', () => {
    const model = makeModel(7)
    const s = model.createState({ keys: 'bytes', maxKeys: 3 })
    const pack = (keys: string[]) => column('bytes', keys, keys, () => 0) as PackedKeys
    s.step(pack(['a', 'b']), new Float32Array(2 * I).fill(0.3))
    const before = s.snapshot()
    expectSluiceError(() => s.step(pack(['a', 'c', 'd']), new Float32Array(3 * I)), 'ERR_OUT_OF_RANGE')
    expect(Buffer.from(s.snapshot()).equals(Buffer.from(before))).toBe(true)
    expect(s.info().liveKeys).toBe(2)
    s.step(pack(['c', 'a']), new Float32Array(2 * I)) // the third key fits
    expect(s.info().liveKeys).toBe(3)
    model.close()
  })

  it('a refused batch adds no key (a key twice, a wrong length, a bad key)', () => {
    const model = makeModel(8)
    for (const kind of KINDS) {
      // s sees refused batches, twin does not: they go on the same way and hold the same keys.
      const [s, twin] = [model.createState({ keys: kind }), model.createState({ keys: kind })]
      const pool = ['known', 'new-1', 'new-2']
      const col = (keys: string[]) => column(kind, keys, pool, () => 0) as never
      for (const t of [s, twin]) t.step(col(['known']), new Float32Array(I).fill(0.5))
      expectSluiceError(() => s.step(col(['new-1', 'known', 'new-1']), new Float32Array(3 * I)), 'ERR_INVALID_ARGUMENT')
      expectSluiceError(() => s.step(col(['new-2']), new Float32Array(2 * I)), 'ERR_INVALID_LENGTH')
      expect(s.info().liveKeys).toBe(1)
      const x = randomArray(rng(1), 3 * I)
      expect(Array.from(s.step(col(['new-2', 'known', 'new-1']), x))).toEqual(Array.from(twin.step(col(['new-2', 'known', 'new-1']), x)))
      expect(Array.from(s.liveIds())).toEqual(Array.from(twin.liveIds()))
      expect(names(kind, s.keysOf(s.liveIds()), pool)).toEqual(names(kind, twin.keysOf(twin.liveIds()), pool))
      s.close()
      twin.close()
    }
    const s = model.createState({ keys: 'string' })
    expectSluiceError(() => s.step(['a', null as never], new Float32Array(2 * I)), 'ERR_INVALID_TYPE')
    expectSluiceError(() => s.step(['\ud800'], new Float32Array(I)), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => s.step(Uint32Array.of(0), new Float32Array(I)), 'ERR_OUT_OF_RANGE') // no live key 0
    expectSluiceError(() => s.step(BigUint64Array.of(1n) as never, new Float32Array(I)), 'ERR_INVALID_TYPE')
    expect(s.info().liveKeys).toBe(0)
    const b = model.createState({ keys: 'bytes' })
    expectSluiceError(() => b.step({ bytes: new Uint8Array(4), offsets: Uint32Array.of(3, 1) }, new Float32Array(I)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => b.step({ bytes: new Uint8Array(4), offsets: Uint32Array.of(0, 5) }, new Float32Array(I)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => b.step(['a'] as never, new Float32Array(I)), 'ERR_INVALID_TYPE')
    expect(b.info().liveKeys).toBe(0)
    expectSluiceError(() => b.expire(Uint32Array.of(0)), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => model.createState({ capacity: 4 }).expire(['a']), 'ERR_INVALID_ARGUMENT')
    model.close()
  })

  it('a stepAsync refused before queuing adds no key', async () => {
    const model = makeModel(9)
    const s = model.createState({ keys: 'string' })
    await expect(s.stepAsync(['a', 'a'], new Float32Array(2 * I))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    const b = model.createState({ keys: 'bigint' })
    await expect(b.stepAsync(BigUint64Array.of(1n, 1n), new Float32Array(2 * I))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(b.stepAsync(BigUint64Array.of(1n, 2n), new Float32Array(I))).rejects.toMatchObject({ code: 'ERR_INVALID_LENGTH' })
    expect(s.info().liveKeys).toBe(0)
    expect(b.info().liveKeys).toBe(0)
    model.close()
  })

  it('key columns over a SharedArrayBuffer step as plain ones', () => {
    const model = makeModel(10)
    const pool = keyPool(rng(3), 20)
    for (const kind of ['bigint', 'bytes'] as Kind[]) {
      const plain = model.createState({ keys: kind })
      const shared = model.createState({ keys: kind })
      const r = rng(4)
      for (let t = 0; t < 10; t++) {
        const keys = batchOf(r, pool, 6)
        const x = randomArray(r, keys.length * I)
        const a = plain.step(column(kind, keys, pool, () => 0) as never, x)
        const b = shared.step(column(kind, keys, pool, () => 0, SharedArrayBuffer) as never, x)
        expect(Array.from(b)).toEqual(Array.from(a))
      }
      expect(shared.expire(column(kind, pool.slice(0, 5), pool, () => 0, SharedArrayBuffer) as never)).toBe(plain.expire(column(kind, pool.slice(0, 5), pool, () => 0) as never))
      expect(Buffer.from(shared.snapshot()).equals(Buffer.from(plain.snapshot()))).toBe(true)
    }
    model.close()
  })

  it('snapshots carry the dictionary: restored in another process, the same keys go on the same way', () => {
    const weights = randomLstmWeights(rng(11), { layers: 2, inputSize: I, hiddenSize: 5, outputSize: O })
    const model = LstmModel.fromWeights(weights, { threads: 1 })
    const s = model.createState({ keys: 'string', capacity: 2 })
    const r = rng(12)
    const pool = keyPool(r, 12)
    for (let t = 0; t < 8; t++) {
      const keys = batchOf(r, pool, 5)
      s.step(keys, randomArray(r, keys.length * I))
    }
    s.expire(['é'])
    const bytes = s.snapshot()
    const next = pool.slice(0, 6)
    const x = randomArray(r, next.length * I)
    const here = s.step(next, x)
    const out = runNode(`
      const { LstmModel } = require('./dist')
      const weights = ${JSON.stringify({ ...weights, layers: weights.layers.map((l) => Object.fromEntries(Object.entries(l).map(([k, v]) => [k, Array.from(v as Float32Array)]))), ...(weights.head ? { head: Object.fromEntries(Object.entries(weights.head).map(([k, v]) => [k, ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v])) } : {}) })}
      for (const l of weights.layers) for (const k of Object.keys(l)) l[k] = Float32Array.from(l[k])
      if (weights.head) for (const k of Object.keys(weights.head)) if (Array.isArray(weights.head[k])) weights.head[k] = Float32Array.from(weights.head[k])
      const model = LstmModel.fromWeights(weights, { threads: 1 })
      const s = model.createState({ keys: 'string', capacity: 2 })
      s.restore(Uint8Array.from(Buffer.from(${JSON.stringify(Buffer.from(bytes).toString('base64'))}, 'base64')))
      const same = Buffer.from(s.snapshot()).equals(Buffer.from(${JSON.stringify(Buffer.from(bytes).toString('base64'))}, 'base64'))
      const ids = s.liveIds()
      const out = s.step(${JSON.stringify(next)}, Float32Array.from(${JSON.stringify(Array.from(x))}))
      console.log(JSON.stringify({ same, keys: s.keysOf(ids), ids: Array.from(ids), out: Array.from(out) }))
    `)
    const there = JSON.parse(out)
    expect(there.same).toBe(true)
    expect(there.out).toEqual(Array.from(here))
    expect(there.keys).not.toContain('é')
    model.close()
  })

  it('snapshots of another key kind, or dense ones into keyed states and back, are ERR_INVALID_ARGUMENT', () => {
    const model = makeModel(13)
    const dense = model.createState({ capacity: 64 })
    const keyed = model.createState({ keys: 'string' })
    const bytes = model.createState({ keys: 'bytes' })
    keyed.step(['a'], new Float32Array(I).fill(1))
    const before = keyed.snapshot()
    expectSluiceError(() => keyed.restore(dense.snapshot()), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => dense.restore(keyed.snapshot()), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => bytes.restore(keyed.snapshot()), 'ERR_INVALID_ARGUMENT')
    expect(Buffer.from(keyed.snapshot()).equals(Buffer.from(before))).toBe(true)
    dense.restore(model.createState({ capacity: 64 }).snapshot()) // dense snapshots restore as before
    model.close()
  })
})
