// The default result batches: each has a buffer of its own that nothing rewrites, however long it is kept.
// Without a forecaster and a detector, the buffer holds only the columns with data (forecast, score and
// flagged hold NaN, NaN and 0, and each batch makes its own when they are first read or set).
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type PipelineOptions, type ResultBatch, type SourceBatch } from '../../lib/index'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const SIZE = 10, KEYS = 8, C = 2

/** `windows` windows of KEYS keys, some skipped (forward-filled rows), 2 channels, batches of 64 events. */
function stream(windows: number, from = 0): SourceBatch[] {
  const events: [number, number, number, number][] = []
  for (let i = from; i < from + windows; i++) {
    for (let k = 0; k < KEYS; k++) {
      if ((i + k) % 9 === 4) continue
      events.push([i * SIZE + k, k, Math.sin(i / 5 + k) * 10, Math.cos(i / 7 - k)])
    }
  }
  const batches: SourceBatch[] = []
  for (let at = 0; at < events.length; at += 64) {
    const part = events.slice(at, at + 64)
    batches.push({
      timestamps: Float64Array.from(part, (e) => e[0]), keys: Uint32Array.from(part, (e) => e[1]),
      values: Float64Array.from(part.flatMap((e) => [e[2], e[3]])),
    })
  }
  return batches
}

const options: PipelineOptions = { keyCount: KEYS, channels: C, window: { size: SIZE, horizon: 20 * SIZE }, bound: SIZE, clock: () => 0 }

/** Every column of a result batch, copied. */
function copyOf(batch: ResultBatch) {
  return {
    length: batch.length, key: Array.from(batch.key), start: Array.from(batch.start), end: Array.from(batch.end),
    count: Array.from(batch.count), filled: Array.from(batch.filled), values: Array.from(batch.values),
    forecast: Array.from(batch.forecast), score: Array.from(batch.score), flagged: Array.from(batch.flagged),
    watermark: batch.watermark, final: batch.final,
    late: { input: batch.late.input, timestamps: Array.from(batch.late.timestamps), keys: Array.from(batch.late.keys) },
  }
}

describe('Pipeline default result batches', () => {
  it('a kept result stays unchanged through 10^4 later batches and garbage collections', () => {
    const p = new Pipeline(options)
    const kept = stream(30).map((b) => p.process(b)).filter((r) => r.length > 0).slice(-3)
    const copies = kept.map(copyOf)
    // Columns read now (forecast, score, flagged are made on first read) and columns never read before.
    const forecast = kept[0]!.forecast
    let rows = 0
    for (let i = 0, from = 30; i < 10_000; from += 40) {
      for (const b of stream(40, from)) {
        rows += p.process(b).length
        if (++i % 1000 === 0) gc()
      }
    }
    gc()
    expect(rows).toBeGreaterThan(10_000)
    expect(kept.map(copyOf)).toEqual(copies)
    expect(kept[0]!.forecast).toBe(forecast)
    p.close()
  })

  it('without a forecaster and a detector, the buffer holds only the columns with data', () => {
    const p = new Pipeline(options)
    const late = { timestamps: new Float64Array([0]), keys: new Uint32Array([1]), values: new Float64Array([1, 2]) }
    for (const b of stream(20)) p.process(b)
    const r = p.process(late)
    expect(r.late.timestamps.length).toBe(1)
    const rows = p.advanceTo(40 * SIZE)
    for (const batch of [r, rows]) {
      const F = p.features
      // start, end, count, values (float64), key (uint32), filled (uint8), late timestamps and keys.
      expect(batch.values.buffer.byteLength).toBe(batch.length * (8 * 3 + 8 * F + 4 + 1) + batch.late.timestamps.length * 12)
    }
    expect(rows.length).toBeGreaterThan(0)
    // With a detector (which writes score and flagged) the buffer has all the columns.
    const d = new Pipeline({ ...options, detector: () => {} })
    for (const b of stream(20)) d.process(b)
    const all = d.advanceTo(40 * SIZE)
    expect(all.values.buffer.byteLength).toBe(all.length * (8 * 3 + 8 * 2 * d.features + 8 + 4 + 2))
    expect(copyOf(all)).toEqual(copyOf(rows))
    p.close()
    d.close()
  })

  it('forecast, score and flagged are each batch\'s own: NaN, NaN, 0, own properties once read, writable, settable', () => {
    const p = new Pipeline(options)
    const batches = stream(80)
    const a = p.process(batches[3]!), b = p.process(batches[4]!)
    expect(a.length).toBeGreaterThan(0)
    expect(b.length).toBeGreaterThan(0)
    expect(Object.keys(a)).not.toContain('forecast')
    expect(a.forecast).toBeInstanceOf(Float64Array)
    expect(a.forecast.length).toBe(a.length * p.features)
    expect(a.forecast.every(Number.isNaN)).toBe(true)
    expect(a.score.length).toBe(a.length)
    expect(a.score.every(Number.isNaN)).toBe(true)
    expect(Array.from(a.flagged)).toEqual(new Array(a.length).fill(0))
    // Read once, they are own, enumerable properties that stay the same arrays (as a scored batch's columns).
    expect(Object.keys(a)).toEqual(expect.arrayContaining(['forecast', 'score', 'flagged']))
    expect(a.forecast).toBe(a.forecast)
    expect({ ...a }.score).toBe(a.score)
    // Writing one batch's columns changes no other batch's, kept or later.
    a.forecast.fill(1)
    a.score[0] = 7
    a.flagged[0] = 1
    expect(b.forecast.every(Number.isNaN)).toBe(true)
    expect(b.score.every(Number.isNaN)).toBe(true)
    expect(b.flagged.every((f) => f === 0)).toBe(true)
    const c = p.process(batches[5]!)
    expect(c.score.every(Number.isNaN)).toBe(true)
    expect(c.flagged.every((f) => f === 0)).toBe(true)
    expect(a.score[0]).toBe(7)
    // Assigning replaces the column (as on a plain object).
    const mine = new Float64Array(b.length)
    b.score = mine
    expect(b.score).toBe(mine)
    expect(Object.getOwnPropertyDescriptor(b, 'score')).toMatchObject({ value: mine, writable: true, enumerable: true })
    p.close()
  })

  it('transferring one result\'s buffer leaves the other results and the pipeline as they were', () => {
    const p = new Pipeline(options)
    const batches = stream(80)
    const a = p.process(batches[3]!), b = p.process(batches[4]!)
    const before = copyOf(b)
    const moved = structuredClone(a.values.buffer, { transfer: [a.values.buffer as ArrayBuffer] })
    expect(moved.byteLength).toBeGreaterThan(0)
    expect(a.values.length).toBe(0) // detached: a's views are empty
    expect(copyOf(b)).toEqual(before)
    const twin = new Pipeline(options)
    for (const batch of batches.slice(0, 5)) twin.process(batch)
    for (const batch of batches.slice(5)) expect(copyOf(p.process(batch))).toEqual(copyOf(twin.process(batch)))
    p.close()
    twin.close()
  })

  it('a forecaster\'s results keep their buffer\'s forecast, score and flagged as plain properties', () => {
    const model = LstmModel.create({ inputSize: C, hiddenSize: 4, outputSize: C, seed: 3 })
    const p = new Pipeline({ ...options, forecaster: { model, mode: 'state' }, anomaly: { window: 8, threshold: 2 } })
    let scored = 0
    for (const b of stream(30)) {
      const r = p.process(b)
      expect(Object.keys(r)).toEqual(expect.arrayContaining(['forecast', 'score', 'flagged']))
      expect(r.forecast.buffer).toBe(r.values.buffer)
      scored += r.score.filter((s) => !Number.isNaN(s)).length
    }
    expect(scored).toBeGreaterThan(0)
    p.close()
    model.close()
  })
})
