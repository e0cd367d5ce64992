// Pipeline features from the sketch aggregates (DDSketch quantiles p50 … p999 and `quantiles`, HyperLogLog
// `distinct`): the feature columns equal an EventTimeWindows with the same options over the same stream, bit
// for bit; forward fill, the model's input (scaled) and the z-score take them as any other feature;
// snapshot/restore mid-stream equals an uninterrupted run; bad options are refused with codes; memoryBytes
// counts the sketches.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, LstmModel, Pipeline, Scaler, type PipelineOptions, type ResultBatch, type SourceBatch } from '../../lib/index'
import { mulberry32 } from '../../lib/runtime/random'
import type { SluiceErrorCode } from '../../lib/runtime/errors'
import { expectSluiceError } from '../helpers'

const SIZE = 20
const KEYS = 4
const CHANNELS = 2
const BOUND = 15

/** Lognormal "latencies" on channel 0, small integers (for distinct) on channel 1; disordered within BOUND,
 * some windows of a key skipped (forward fill), some channel-1 values NaN. */
function stream(seed: number, { windows = 60, perWindow = 12, batch = 23, nanWindows = false } = {}): SourceBatch[] {
  const random = mulberry32(seed)
  const events: { t: number; k: number; v: [number, number]; arrival: number }[] = []
  for (let k = 0; k < KEYS; k++) {
    for (let w = 0; w < windows; w++) {
      if (random() < 0.08) continue // a gap in this key's rows
      const allNaN = nanWindows && w % 11 === 5
      for (let j = 0; j < perWindow; j++) {
        const t = w * SIZE + Math.floor(random() * SIZE)
        const u = 1 - random(), v = random()
        const latency = Math.exp(2 + 1.2 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
        const id = allNaN ? NaN : Math.floor(random() * (5 + k * 3))
        events.push({ t, k, v: [latency, id], arrival: t + Math.floor(random() * BOUND) })
      }
    }
  }
  events.sort((a, b) => a.arrival - b.arrival)
  const batches: SourceBatch[] = []
  for (let at = 0; at < events.length; at += batch) {
    const part = events.slice(at, at + batch)
    batches.push({ timestamps: Float64Array.from(part, (e) => e.t), keys: Uint32Array.from(part, (e) => e.k), values: Float64Array.from(part.flatMap((e) => e.v)), now: 0 })
  }
  return batches
}

const sketchFeatures = { aggregates: ['mean', 'p50', 'p99', 'distinct'], quantiles: [0.25, 0.9999], accuracy: 0.02, distinctPrecision: 10 } as const
const PER_CHANNEL = 6

function make(extra: Partial<PipelineOptions> = {}): Pipeline {
  return new Pipeline({ keyCount: KEYS, channels: CHANNELS, window: { size: SIZE }, bound: BOUND, clock: () => 0, features: sketchFeatures, ...extra })
}

async function collect(pipeline: Pipeline, batches: SourceBatch[]): Promise<ResultBatch[]> {
  const out: ResultBatch[] = []
  for await (const r of pipeline.run(batches)) out.push(r)
  return out
}

describe('Pipeline sketch features', () => {
  for (const slide of [SIZE, SIZE / 4]) {
    it(`${slide === SIZE ? 'tumbling' : 'sliding'} windows: each fired row's features are the values of an EventTimeWindows with the same options over the same stream, bit for bit`, () => {
      const pipeline = make({ window: { size: SIZE, slide } })
      expect(pipeline.features).toBe(CHANNELS * PER_CHANNEL)
      expect(pipeline.aggregates).toEqual(sketchFeatures.aggregates)
      expect(pipeline.quantiles).toEqual(sketchFeatures.quantiles)
      const windows = new EventTimeWindows({ type: slide === SIZE ? 'tumbling' : 'sliding', size: SIZE, slide, keyCount: KEYS, channels: CHANNELS, ...sketchFeatures })
      expect(windows.valuesPerWindow).toBe(pipeline.features)
      // The windows' rows by (key, start), fed as the pipeline is fed and advanced to its watermark.
      const want = new Map<string, number[]>()
      const take = (f: ReturnType<EventTimeWindows['flush']>) => {
        for (let i = 0; i < f.length; i++) want.set(`${f.key[i]}@${f.start[i]}`, Array.from(f.values.subarray(i * windows.valuesPerWindow, (i + 1) * windows.valuesPerWindow)))
      }
      const rows: ResultBatch[] = []
      for (const batch of stream(1)) {
        const r = pipeline.process(batch)
        windows.push(batch)
        take(windows.advanceWatermark(r.watermark))
        expect(r.late.timestamps.length).toBe(0)
        rows.push(r)
      }
      rows.push(pipeline.finish())
      take(windows.flush())
      let compared = 0, filled = 0
      for (const r of rows) {
        for (let i = 0; i < r.length; i++) {
          const got = Array.from(r.values.subarray(i * pipeline.features, (i + 1) * pipeline.features))
          if (r.filled[i]) {
            filled++
            continue
          }
          expect(got, `key ${r.key[i]} start ${r.start[i]}`).toEqual(want.get(`${r.key[i]}@${r.start[i]}`))
          compared++
        }
      }
      expect(compared).toBe(want.size)
      expect(compared).toBeGreaterThan(150)
      expect(filled).toBeGreaterThan(5)
      pipeline.close()
      windows.close()
    })
  }

  it('forward-fills a missing window and a NaN quantile (a channel NaN in every event) with the last features; distinct of NaN only is 0, not filled', () => {
    const pipeline = make({ keyCount: 1, features: { aggregates: ['p50', 'distinct'] } })
    const at = (t: number, a: number, b: number) => ({ t, a, b })
    const events = [at(1, 10, 1), at(2, 20, 2), at(3, 30, 2), /* [20, 40) skipped */ at(41, 5, NaN), at(45, 7, NaN), at(61, 1, 3)]
    const r = pipeline.process({ timestamps: Float64Array.from(events, (e) => e.t), values: Float64Array.from(events.flatMap((e) => [e.a, e.b])), now: 0 })
    const last = pipeline.finish()
    const rows = [r, last].flatMap((b) => Array.from({ length: b.length }, (_, i) => ({ start: b.start[i], filled: b.filled[i], values: Array.from(b.values.subarray(4 * i, 4 * i + 4)) })))
    expect(rows.map((x) => x.start)).toEqual([0, 20, 40, 60])
    const [first, gap, nanRow] = rows
    expect(first!.filled).toBe(0)
    expect(Math.abs(first!.values[0]! - 20)).toBeLessThanOrEqual(0.02 * 20) // p50 of channel 0 (rank ⌊0.5·2⌋ = 20)
    expect(first!.values[1]).toBeCloseTo(3, 0) // 3 distinct on channel 0
    expect(gap).toEqual({ start: 20, filled: 1, values: first!.values })
    // [40, 60): channel 1 is NaN in both events: its p50 is filled from the last row, its distinct is 0.
    expect(nanRow!.filled).toBe(1)
    expect(nanRow!.values[2]).toBe(first!.values[2])
    expect(nanRow!.values[3]).toBe(0)
    pipeline.close()
  })

  it("feeds them to the model (scaled) as any feature: each forecast is the model over the key's last rows; the z-score scores the residual", async () => {
    const F = CHANNELS * PER_CHANNEL
    const model = LstmModel.create({ inputSize: F, hiddenSize: 8, outputSize: F, seed: 3 })
    const steps = 3
    const offset = Float64Array.from({ length: F }, (_, f) => (f % PER_CHANNEL === 3 ? 4 : 10))
    const scale = Float64Array.from({ length: F }, (_, f) => (f % PER_CHANNEL === 3 ? 2 : 8))
    const inputScaler = new Scaler('zscore', offset, scale)
    expectSluiceError(() => make({ forecaster: { model: LstmModel.create({ inputSize: CHANNELS, hiddenSize: 4, outputSize: CHANNELS, seed: 1 }) } }), 'ERR_INVALID_ARGUMENT', /2 channels × 6 aggregates = 12/)
    const pipeline = make({ forecaster: { model, steps, inputScaler }, anomaly: { window: 8, warmup: 3 } })
    const results = await collect(pipeline, stream(2, { windows: 40 }))
    const byKey = new Map<number, { value: number[]; forecast: number[]; score: number }[]>()
    for (const r of results) for (let i = 0; i < r.length; i++) {
      const list = byKey.get(r.key[i]!) ?? []
      list.push({ value: Array.from(r.values.subarray(F * i, F * (i + 1))), forecast: Array.from(r.forecast.subarray(F * i, F * (i + 1))), score: r.score[i]! })
      byKey.set(r.key[i]!, list)
    }
    let checked = 0
    for (const list of byKey.values()) {
      for (let i = steps; i < list.length; i += 5) {
        const x = Float32Array.from(list.slice(i - steps, i).flatMap((r) => r.value.map((v, f) => (v - offset[f]!) / scale[f]!)))
        const expected = model.predict(x, { steps, batch: 1 })
        for (let f = 0; f < F; f++) expect(list[i]!.forecast[f]).toBeCloseTo(expected[f]!, 5)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(20)
    expect(results.some((r) => r.score.some((s) => Number.isFinite(s)))).toBe(true)
    pipeline.close()
    model.close()
  })

  it('snapshot → restore mid-stream continues exactly as if never stopped (windows, sketches, history, z-score)', async () => {
    const F = CHANNELS * PER_CHANNEL
    const model = LstmModel.create({ inputSize: F, hiddenSize: 6, outputSize: F, seed: 4 })
    for (const slide of [SIZE, SIZE / 2]) {
      const batches = stream(3, { windows: 40, nanWindows: true })
      const build = () => make({ window: { size: SIZE, slide }, forecaster: { model, steps: 2 }, anomaly: { window: 6, warmup: 3 } })
      const whole = build()
      const expected = await collect(whole, batches)
      for (const cut of [Math.floor(batches.length / 3), Math.floor((2 * batches.length) / 3)]) {
        const first = build()
        const got = batches.slice(0, cut).map((b) => first.process(b))
        const bytes = first.snapshot()
        first.close()
        const second = build()
        second.restore(bytes)
        got.push(...(await collect(second, batches.slice(cut))))
        expect(got).toEqual(expected)
        second.close()
      }
      whole.close()
    }
    model.close()
  })

  it('refuses a snapshot of a pipeline with other sketch options (accuracy, distinctPrecision, quantiles) and changes nothing', () => {
    const first = make()
    for (const batch of stream(4).slice(0, 20)) first.process(batch)
    const bytes = first.snapshot()
    for (const other of [
      { ...sketchFeatures, accuracy: 0.01 },
      { ...sketchFeatures, distinctPrecision: 11 },
      { ...sketchFeatures, quantiles: [0.25, 0.999] },
    ]) {
      const second = make({ features: other })
      second.process(stream(5)[0]!)
      const before = second.snapshot()
      expectSluiceError(() => second.restore(bytes), 'ERR_MALFORMED_DATA', /windows: snapshot was taken with other sketch options/)
      expect(second.snapshot()).toEqual(before)
      second.close()
    }
    // Another column list (a plain aggregate where a sketch was) is another shape.
    const plain = make({ features: { ...sketchFeatures, aggregates: ['mean', 'p50', 'p99', 'max'] } })
    expectSluiceError(() => plain.restore(bytes), 'ERR_MALFORMED_DATA', /another shape \(features\.aggregates\)/)
    plain.close()
    first.close()
  })

  it('refuses bad sketch options with codes, before anything is built', () => {
    const bad: [PipelineOptions['features'], SluiceErrorCode, RegExp?][] = [
      [{ aggregates: ['p95' as never] }, 'ERR_INVALID_ARGUMENT', /features\.aggregates\[0\]/],
      [{ aggregates: ['distinct', 'distinct'] }, 'ERR_INVALID_ARGUMENT', /twice/],
      [{ aggregates: ['p50'], quantiles: [0.5] }, 'ERR_INVALID_ARGUMENT', /duplicate quantile 0.5/],
      [{ aggregates: ['mean'], quantiles: [1.5] }, 'ERR_OUT_OF_RANGE', /quantiles\[0\] must be in \[0, 1\]/],
      [{ aggregates: ['mean'], quantiles: [NaN] }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['mean'], quantiles: [-0.1] }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['mean'], quantiles: ['0.5' as never] }, 'ERR_INVALID_TYPE'],
      [{ aggregates: ['mean'], quantiles: 0.5 as never }, 'ERR_INVALID_TYPE'],
      [{ aggregates: ['mean'], quantiles: Array.from({ length: 64 }, (_, i) => i / 64) }, 'ERR_OUT_OF_RANGE', /at most 63 features\.quantiles/],
      [{ aggregates: ['p50'], accuracy: 0 }, 'ERR_OUT_OF_RANGE', /features\.accuracy must be in \[1e-6, 1\)/],
      [{ aggregates: ['p50'], accuracy: 1 }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['p50'], accuracy: -0.01 }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['p50'], accuracy: NaN }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['p50'], accuracy: '0.01' as never }, 'ERR_INVALID_TYPE'],
      [{ aggregates: ['distinct'], distinctPrecision: 3 }, 'ERR_OUT_OF_RANGE', /features\.distinctPrecision/],
      [{ aggregates: ['distinct'], distinctPrecision: 19 }, 'ERR_OUT_OF_RANGE'],
      [{ aggregates: ['distinct'], distinctPrecision: 10.5 }, 'ERR_INVALID_TYPE'],
    ]
    for (const [features, code, message] of bad) expectSluiceError(() => make({ features }), code, message)
    // With labels (and no max among the features) the label's max takes one of the 64 window columns.
    expectSluiceError(() => make({ labels: true, features: { aggregates: ['mean'], quantiles: Array.from({ length: 63 }, (_, i) => i / 63) } }), 'ERR_OUT_OF_RANGE', /at most 62 features\.quantiles/)
    const full = make({ labels: true, features: { aggregates: ['max'], quantiles: Array.from({ length: 63 }, (_, i) => i / 63) } })
    expect(full.features).toBe(CHANNELS * 64)
    full.close()
  })

  it('metrics().memoryBytes counts the sketches of the live (key, window) cells', () => {
    // Every key has events in 4 windows that have not fired (the bound holds the watermark back).
    const options = { keyCount: KEYS, channels: CHANNELS, window: { size: SIZE, horizon: 8 * SIZE }, bound: 10 * SIZE, clock: () => 0 }
    const events = stream(6, { windows: 4, perWindow: 40 })
    const bytes = (features: PipelineOptions['features']) => {
      const pipeline = new Pipeline({ ...options, features })
      for (const batch of events) pipeline.process(batch)
      expect(pipeline.metrics().windowsFired).toBe(0)
      const used = pipeline.metrics().memoryBytes
      pipeline.close()
      expect(pipeline.metrics().memoryBytes).toBe(0)
      return used
    }
    const cells = KEYS * 4
    const plain = bytes({ aggregates: ['mean'] })
    const distinct = bytes({ aggregates: ['mean', 'distinct'], distinctPrecision: 10 }) - plain
    const quantiles = bytes({ aggregates: ['mean', 'p50', 'p99'] }) - plain
    // distinct: one HyperLogLog per channel, 2^10 one-byte registers (+ its own fields and the cell's).
    expect(distinct / cells).toBeGreaterThanOrEqual(CHANNELS * 1024)
    expect(distinct / cells).toBeLessThan(CHANNELS * (1024 + 128) + 128)
    // p50/p99: one DDSketch per channel, 8 bytes per bucket spanned (lognormal σ 1.2 at α 0.01: a few hundred).
    expect(quantiles / cells).toBeGreaterThan(CHANNELS * 8 * 20)
    expect(quantiles / cells).toBeLessThan(CHANNELS * (2 * 2048 * 8 + 256))
  })
})
