// Pipeline keyed by the keys a stream carries (strings, 64-bit ids, bytes): every result must equal a dense
// pipeline fed the same stream through a naive Map (key → id in first-seen order), with keysOf() giving the
// keys back; a refused batch adds no key; maxKeys bounds the live keys; snapshots carry the dictionary.
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type ResultBatch } from '../../lib/index'
import type { KeyValues } from '../../lib/keys/key_column'
import { PipelineProcessor } from '../../lib/kafka/pipeline_processor'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

const SIZE = 10
const NAMES = ['', 'host-a', 'höst-β', '🔑', 'a'.repeat(300), 'z']

interface Event { t: number; key: string; v: number }

/** Batches of events over NAMES (some keys appear only late in the stream), in slightly disordered time. */
function events(seed: number, batches = 40, perBatch = 9): Event[][] {
  const random = mulberry32(seed)
  const out: Event[][] = []
  for (let b = 0; b < batches; b++) {
    const known = Math.min(NAMES.length, 2 + Math.floor(b / 6))
    out.push(Array.from({ length: perBatch }, (_, i) => ({
      t: b * 30 + i * 3 + Math.floor(random() * 5),
      key: NAMES[Math.floor(random() * known)]!,
      v: Math.sin(b / 4 + i) * 5 + random(),
    })))
  }
  return out
}

const model = LstmModel.create({ inputSize: 1, hiddenSize: 6, outputSize: 1, seed: 7 })
const options = { keyCount: 8, window: { size: SIZE }, bound: 4, clock: () => 0, forecaster: { model, mode: 'state' as const }, anomaly: { window: 5, warmup: 2, threshold: 2 } }

/** The rows of a result with keys as strings (through `names`), columns as plain arrays. */
function rows(result: ResultBatch, names: (ids: Uint32Array) => readonly string[]) {
  const keys = result.length > 0 ? names(result.key.subarray(0, result.length)) : []
  return Array.from({ length: result.length }, (_, r) => ({
    key: keys[r], start: result.start[r], end: result.end[r], count: result.count[r], value: result.values[r], forecast: result.forecast[r], score: result.score[r],
  }))
}

/** A key column of `kind` for the strings of a batch. */
function column(kind: 'string' | 'bigint' | 'bytes', keys: string[]) {
  if (kind === 'string') return keys
  if (kind === 'bigint') return BigUint64Array.from(keys, (k) => BigInt(NAMES.indexOf(k)) * 0x1_0000_0001n + 0xfeedn)
  const encoded = keys.map((k) => new TextEncoder().encode(k))
  const offsets = new Uint32Array(keys.length + 1)
  encoded.forEach((e, i) => { offsets[i + 1] = offsets[i]! + e.length })
  const bytes = new Uint8Array(offsets[keys.length]!)
  encoded.forEach((e, i) => bytes.set(e, offsets[i]!))
  return { bytes, offsets }
}

/** Back from a column kind's keys to the strings. */
function strings(kind: 'string' | 'bigint' | 'bytes', keys: KeyValues): string[] {
  if (kind === 'string') return keys as string[]
  if (kind === 'bigint') return Array.from(keys as BigUint64Array, (k) => NAMES[Number((k - 0xfeedn) / 0x1_0000_0001n)]!)
  const { bytes, offsets } = keys as { bytes: Uint8Array; offsets: Uint32Array }
  return Array.from({ length: offsets.length - 1 }, (_, i) => new TextDecoder().decode(bytes.subarray(offsets[i]!, offsets[i + 1]!)))
}

describe('Pipeline with interned keys', () => {
  for (const kind of ['string', 'bigint', 'bytes'] as const) {
    it(`keys: '${kind}' gives a dense pipeline's results through a naive key → id map, keys back by keysOf()`, () => {
      const keyed = new Pipeline({ ...options, keys: kind })
      const dense = new Pipeline(options)
      const ids = new Map<string, number>()
      const namesOf = (list: Uint32Array) => Array.from(list, (id) => [...ids].find(([, v]) => v === id)![0])
      const got: unknown[] = [], want: unknown[] = []
      for (const batch of events(1)) {
        const timestamps = Float64Array.from(batch, (e) => e.t)
        const values = Float64Array.from(batch, (e) => e.v)
        for (const e of batch) if (!ids.has(e.key)) ids.set(e.key, ids.size)
        got.push(...rows(keyed.process({ timestamps, keys: column(kind, batch.map((e) => e.key)), values }), (list) => strings(kind, keyed.keysOf(list))))
        want.push(...rows(dense.process({ timestamps, keys: Uint32Array.from(batch, (e) => ids.get(e.key)!), values }), namesOf))
      }
      got.push(...rows(keyed.finish(), (list) => strings(kind, keyed.keysOf(list))))
      want.push(...rows(dense.finish(), namesOf))
      expect(want.length).toBeGreaterThan(100)
      expect(new Set(want.map((r) => (r as { key: string }).key)).size).toBe(NAMES.length) // unicode, empty and long keys all fired
      expect(got).toEqual(want)
      keyed.close()
      dense.close()
    })
  }

  it('processAsync gives process()\'s results', async () => {
    const a = new Pipeline({ ...options, keys: 'string' })
    const b = new Pipeline({ ...options, keys: 'string' })
    for (const batch of events(2)) {
      const input = { timestamps: Float64Array.from(batch, (e) => e.t), keys: batch.map((e) => e.key), values: Float64Array.from(batch, (e) => e.v) }
      expect(rows(await a.processAsync(input), (l) => a.keysOf(l) as string[])).toEqual(rows(b.process(input), (l) => b.keysOf(l) as string[]))
    }
  })

  it('a refused batch adds no key; maxKeys bounds the live keys (ERR_OUT_OF_RANGE, nothing changed)', async () => {
    const pipeline = new Pipeline({ ...options, maxKeys: 3, keys: 'string' })
    pipeline.process({ timestamps: Float64Array.of(1, 2), keys: ['a', 'b'], values: Float64Array.of(1, 2) })
    // State, not memory: memoryBytes counts scratch capacity, which a refused batch may grow.
    const state = () => ({ ...pipeline.metrics(), memoryBytes: 0 })
    const before = state()
    // A NaN timestamp is refused natively after the keys were translated: the new key 'c' is forgotten.
    expectSluiceError(() => pipeline.process({ timestamps: Float64Array.of(3, NaN), keys: ['c', 'a'], values: Float64Array.of(1, 2) }), 'ERR_INVALID_ARGUMENT')
    await expect(pipeline.processAsync({ timestamps: Float64Array.of(3, NaN), keys: ['d', 'a'], values: Float64Array.of(1, 2) })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    // Two new keys where one fits: all or nothing.
    expectSluiceError(() => pipeline.process({ timestamps: Float64Array.of(4, 5), keys: ['e', 'f'], values: Float64Array.of(1, 2) }), 'ERR_OUT_OF_RANGE')
    expect(state()).toEqual(before)
    expectSluiceError(() => pipeline.process({ timestamps: Float64Array.of(4), keys: [null as unknown as string], values: Float64Array.of(1) }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => pipeline.process({ timestamps: Float64Array.of(4), keys: Uint32Array.of(0), values: Float64Array.of(1) }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => pipeline.process({ timestamps: Float64Array.of(4), values: Float64Array.of(1) }), 'ERR_INVALID_ARGUMENT')
    // The one free place is still there: a third key fits.
    pipeline.process({ timestamps: Float64Array.of(6), keys: ['g'], values: Float64Array.of(3) })
    const last = pipeline.finish()
    expect([...new Set(pipeline.keysOf(last.key.subarray(0, last.length)) as string[])].sort()).toEqual(['a', 'b', 'g'])
    expectSluiceError(() => pipeline.keysOf(Uint32Array.of(7)), 'ERR_OUT_OF_RANGE')
  })

  it('snapshot/restore carries the dictionary: a restored pipeline continues as one that never stopped', () => {
    const stream = events(3)
    const whole = new Pipeline({ ...options, keys: 'string' })
    const first = new Pipeline({ ...options, keys: 'string' })
    const want: unknown[] = [], got: unknown[] = []
    let second: Pipeline | undefined
    stream.forEach((batch, b) => {
      const input = { timestamps: Float64Array.from(batch, (e) => e.t), keys: batch.map((e) => e.key), values: Float64Array.from(batch, (e) => e.v) }
      want.push(...rows(whole.process(input), (l) => whole.keysOf(l) as string[]))
      if (b === 17) {
        const bytes = first.snapshot()
        first.close()
        second = new Pipeline({ ...options, keys: 'string' })
        expectSluiceError(() => new Pipeline(options).restore(bytes), 'ERR_MALFORMED_DATA') // a dense pipeline refuses it
        const damaged = bytes.slice()
        damaged[damaged.length - 9]! ^= 1
        expectSluiceError(() => second!.restore(damaged), 'ERR_MALFORMED_DATA')
        second.restore(bytes)
      }
      const p = second ?? first
      got.push(...rows(p.process(input), (l) => p.keysOf(l) as string[]))
    })
    expect(got).toEqual(want)
  })

  it('PipelineProcessor with string keys: rows carry the string keys', () => {
    const processor = new PipelineProcessor({ keyCount: 4, keys: 'string', window: { size: SIZE }, bound: 0 })
    processor.push({ timestamps: Float64Array.of(1, 2, 12), keys: ['α', 'β', 'α'], values: Float64Array.of(1, 2, 3) })
    const out = processor.advanceWatermark(30)
    expect(out.map((r) => [r.key, r.start, r.count])).toEqual([['α', 0, 1], ['β', 0, 1], ['α', 10, 1]]) // by window end, then key
    expectSluiceError(() => processor.push({ timestamps: Float64Array.of(40), keys: Uint32Array.of(0), values: Float64Array.of(1) }), 'ERR_INVALID_TYPE')
  })
})
