// Pipeline key space that grows and expires: a keyed pipeline (keys of every kind, starting with room for 2
// keys) against a naive model that gives each key-lifetime its own fresh dense pipeline (one key, advanced to
// the keyed pipeline's watermark after every batch) and applies keyTtl's rule from a Map of each key's
// latest event time. Keys come and go (explicit expire() and keyTtl at random points), come back (and must
// start afresh: no forward fill, LSTM state, z-score or history from before), the key space grows past its
// start and the pipeline is snapshotted and restored midway. Also: maxKeys, memory going down, forged
// snapshots whose state names ids the dictionary lacks.
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type PipelineOptions, type ResultBatch } from '../../lib/index'
import { openSnapshot, sealSnapshot } from '../../lib/runtime/snapshot_envelope'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'
import { INTERNED_KINDS, keyColumn, keyNames, keyPool, type InternedKind } from '../support/key_columns'

const SIZE = 10
const model = LstmModel.create({ inputSize: 1, hiddenSize: 5, outputSize: 1, seed: 3 })
const base: PipelineOptions = {
  window: { size: SIZE }, bound: 3, clock: () => 0, maxFill: 4,
  forecaster: { model, mode: 'state' }, anomaly: { window: 4, warmup: 2, threshold: 1.5 },
}

interface Row { start: number; end: number; count: number; filled: number; value: number; forecast: number; score: number; flagged: number }

function rowsByKey(result: ResultBatch, names: string[], into: Map<string, Row[]>): void {
  for (let r = 0; r < result.length; r++) {
    const list = into.get(names[r]!) ?? []
    list.push({ start: result.start[r]!, end: result.end[r]!, count: result.count[r]!, filled: result.filled[r]!, value: result.values[r]!, forecast: result.forecast[r]!, score: result.score[r]!, flagged: result.flagged[r]! })
    into.set(names[r]!, list)
  }
}

/** One key-lifetime in the naive model: its own dense pipeline, its latest event time. */
interface Life { pipeline: Pipeline; lastSeen: number }

function run(kind: InternedKind, seed: number, keyTtl: number | undefined) {
  const random = mulberry32(seed)
  const pool = keyPool(random, 30)
  const keyed = new Pipeline({ ...base, keys: kind, keyCount: 2, keyTtl })
  let current = keyed
  const got = new Map<string, Row[]>(), want = new Map<string, Row[]>()
  const lives = new Map<string, Life>()
  let expiredTotal = 0, watermark = -Infinity, restored = 0, grownPast = 0
  const namesOf = (p: Pipeline, result: ResultBatch) => (result.length > 0 ? keyNames(kind, p.keysOf(result.key), pool) : [])
  const life = (key: string): Life => {
    let l = lives.get(key)
    if (!l) {
      l = { pipeline: new Pipeline(base), lastSeen: -Infinity }
      if (Number.isFinite(watermark)) rowsByKey(l.pipeline.advanceTo(watermark), [], want) // a fresh one: fires nothing
      lives.set(key, l)
    }
    return l
  }
  const end = (key: string) => {
    lives.get(key)!.pipeline.close()
    lives.delete(key)
    expiredTotal++
  }
  for (let b = 0; b < 70; b++) {
    // A few keys at a time, drawn from a moving part of the pool: keys go quiet and come back later.
    const from = Math.floor(b / 3) % 20
    const events = Array.from({ length: 1 + Math.floor(random() * 8) }, (_, i) => ({
      t: b * 6 + i + Math.floor(random() * 6) - 2,
      key: pool[from + Math.floor(random() * 10)]!,
      v: Math.round(Math.sin(b + i) * 40 + random() * 10) / 4,
    }))
    const timestamps = Float64Array.from(events, (e) => e.t), values = Float64Array.from(events, (e) => e.v)
    const result = current.process({ timestamps, keys: keyColumn(kind, events.map((e) => e.key), pool) as never, values })
    rowsByKey(result, namesOf(current, result), got)
    const before = watermark // a lifetime that starts now starts at the watermark its events met
    // The model: each key's events into its own lifetime's pipeline, every lifetime to the same watermark.
    const byKey = new Map<string, number[]>()
    events.forEach((e, i) => byKey.set(e.key, [...(byKey.get(e.key) ?? []), i]))
    for (const [key, at] of byKey) {
      const l = life(key)
      const r = l.pipeline.process({ timestamps: Float64Array.from(at, (i) => timestamps[i]!), values: Float64Array.from(at, (i) => values[i]!) })
      rowsByKey(r, new Array(r.length).fill(key), want)
      l.lastSeen = Math.max(l.lastSeen, ...at.map((i) => timestamps[i]!))
    }
    watermark = result.watermark
    for (const [key, l] of lives) {
      if (Number.isFinite(watermark)) { const r = l.pipeline.advanceTo(watermark); rowsByKey(r, new Array(r.length).fill(key), want) }
    }
    // keyTtl's rule: no event for keyTtl behind the watermark, and the window of its latest event fired by the
    // previous call (this call's firing comes after the check).
    if (keyTtl !== undefined) {
      for (const [key, l] of [...lives]) {
        const lastEnd = Math.floor(l.lastSeen / SIZE) * SIZE + SIZE
        if (l.lastSeen + keyTtl <= watermark && lastEnd - 1 <= before) end(key)
      }
    }
    // Explicit expiry of random keys (some not held: skipped).
    if (random() < 0.3) {
      const chosen = [...new Set(Array.from({ length: 1 + Math.floor(random() * 3) }, () => pool[Math.floor(random() * pool.length)]!))]
      const held = chosen.filter((k) => lives.has(k))
      expect(current.expire(keyColumn(kind, chosen, pool) as never)).toBe(held.length)
      for (const k of held) end(k)
    }
    const m = current.metrics()
    expect(m.liveKeys).toBe(lives.size)
    expect(m.expiredKeys).toBe(expiredTotal)
    grownPast = Math.max(grownPast, lives.size)
    if (b === 31 || b === 52) { // snapshot, restore into a new pipeline, go on with it
      const bytes = current.snapshot()
      const next = new Pipeline({ ...base, keys: kind, keyCount: 2, keyTtl })
      next.restore(bytes)
      current.close()
      current = next
      restored++
    }
  }
  const last = current.finish()
  rowsByKey(last, namesOf(current, last), got)
  for (const [key, l] of lives) { const r = l.pipeline.finish(); rowsByKey(r, new Array(r.length).fill(key), want) }
  current.close()
  return { got, want, expiredTotal, restored, grownPast }
}

describe('Pipeline key space: growth and expiry against a fresh dense pipeline per key-lifetime', () => {
  for (const kind of INTERNED_KINDS) {
    for (const keyTtl of [undefined, 13]) {
      it(`keys: '${kind}', ${keyTtl === undefined ? 'expire() only' : `keyTtl ${keyTtl} and expire()`}`, () => {
        const { got, want, expiredTotal, restored, grownPast } = run(kind, 11 + (keyTtl ?? 0), keyTtl)
        expect(restored).toBe(2)
        expect(grownPast).toBeGreaterThan(4) // the key space grew from 2
        expect(expiredTotal).toBeGreaterThan(keyTtl === undefined ? 5 : 20)
        const rows = [...want.values()].reduce((n, l) => n + l.length, 0)
        expect(rows).toBeGreaterThan(150)
        expect([...want.values()].flat().some((r) => Number.isFinite(r.forecast))).toBe(true)
        expect([...want.values()].flat().some((r) => r.filled === 1)).toBe(true)
        expect(got).toEqual(want)
      })
    }
  }
})

describe('Pipeline key space: limits, memory, snapshots', () => {
  it('maxKeys: a batch with a new key past it is ERR_OUT_OF_RANGE and changes nothing; an expired key makes room', () => {
    const p = new Pipeline({ ...base, keys: 'bigint', maxKeys: 2 })
    p.process({ timestamps: Float64Array.of(1, 2), keys: BigUint64Array.of(5n, 6n), values: Float64Array.of(1, 2) })
    const state = () => ({ ...p.metrics(), memoryBytes: 0 })
    const before = state()
    expectSluiceError(() => p.process({ timestamps: Float64Array.of(3, 4), keys: BigUint64Array.of(5n, 7n), values: Float64Array.of(1, 2) }), 'ERR_OUT_OF_RANGE')
    expect(state()).toEqual(before)
    expect(p.expire(BigUint64Array.of(6n, 99n))).toBe(1)
    p.process({ timestamps: Float64Array.of(3, 4), keys: BigUint64Array.of(5n, 7n), values: Float64Array.of(1, 2) })
    expect(p.metrics()).toMatchObject({ liveKeys: 2, expiredKeys: 1 })
    expectSluiceError(() => p.expire(Uint32Array.of(1, 40)), 'ERR_OUT_OF_RANGE') // ids must be live: nothing freed
    expect(p.metrics().liveKeys).toBe(2)
    expectSluiceError(() => new Pipeline({ ...base, maxKeys: 4 }), 'ERR_INVALID_ARGUMENT') // dense ids have no key space
    expectSluiceError(() => new Pipeline({ ...base, keyTtl: 4 }), 'ERR_INVALID_ARGUMENT')
    p.close()
  })

  it('expiry frees memory: memoryBytes goes down when most keys expire, and grows again on demand', () => {
    const p = new Pipeline({ ...base, keys: 'bigint' })
    const n = 20000
    const keys = BigUint64Array.from({ length: n }, (_, i) => BigInt(i) * 7919n + 1n)
    p.process({ timestamps: new Float64Array(n).fill(1), keys, values: new Float64Array(n).fill(1) })
    p.process({ timestamps: Float64Array.of(30), keys: keys.subarray(0, 1), values: Float64Array.of(1) }) // fires every key's window
    const full = p.metrics().memoryBytes
    expect(p.expire(keys.subarray(100))).toBe(n - 100)
    const after = p.metrics().memoryBytes
    // The per-key state, the dictionary and the windows (per-key slot table, cell buffers) follow the live
    // keys down.
    expect(after).toBeLessThan(full / 5)
    expect(p.metrics().liveKeys).toBe(100)
    // The keys left keep their state: key 0's window [30, 40) comes with the rows [10, 20) and [20, 30)
    // forward-filled from its row [0, 10), which it still remembers.
    const result = p.process({ timestamps: Float64Array.of(45, 46), keys: keys.subarray(0, 2), values: Float64Array.of(2, 3) })
    expect(Array.from(keyNamesOf(p, result))).toEqual([keys[0], keys[0], keys[0]])
    expect(Array.from(result.start)).toEqual([10, 20, 30])
    expect(Array.from(result.filled)).toEqual([1, 1, 0])
    p.process({ timestamps: new Float64Array(n).fill(60), keys, values: new Float64Array(n).fill(1) })
    expect(p.metrics().liveKeys).toBe(n)
    p.close()
  })

  it('after 99 % of 10,000 string keys expire, memoryBytes is within 2× of a fresh pipeline holding the 1 % (+ batch scratch)', () => {
    // The bench's case (bench/keys-memory.bench.js). Bound: the per-key state (the Pipeline's and the
    // windows') keeps up to 4× the live ids after shrinking, a fresh one up to 2×; plus the key space's
    // scratch sized by the largest batch of new keys and the last expiry (4 bytes a key each, in vectors that
    // double: 2 × 4 × 16,384 here) and 64 KiB. The windows' fired-window columns of the batch before the
    // expiry are given back at the next batch, so both are measured after one more batch.
    const n = 10000, kept = 100, batch = 10000
    const host = (i: number) => `host-${String(i).padStart(6, '0')}.rack-${i % 40}.example.com`
    const keys = Array.from({ length: n }, (_, i) => host(i))
    const all = new Pipeline({ ...base, keys: 'string' })
    const fresh = new Pipeline({ ...base, keys: 'string' })
    const feed = (p: Pipeline, column: string[], t: number) => {
      for (let at = 0; at < column.length; at += batch) {
        const part = column.slice(at, at + batch)
        p.process({ timestamps: new Float64Array(part.length).fill(t), keys: part, values: new Float64Array(part.length).fill(1) })
      }
    }
    feed(all, keys, 1)
    feed(fresh, keys.slice(0, kept), 1)
    for (const p of [all, fresh]) feed(p, keys.slice(0, 1), 30) // fires every key's window
    const full = all.metrics().memoryBytes
    expect(all.expire(keys.slice(kept))).toBe(n - kept)
    for (const p of [all, fresh]) feed(p, keys.slice(0, kept), 40)
    const after = all.metrics().memoryBytes, reference = fresh.metrics().memoryBytes
    const label = `${full} → ${after} bytes, fresh ${reference}`
    expect(after, label).toBeLessThanOrEqual(2 * reference + 8 * 16384 + 65536)
    expect(after, label).toBeLessThan(full / 20)
    all.close()
    fresh.close()
  })

  it('a keyed-pipeline snapshot whose state names an id its dictionary lacks is refused (ERR_MALFORMED_DATA)', () => {
    // Two pipelines fed alike; in the second, key 'b' (id 1) is expired once its window fired: its
    // dictionary lacks it, the first one's rows state holds it. Splicing the second's windows (and so its
    // dictionary) into the first's snapshot must be refused; the other way round (a live key without rows
    // state) is a state a pipeline can be in and restores.
    const make = () => {
      const p = new Pipeline({ ...base, keys: 'string' })
      p.process({ timestamps: Float64Array.of(1, 2), keys: ['a', 'b'], values: Float64Array.of(1, 2) })
      p.process({ timestamps: Float64Array.of(20), keys: ['a'], values: Float64Array.of(3) })
      return p
    }
    const holds = make(), lacks = make()
    expect(lacks.expire(['b'])).toBe(1)
    const splice = (into: Uint8Array, from: Uint8Array) => {
      const a = pipelineSections(openSnapshot(openSnapshot(into, 'keyed-pipeline'), 'pipeline'))
      const b = pipelineSections(openSnapshot(openSnapshot(from, 'keyed-pipeline'), 'pipeline'))
      const payload = new Uint8Array([...a.payload.subarray(0, a.windows[0]), ...b.payload.subarray(b.windows[0], b.windows[1]), ...a.payload.subarray(a.windows[1])])
      return sealSnapshot('keyed-pipeline', sealSnapshot('pipeline', payload))
    }
    const target = new Pipeline({ ...base, keys: 'string' })
    expectSluiceError(() => target.restore(splice(holds.snapshot(), lacks.snapshot())), 'ERR_MALFORMED_DATA', /does not hold/)
    expect(target.metrics().batchesIn).toBe(0) // nothing changed
    target.restore(splice(lacks.snapshot(), holds.snapshot()))
    expect(target.metrics()).toMatchObject({ batchesIn: 2, liveKeys: 2 })
    target.restore(splice(holds.snapshot(), holds.snapshot())) // the splice itself keeps a good snapshot good
    expectSluiceError(() => new Pipeline(base).restore(holds.snapshot()), 'ERR_MALFORMED_DATA') // a dense pipeline refuses it
    for (const p of [holds, lacks, target]) p.close()
  })
})

function keyNamesOf(p: Pipeline, result: ResultBatch): BigUint64Array {
  return p.keysOf(result.key) as BigUint64Array
}

/** Where the windows' snapshot lies in a pipeline payload (native/core/pipeline: the shape struct of 48
 * bytes, the features vector, 12 counters, then the tracker's and the windows' snapshots, each a u64 length
 * and its bytes). */
function pipelineSections(payload: Uint8Array) {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength)
  let at = 48
  const vector = () => { const n = Number(view.getBigUint64(at, true)); const from = at; at += 8 + n; return [from, at] as const }
  vector() // features
  at += 12 * 8 // counters
  vector() // tracker
  const windows = vector()
  return { payload, windows }
}
