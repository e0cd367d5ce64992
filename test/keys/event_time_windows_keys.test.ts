// EventTimeWindows with interned keys (string[], 64-bit ids, packed bytes) against a naive recomputation
// keyed by a plain JS Map (test/reference): the same windows with the same keys, for every key kind, with
// unicode and empty keys, keyTtl expiry and explicit expire() at random points, and snapshot/restore midway.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, type FiredWindows, type KeyKind, type PackedKeys } from '../../lib/index'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { ReferenceWindows, type Aggregate, type ReferenceWindow } from '../reference/event_time_reference'
import { close } from '../support/fired_windows'
import { runNode } from '../helpers'

type Kind = Exclude<KeyKind, 'dense'>
const encoder = new TextEncoder()

/** A pool of distinct keys as strings (their identity) with unicode, empty and long ones. */
function keyPool(r: () => number, size: number): string[] {
  const base = ['', 'é', '日本語', '🙂', 'a\u0000b', 'host-01.example.com', 'x'.repeat(300)]
  const pool = new Set(base.slice(0, Math.min(size, base.length)))
  while (pool.size < size) pool.add(`k${Math.floor(r() * 1e6)}-${'ü'.repeat(Math.floor(r() * 3))}`)
  return [...pool]
}

/** The keys of a batch in `kind`; 64-bit kinds use a fixed id per pool index (so keys repeat). */
function column(kind: Kind, keys: string[], pool: string[], r: () => number): unknown {
  if (kind === 'string') return keys
  if (kind === 'bigint' || kind === 'bigint64') {
    const words = kind === 'bigint' ? new BigUint64Array(keys.length) : new BigInt64Array(keys.length)
    keys.forEach((k, i) => { words[i] = BigInt.asIntN(64, BigInt(pool.indexOf(k)) * 0x9E3779B97F4A7C15n) as never })
    if (kind === 'bigint') keys.forEach((k, i) => { words[i] = BigInt.asUintN(64, BigInt(pool.indexOf(k)) * 0x9E3779B97F4A7C15n) as never })
    return words
  }
  // bytes: offsets into one buffer, with a random gap before the first key (offsets need not start at 0)
  const parts = keys.map((k) => encoder.encode(k))
  const skip = Math.floor(r() * 3)
  const bytes = new Uint8Array(skip + parts.reduce((n, p) => n + p.length, 0))
  const offsets = new Uint32Array(keys.length + 1)
  let at = skip
  offsets[0] = at
  parts.forEach((p, i) => { bytes.set(p, at); at += p.length; offsets[i + 1] = at })
  return { bytes, offsets }
}

/** Fired keys back as the pool's strings. */
function firedKeyNames(kind: Kind, fired: FiredWindows, pool: string[]): string[] {
  const keys = fired.keys!
  if (kind === 'string') return keys as string[]
  if (kind === 'bytes') {
    const p = keys as PackedKeys
    return Array.from({ length: fired.length }, (_, i) => new TextDecoder().decode(p.bytes.subarray(p.offsets[i], p.offsets[i + 1])))
  }
  const words = keys as BigUint64Array
  expect(words).toBeInstanceOf(kind === 'bigint' ? BigUint64Array : BigInt64Array)
  const byWord = new Map(pool.map((k, i) => [kind === 'bigint' ? BigInt.asUintN(64, BigInt(i) * 0x9E3779B97F4A7C15n) : BigInt.asIntN(64, BigInt(i) * 0x9E3779B97F4A7C15n), k]))
  return Array.from(words, (w) => byWord.get(w)!)
}

interface Row { key: string; start: number; end: number; count: number; updated: number; values: number[] }

function rowsOf(kind: Kind, fired: FiredWindows, pool: string[], perWindow: number): Row[] {
  const names = firedKeyNames(kind, fired, pool)
  return names.map((key, w) => ({ key, start: fired.start[w]!, end: fired.end[w]!, count: fired.count[w]!, updated: fired.updated[w]!,
    values: Array.from(fired.values.subarray(w * perWindow, (w + 1) * perWindow)) }))
}

const order = (a: Row, b: Row) => a.end - b.end || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || a.start - b.start

let compared = 0

function compareRows(actual: Row[], expected: Row[], label: string): void {
  compared += expected.length
  actual.sort(order)
  expected.sort(order)
  expect(actual.map((r) => [r.key, r.start, r.end, r.count, r.updated]), label).toEqual(expected.map((r) => [r.key, r.start, r.end, r.count, r.updated]))
  actual.forEach((row, w) => row.values.forEach((v, j) => close(v, expected[w]!.values[j]!, `${label} window ${w} value ${j}`)))
}

/** `many`: a pool of 1,500 keys in batches of up to 2,000 events, and expiry of most of the live keys at once,
 * so the per-key arrays, pane buffers and index shrink (FitMemoryToKeys) and grow again mid-stream. */
function runCase(seed: number, kind: Kind, type: 'tumbling' | 'sliding' | 'session', many = false): { expired: number; restores: number } {
  const r = rng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const aggregates: Aggregate[] = r() < 0.5 ? ['count', 'sum', 'min', 'max'] : ['count', 'mean', 'first', 'last', 'std']
  const size = int(5, 40)
  const slide = type === 'sliding' ? int(1, size) : size
  const gap = int(3, 20)
  const allowedLateness = r() < 0.5 ? 0 : int(1, 20)
  const keyTtl = r() < 0.6 ? int(5, 60) : undefined
  const pool = keyPool(r, many ? 1500 : int(3, 40))
  // many: a ring of thousands of panes, so the index is hashed while the keys are many (direct when few)
  const options = { type, size, slide, gap, allowedLateness, aggregates, keys: kind, keyTtl, horizon: many ? 40_000 : 4000 } as const
  const label = `seed ${seed} ${kind} ${JSON.stringify({ ...options, keys: pool.length })}`
  let engine = new EventTimeWindows(options)
  const reference = new ReferenceWindows({ type, size, slide, gap, allowedLateness, channels: 1, aggregates })
  // The naive side: a plain Map from the key to a reference id; an explicitly expired key gets a new id
  // and the old id's windows are dropped from the reference's output (sluice drops them unfired).
  const refIds = new Map<string, number>()
  const refNames: string[] = []
  const retired = new Set<number>()
  const refId = (k: string) => {
    let id = refIds.get(k)
    if (id === undefined) {
      id = refNames.length
      refNames.push(k)
      refIds.set(k, id)
    }
    return id
  }
  const refRows = (windows: ReferenceWindow[]) => windows.filter((w) => !retired.has(w.key)).map((w) => ({
    key: refNames[w.key]!, start: w.start, end: w.end, count: w.count, updated: w.updated ? 1 : 0, values: w.values,
  }))
  const perWindow = aggregates.length
  let t = int(0, 100)
  let restores = 0
  for (let b = 0, batches = int(4, 14); b < batches; b++) {
    const n = many ? int(1, 2000) : int(1, 60)
    // A moving subset of the pool is active, so keys go idle and come back.
    const from = int(0, pool.length - 1), width = int(1, pool.length)
    const keys = Array.from({ length: n }, () => pool[(from + int(0, width - 1)) % pool.length]!)
    const ts = Float64Array.from({ length: n }, () => t + int(-15, 25))
    const values = Float64Array.from({ length: n }, () => Math.round((r() - 0.5) * 1000) / 10)
    const late = engine.push({ timestamps: ts, keys: column(kind, keys, pool, r) as never, values }).late
    const refLate = reference.push(ts, keys.map(refId), values)
    expect(Array.from(late), `${label} late`).toEqual(refLate)
    t += int(0, 40)
    const wm = t - int(0, 20)
    compareRows(rowsOf(kind, engine.advanceWatermark(wm), pool, perWindow), refRows(reference.advance(wm)), `${label} advance ${b}`)
    if (r() < 0.25) {
      // Explicit expiry of a few keys (some unknown or repeated).
      const victims = many
        ? [...refIds.keys()].filter(() => r() < 0.95)
        : Array.from({ length: int(1, 3) }, () => pool[int(0, pool.length - 1)]!)
      const known = [...new Set(victims)].filter((k) => refIds.has(k) && isLive(engine, kind, k, pool))
      const freed = engine.expire(column(kind, victims, pool, r) as never)
      expect(freed, `${label} expire`).toBe(known.length)
      for (const k of known) {
        retired.add(refIds.get(k)!)
        refIds.delete(k)
      }
    }
    if (r() < 0.3) {
      // Snapshot, then go on with a fresh object restored from it (bit for bit: its snapshot is the same).
      const bytes = engine.snapshot()
      const restored = new EventTimeWindows(options)
      restored.restore(bytes)
      expect(Buffer.from(restored.snapshot()).equals(Buffer.from(bytes)), `${label} snapshot after restore`).toBe(true)
      expect(restored.metrics()).toEqual(engine.metrics())
      engine.close()
      engine = restored
      restores++
    }
  }
  compareRows(rowsOf(kind, engine.flush(), pool, perWindow), refRows(reference.flush()), `${label} flush`)
  const expired = engine.metrics().expiredKeys
  engine.close()
  return { expired, restores }
}

/** Whether the windows hold key k now (a probe through expire's skipping of unknown keys is not possible
 * without freeing, so ask for the live ids' keys). */
function isLive(engine: EventTimeWindows, kind: Kind, k: string, pool: string[]): boolean {
  const handle = (engine as unknown as { native(): { liveIds(): Uint32Array; keysOf(ids: Uint32Array): unknown } }).native()
  const ids = handle.liveIds()
  const keys = handle.keysOf(ids)
  const fake = { length: ids.length, keys: kind === 'string' ? [...unpack(keys as PackedKeys)] : keys } as unknown as FiredWindows
  return firedKeyNames(kind, fake, pool).includes(k)
}

function unpack(p: PackedKeys): string[] {
  return Array.from({ length: p.offsets.length - 1 }, (_, i) => new TextDecoder().decode(p.bytes.subarray(p.offsets[i], p.offsets[i + 1])))
}

describe('EventTimeWindows with interned keys against a Map-keyed naive recomputation', () => {
  for (const kind of ['string', 'bigint', 'bigint64', 'bytes'] as const) {
    for (const type of ['tumbling', 'sliding', 'session'] as const) {
      it(`${kind} keys, ${type} windows, expiry and restores at random points`, () => {
        let expired = 0, restores = 0
        compared = 0
        for (let seed = 1; seed <= 40; seed++) {
          const result = runCase(seed * 7919 + type.length * 31 + kind.length, kind, type)
          expired += result.expired
          restores += result.restores
        }
        // The cases reached what they are meant to test.
        expect(expired).toBeGreaterThan(0)
        expect(restores).toBeGreaterThan(0)
        expect(compared).toBeGreaterThan(200)
      })
    }
  }
})

describe('EventTimeWindows with interned keys: expiry of most keys shrinks the windows, which stay right', () => {
  for (const kind of ['string', 'bigint'] as const) {
    for (const type of ['tumbling', 'sliding', 'session'] as const) {
      it(`${kind} keys, ${type} windows, up to 1,500 keys, most expired at once at random points`, () => {
        let expired = 0
        compared = 0
        for (let seed = 1; seed <= 6; seed++) expired += runCase(seed * 104729 + type.length, kind, type, true).expired
        expect(expired).toBeGreaterThan(1000)
        expect(compared).toBeGreaterThan(1000)
      })
    }
  }

  it('memoryBytes after 99 % of 20,000 keys expired is within 2× of fresh windows holding the 1 % (+ batch scratch)', () => {
    // Tumbling (ring 8, direct index), sliding with Two-Stacks (48 panes per window), and a 4,096-pane ring
    // whose index is hashed at 20,000 keys (direct again once they are gone). The bound: per-key arrays keep
    // up to 4× the live ids after a shrink (halving waits for a quarter, so sizes do not flap) where fresh
    // ones have up to 2×; plus the key space's scratch, sized by the largest batch of new keys and the last
    // expiry (4 bytes a key each, in vectors that double: 2 × 4 × 32,768 here), and 64 KiB.
    const n = 20000, kept = 200
    const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 7919n + 1n)
    for (const options of [
      { type: 'tumbling', size: 10 },
      { type: 'sliding', size: 480, slide: 10 },
      { type: 'tumbling', size: 10, horizon: 40_000 },
    ] as const) {
      const all = new EventTimeWindows({ ...options, keys: 'bigint', aggregates: ['count', 'sum', 'min', 'max'] })
      const fresh = new EventTimeWindows({ ...options, keys: 'bigint', aggregates: ['count', 'sum', 'min', 'max'] })
      const feed = (w: EventTimeWindows, column: BigUint64Array, t: number) => {
        w.push({ timestamps: new Float64Array(column.length).fill(t), keys: column, values: new Float64Array(column.length).fill(1) })
        w.advanceWatermark(t)
      }
      for (const t of [1, 12, 23]) feed(all, keys, t)
      for (const t of [1, 12, 23]) feed(fresh, keys.subarray(0, kept), t)
      const full = all.info().memoryBytes
      expect(all.expire(keys.subarray(kept))).toBe(n - kept)
      for (const t of [34, 45]) {
        feed(all, keys.subarray(0, kept), t)
        feed(fresh, keys.subarray(0, kept), t)
      }
      const after = all.info().memoryBytes, reference = fresh.info().memoryBytes
      const label = `${JSON.stringify(options)}: ${full} → ${after} bytes, fresh ${reference}`
      expect(after, label).toBeLessThanOrEqual(2 * reference + 8 * 32768 + 65536)
      expect(after, label).toBeLessThan(full)
      // The keys left are whole: the same windows fire in both from here on.
      const a = all.flush(), b = fresh.flush()
      expect(Array.from(a.key), label).toEqual(Array.from(b.key))
      expect(Array.from(a.values), label).toEqual(Array.from(b.values))
      all.close()
      fresh.close()
    }
  })
})

describe('EventTimeWindows with interned keys across processes', () => {
  it('a snapshot restored in another process gives the same keys and ids, bit for bit', () => {
    const options = { type: 'tumbling', size: 10, keys: 'string', keyTtl: 100, aggregates: ['count', 'sum'] } as const
    const w = new EventTimeWindows(options)
    const keys = ['', 'é', '日本語', '🙂', 'plain', 'a\u0000b']
    w.push({ timestamps: Float64Array.from(keys, (_, i) => i), keys, values: Float64Array.from(keys, (_, i) => i + 1) })
    w.expire(['plain'])
    const bytes = w.snapshot()
    const here = w.flush()
    const out = runNode(`
      const { EventTimeWindows } = require('./dist')
      const w = new EventTimeWindows(${JSON.stringify(options)})
      const bytes = Uint8Array.from(Buffer.from(process.argv[1] ?? ${JSON.stringify(Buffer.from(bytes).toString('base64'))}, 'base64'))
      w.restore(bytes)
      const same = Buffer.from(w.snapshot()).equals(Buffer.from(bytes))
      const f = w.flush()
      console.log(JSON.stringify({ same, keys: f.keys, ids: Array.from(f.key), sums: Array.from(f.values) }))
    `)
    const there = JSON.parse(out)
    expect(there.same).toBe(true)
    expect(there.keys).toEqual(here.keys)
    expect(there.ids).toEqual(Array.from(here.key))
    expect(there.sums).toEqual(Array.from(here.values))
    expect(there.keys).toEqual(['', 'é', '日本語', '🙂', 'a\u0000b'])
  })
})

describe('EventTimeWindows with string keys: fired keys are built when first read', () => {
  const options = { type: 'tumbling' as const, size: 10, aggregates: ['count' as const], keys: 'string' as const, keyTtl: 10 }
  const push = (w: EventTimeWindows, keys: string[], t: number) =>
    w.push({ timestamps: new Float64Array(keys.length).fill(t), keys, values: new Float64Array(keys.length).fill(1) })

  it('a result read after its keys expired and their ids were reused still gives its own keys', () => {
    const w = new EventTimeWindows(options)
    push(w, ['a', 'b'], 1)
    const first = w.advanceWatermark(9)
    const firstIds = Array.from(first.key)
    push(w, ['c'], 100)
    const second = w.advanceWatermark(200) // a and b expire here
    expect(w.metrics().expiredKeys).toBeGreaterThanOrEqual(2)
    push(w, ['d', 'e'], 205) // takes a freed id
    expect(w.push({ timestamps: new Float64Array([206]), keys: ['d'], values: new Float64Array([1]) }).late.length).toBe(0)
    const third = w.flush()
    expect(third.keys).toEqual(['d', 'e'])
    expect(firstIds.some((id) => Array.from(third.key).includes(id))).toBe(true) // an id of a or b was reused
    expect(second.keys).toEqual(['c'])
    w.close()
    // `first`'s key column was rewritten by later calls (documented), but its strings were settled at the expiry
    expect(first.keys).toEqual(['a', 'b'])
  })

  it('an older result in caller-owned arrays, unread when its ids were freed, refuses to guess: ERR_INVALID_STATE', () => {
    const w = new EventTimeWindows({ ...options, keyTtl: 50 })
    push(w, ['a', 'b'], 1)
    const older = w.advanceWatermark(9, { key: new Uint32Array(8) })
    push(w, ['c'], 15)
    const newer = w.advanceWatermark(19)
    expect(w.metrics().expiredKeys).toBe(0)
    push(w, ['x'], 100)
    w.advanceWatermark(200) // a, b and c expire: `newer` is settled, `older` cannot be
    expect(newer.keys).toEqual(['c'])
    expect(() => older.keys).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }))
    w.close()
  })

  it('keys read before any id is freed are exact for every result, read in any order', () => {
    const w = new EventTimeWindows({ ...options, keyTtl: undefined })
    const results = []
    for (let s = 0; s < 5; s++) {
      push(w, [`k${s}`, 'shared', ''], s * 10 + 1)
      results.push(w.advanceWatermark(s * 10 + 9, { key: new Uint32Array(4) }))
    }
    for (let s = 4; s >= 0; s--) expect([...results[s]!.keys as string[]].sort()).toEqual(['', `k${s}`, 'shared'].sort())
    w.close()
  })
})
