// KeyDictionary on its own, and the bad-input rules of every keyed entry point: wrong kind, null in string[],
// offsets backwards or past the bytes, keys over 64 KiB, lone surrogates / invalid UTF-8, maxKeys.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, KeyDictionary, NO_KEY, packStrings, unpackStrings } from '../../lib/index'
import { expectSluiceError } from '../helpers'

describe('KeyDictionary', () => {
  it('gives each distinct key one id, finds them again and hands freed ids out again', () => {
    const d = new KeyDictionary({ kind: 'string' })
    const keys = ['', 'é', '日本', '🙂', '', 'a', 'é']
    const ids = d.intern(keys)
    expect(ids[0]).toBe(ids[4])
    expect(ids[1]).toBe(ids[6])
    expect(new Set(ids).size).toBe(5)
    expect(d.keysOf(ids)).toEqual(keys)
    expect(d.size).toBe(5)
    expect(Array.from(d.find(['a', 'zz']))).toEqual([ids[5], NO_KEY])
    d.release(Uint32Array.of(ids[2]!))
    expect(d.find(['日本'])[0]).toBe(NO_KEY)
    expect(d.intern(['new'])[0]).toBe(ids[2])  // the freed id
    expectSluiceError(() => d.release(Uint32Array.of(999)), 'ERR_OUT_OF_RANGE')
    d.close()
  })

  it('takes 64-bit ids and bytes, and gives them back in their kind', () => {
    const u = new KeyDictionary({ kind: 'bigint' })
    const words = BigUint64Array.of(0n, 2n ** 64n - 1n, 42n, 0n)
    const ids = u.intern(words)
    expect(ids[0]).toBe(ids[3])
    expect(u.keysOf(ids)).toEqual(words)
    // A BigInt64Array is the same 64 bits.
    expect(u.intern(BigInt64Array.of(-1n))[0]).toBe(ids[1])
    const b = new KeyDictionary({ kind: 'bytes' })
    const packed = { bytes: Uint8Array.of(1, 2, 3, 255, 0), offsets: Uint32Array.of(0, 2, 2, 5) }
    const bid = b.intern(packed)
    const back = b.keysOf(bid) as { bytes: Uint8Array; offsets: Uint32Array }
    expect(Array.from(back.offsets)).toEqual([0, 2, 2, 5])
    expect(Array.from(back.bytes)).toEqual([1, 2, 3, 255, 0])
  })

  it('refuses bad keys with a code and changes nothing', () => {
    const d = new KeyDictionary({ kind: 'string', maxKeys: 3 })
    d.intern(['a'])
    expectSluiceError(() => d.intern(['b', null as unknown as string]), 'ERR_INVALID_TYPE')
    expectSluiceError(() => d.intern(['b', '\uD800']), 'ERR_INVALID_ARGUMENT')  // lone surrogate: refused
    expectSluiceError(() => d.intern(['b', 'x'.repeat(65537)]), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => d.intern(BigUint64Array.of(1n) as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => d.intern(['b', 'c', 'd']), 'ERR_OUT_OF_RANGE', /maxKeys/)  // 4 live > 3
    expect(d.size).toBe(1)
    expect(d.find(['b'])[0]).toBe(NO_KEY)
    d.intern(['b', 'c'])
    expect(d.size).toBe(3)

    const b = new KeyDictionary({ kind: 'bytes' })
    expectSluiceError(() => b.intern({ bytes: new Uint8Array(4), offsets: Uint32Array.of(0, 3, 1) }), 'ERR_OUT_OF_RANGE', /backwards/)
    expectSluiceError(() => b.intern({ bytes: new Uint8Array(4), offsets: Uint32Array.of(0, 5) }), 'ERR_OUT_OF_RANGE', /past/)
    expectSluiceError(() => b.intern({ bytes: new Uint8Array(70000), offsets: Uint32Array.of(0, 65537) }), 'ERR_OUT_OF_RANGE', /65536/)
    expectSluiceError(() => b.intern(['a'] as never), 'ERR_INVALID_TYPE')
    expect(b.size).toBe(0)
    b.intern({ bytes: new Uint8Array(65536), offsets: Uint32Array.of(0, 65536) })  // exactly the limit
    expect(b.size).toBe(1)
  })

  it('restores a snapshot with the same ids, bit for bit', () => {
    const d = new KeyDictionary({ kind: 'string' })
    const keys = Array.from({ length: 500 }, (_, i) => `host-${i}-${'ñ'.repeat(i % 4)}`)
    const ids = d.intern(keys)
    d.release(ids.filter((_, i) => i % 3 === 0))
    const bytes = d.snapshot()
    const e = new KeyDictionary({ kind: 'string' })
    e.restore(bytes)
    expect(Buffer.from(e.snapshot()).equals(Buffer.from(bytes))).toBe(true)
    const live = ids.filter((_, i) => i % 3 !== 0)
    expect(e.keysOf(live)).toEqual(d.keysOf(live))
    expect(e.intern(['new'])[0]).toBe(d.intern(['new'])[0])
    const other = new KeyDictionary({ kind: 'bytes' })
    expectSluiceError(() => other.restore(bytes), 'ERR_INVALID_ARGUMENT')
    const corrupt = bytes.slice()
    corrupt[corrupt.length - 10] ^= 0xff
    expectSluiceError(() => e.restore(corrupt), 'ERR_MALFORMED_DATA')
  })

  it('packs and unpacks strings as UTF-8', () => {
    const strings = ['', 'a', 'é', '🙂x']
    const packed = packStrings(strings)
    expect(Array.from(packed.offsets)).toEqual([0, 0, 1, 3, 8])
    expect(unpackStrings(packed)).toEqual(strings)
  })
})

describe('EventTimeWindows key options and bad keys', () => {
  const batch = (keys: unknown, n = 2) => ({ timestamps: Float64Array.from({ length: n }, (_, i) => i), keys: keys as never, values: new Float64Array(n) })

  it('refuses a key of the wrong kind, a null in string[] and a bad packed column, changing nothing', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'string' })
    w.push(batch(['a', 'b']))
    expectSluiceError(() => w.push(batch(Uint32Array.of(0, 1))), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push(batch(['c', null])), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push(batch(['c'])), 'ERR_INVALID_LENGTH')
    expect(w.metrics().liveKeys).toBe(2)
    // A push that fails after its new keys were interned forgets them again.
    expectSluiceError(() => w.push({ timestamps: Float64Array.of(0, NaN), keys: ['c', 'd'], values: new Float64Array(2) }), 'ERR_INVALID_ARGUMENT')
    expect(w.metrics().liveKeys).toBe(2)
    const fired = w.flush()
    expect(fired.keys).toEqual(['a', 'b'])

    const b = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'bytes' })
    expectSluiceError(() => b.push(batch({ bytes: new Uint8Array(3), offsets: Uint32Array.of(0, 2, 1) })), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => b.push(batch({ bytes: new Uint8Array(3), offsets: Uint32Array.of(0, 2, 4) })), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => b.push({ ...batch({ bytes: new Uint8Array(3), offsets: Uint32Array.of(0, 1, 2) }), values: new Float64Array(1) }), 'ERR_INVALID_LENGTH')
    expect(b.metrics().liveKeys).toBe(0)
    expectSluiceError(() => new EventTimeWindows({ type: 'tumbling', size: 10, keyTtl: 5 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'text' as never }), 'ERR_INVALID_ARGUMENT')
  })

  it('maxKeys refuses new keys beyond it and keeps every accepted key', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'bigint', maxKeys: 3 })
    w.push(batch(BigUint64Array.of(1n, 2n)))
    expectSluiceError(() => w.push(batch(BigUint64Array.of(3n, 4n))), 'ERR_OUT_OF_RANGE', /maxKeys/)
    w.push(batch(BigUint64Array.of(3n, 1n)))
    expect(w.metrics().liveKeys).toBe(3)
    const fired = w.flush()
    expect(Array.from(fired.keys as BigUint64Array)).toEqual([1n, 2n, 3n])
    expect(Array.from(fired.count)).toEqual([2, 1, 1])
  })

  it('dense ids without keyCount grow on demand; with keyCount they stay fixed', () => {
    const grow = new EventTimeWindows({ type: 'sliding', size: 40, slide: 10 })
    const before = grow.info().keyCapacity
    grow.push(batch(Uint32Array.of(5, 100000)))
    expect(grow.info().keyCapacity).toBeGreaterThan(100000)
    expect(grow.info().keyCapacity).toBeGreaterThan(before)
    expect(Array.from(grow.flush().key)).toEqual([5, 100000, 5, 100000, 5, 100000, 5, 100000])
    const fixed = new EventTimeWindows({ type: 'tumbling', size: 10, keyCount: 4 })
    expectSluiceError(() => fixed.push(batch(Uint32Array.of(4, 0))), 'ERR_OUT_OF_RANGE', /keyCount/)
    const capped = new EventTimeWindows({ type: 'tumbling', size: 10, maxKeys: 8 })
    expectSluiceError(() => capped.push(batch(Uint32Array.of(8, 0))), 'ERR_OUT_OF_RANGE', /maxKeys/)
  })

  it('keyTtl frees idle keys: metrics, memory, id reuse, and a key that comes back starts afresh', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'string', keyTtl: 50, aggregates: ['count', 'sum'] })
    const n = 2000
    const names = Array.from({ length: n }, (_, i) => `device-${i}`)
    w.push({ timestamps: new Float64Array(n), keys: names, values: new Float64Array(n).fill(1) })
    w.advanceWatermark(20)
    const held = w.info().memoryBytes
    expect(w.metrics().liveKeys).toBe(n)
    // Keep one key busy; the others go idle.
    for (let t = 30; t <= 200; t += 10) {
      w.push({ timestamps: Float64Array.of(t), keys: ['device-7'], values: Float64Array.of(2) })
      w.advanceWatermark(t)
    }
    expect(w.metrics().liveKeys).toBe(1)
    expect(w.metrics().expiredKeys).toBe(n - 1)
    expect(w.info().memoryBytes).toBeLessThan(held)
    // A key that comes back has no stale state and takes a reused id.
    w.push({ timestamps: Float64Array.of(205), keys: ['device-3'], values: Float64Array.of(5) })
    const fired = w.advanceWatermark(300)
    const row = (fired.keys as string[]).indexOf('device-3')
    expect(fired.count[row]).toBe(1)
    expect(fired.values[row * 2 + 1]).toBe(5)
    expect(fired.key[row]).toBeLessThan(n)
  })

  it('expire(keys) drops open windows unfired; restore into dense windows is refused', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'string' })
    w.push(batch(['a', 'b']))
    expect(w.expire(['a', 'zz', 'a'])).toBe(1)
    expect(w.metrics()).toMatchObject({ liveKeys: 1, expiredKeys: 1 })
    expect(w.flush().keys).toEqual(['b'])
    const dense = new EventTimeWindows({ type: 'tumbling', size: 10 })
    expectSluiceError(() => dense.restore(w.snapshot()), 'ERR_INVALID_ARGUMENT', /key dictionary/)
    const other = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'bytes' })
    expectSluiceError(() => other.restore(w.snapshot()), 'ERR_INVALID_ARGUMENT')
    const keyed = new EventTimeWindows({ type: 'tumbling', size: 10, keys: 'string' })
    expectSluiceError(() => keyed.restore(dense.snapshot()), 'ERR_INVALID_ARGUMENT', /no key dictionary/)
  })
})
