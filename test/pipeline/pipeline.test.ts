// Pipeline: accounting of every event (windowed or late, checked against a naive recomputation), ordering
// and forward fill, forecasts against LstmModel.predict on the same rows, backpressure, abort, snapshot /
// restore, bad input.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, RollingZScore, Scaler, SluiceError, WatermarkTracker, type ResultBatch, type SourceBatch } from '../../lib/index'
import { csvSource } from '../../lib/cli/csv_source'
import { mulberry32 } from '../../lib/runtime/random'
import { openSnapshot } from '../../lib/runtime/snapshot_envelope'
import { expectSluiceError } from '../helpers'
import { expectEnvelope, withValidCrc } from '../support/snapshot_bytes'

const SIZE = 10

/** A disordered stream: per key one event per SIZE (some skipped), shuffled within `disorder`, split over inputs by key. */
function stream(seed: number, { keys = 3, inputs = 2, length = 400, disorder = 30, skip = 0.05, batch = 7, stragglers = 0.03 } = {}): SourceBatch[] {
  const random = mulberry32(seed)
  const events: { t: number; k: number; v: number; arrival: number }[] = []
  for (let k = 0; k < keys; k++) {
    for (let i = 0; i < length; i++) {
      if (random() < skip) continue
      const t = i * SIZE + Math.floor(random() * SIZE)
      const late = random() < stragglers ? 200 : 0
      events.push({ t, k, v: Math.sin(i / 9 + k) * 10 + k + random(), arrival: t + Math.floor(random() * disorder) + late })
    }
  }
  events.sort((a, b) => a.arrival - b.arrival)
  const perInput: (typeof events)[] = Array.from({ length: inputs }, () => [])
  const batches: SourceBatch[] = []
  const flush = (input: number) => {
    const list = perInput[input]!
    perInput[input] = []
    batches.push({ input, timestamps: Float64Array.from(list, (e) => e.t), keys: Uint32Array.from(list, (e) => e.k), values: Float64Array.from(list, (e) => e.v), now: list[list.length - 1]!.arrival })
  }
  for (const e of events) {
    const input = e.k % inputs
    perInput[input]!.push(e)
    if (perInput[input]!.length >= batch) flush(input)
  }
  for (let i = 0; i < inputs; i++) if (perInput[i]!.length > 0) flush(i)
  return batches
}

async function collect(pipeline: Pipeline, batches: SourceBatch[]): Promise<ResultBatch[]> {
  const out: ResultBatch[] = []
  for await (const r of pipeline.run(batches)) out.push(r)
  return out
}

function basic(extra: Partial<ConstructorParameters<typeof Pipeline>[0]> = {}) {
  return new Pipeline({ inputs: 2, keyCount: 3, channels: 1, window: { size: SIZE, horizon: 2000 }, bound: 25, clock: () => 0, ...extra })
}

describe('Pipeline accounting', () => {
  it('counts every input event as windowed or late, and the windows hold exactly the on-time events', async () => {
    for (const seed of [1, 2, 3]) {
      const batches = stream(seed)
      const pipeline = basic()
      const results = await collect(pipeline, batches)
      const events = batches.reduce((a, b) => a + b.timestamps.length, 0)
      const m = pipeline.metrics()
      expect(m.events).toBe(events)
      expect(m.windowedEvents + m.lateEvents).toBe(events)
      expect(m.pendingEvents).toBe(0)
      // Naive reference: the batch's late events are those whose window had closed before the batch
      // (end − 1 ≤ the watermark after the previous batch); the rest are counted in their (key, start) row.
      const expected = new Map<string, number>()
      let watermark = -Infinity, late = 0
      batches.forEach((b, i) => {
        const reported = results[i]!.late
        const lateSet: string[] = []
        for (let j = 0; j < b.timestamps.length; j++) {
          const t = b.timestamps[j]!, k = b.keys![j]!
          const start = Math.floor(t / SIZE) * SIZE
          if (start + SIZE - 1 <= watermark) {
            lateSet.push(`${k}:${t}`)
            late++
          } else expected.set(`${k}:${start}`, (expected.get(`${k}:${start}`) ?? 0) + 1)
        }
        expect(Array.from(reported.timestamps, (t, j) => `${reported.keys[j]}:${t}`).sort()).toEqual(lateSet.sort())
        expect(reported.input).toBe(b.input)
        watermark = results[i]!.watermark
      })
      expect(late).toBe(m.lateEvents)
      expect(late).toBeGreaterThan(0)
      const got = new Map<string, number>()
      for (const r of results) for (let i = 0; i < r.length; i++) if (!r.filled[i]) got.set(`${r.key[i]}:${r.start[i]}`, r.count[i]!)
      expect(got).toEqual(expected)
      expect(results[results.length - 1]!.final).toBe(true)
      expect(results.filter((r) => r.final)).toHaveLength(1)
      pipeline.close()
    }
  })

  it('emits each key in time order, one row per window step, forward-filling the gaps', async () => {
    const batches = stream(5, { skip: 0.15 })
    const pipeline = basic()
    const results = await collect(pipeline, batches)
    const last = new Map<number, { start: number; value: number }>()
    let filled = 0
    for (const r of results) {
      for (let i = 0; i < r.length; i++) {
        const k = r.key[i]!, prev = last.get(k)
        if (prev) expect(r.start[i]).toBe(prev.start + SIZE)
        expect(r.end[i]).toBe(r.start[i]! + SIZE)
        if (r.filled[i]) {
          filled++
          expect(r.count[i]).toBe(0)
          expect(r.values[i]).toBe(prev!.value)
        }
        last.set(k, { start: r.start[i]!, value: r.values[i]! })
      }
    }
    expect(filled).toBe(pipeline.metrics().filledRows)
    expect(filled).toBeGreaterThan(0)
  })

  it('averages the values of a window (mean of the on-time events)', () => {
    const pipeline = new Pipeline({ channels: 2, window: { size: 10 } })
    const first = pipeline.process({ timestamps: Float64Array.of(1, 3, 12), values: Float64Array.of(1, 10, 3, 30, 5, 50), now: 0 })
    // The watermark is 12 − 0 − 1 = 11 ≥ 9: [0, 10) fires with this batch, [10, 20) at the end.
    expect(Array.from(first.start)).toEqual([0])
    expect(Array.from(first.values)).toEqual([2, 20])
    expect(Array.from(first.count)).toEqual([2])
    const last = pipeline.finish()
    expect(Array.from(last.start)).toEqual([10])
    expect(Array.from(last.values)).toEqual([5, 50])
    expect(last.final).toBe(true)
  })
})

describe('Pipeline sliding windows', () => {
  it('gives one row per key and slide, each the mean over its whole window (naive recomputation)', async () => {
    const batches = stream(15, { stragglers: 0, skip: 0.1 })
    const pipeline = new Pipeline({ inputs: 2, keyCount: 3, window: { size: 2 * SIZE, slide: SIZE, horizon: 2000 }, bound: 25, clock: () => 0, maxFill: 0 })
    const results = await collect(pipeline, batches)
    const events = batches.flatMap((b) => Array.from(b.timestamps, (t, i) => ({ t, k: b.keys![i]!, v: b.values[i]! })))
    let rows = 0
    for (const r of results) {
      for (let i = 0; i < r.length; i++) {
        const inside = events.filter((e) => e.k === r.key[i] && e.t >= r.start[i]! && e.t < r.end[i]!)
        expect(r.end[i]! - r.start[i]!).toBe(2 * SIZE)
        expect(r.count[i]).toBe(inside.length)
        expect(r.values[i]).toBeCloseTo(inside.reduce((a, e) => a + e.v, 0) / inside.length, 9)
        rows++
      }
    }
    expect(pipeline.metrics().lateEvents).toBe(0)
    expect(rows).toBeGreaterThan(1000)
  })
})

describe('Pipeline forecasts', () => {
  const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, outputSize: 1, seed: 3 })

  it("window mode: each row's forecast is predict() over the key's previous `steps` rows", async () => {
    const steps = 5
    const pipeline = basic({ forecaster: { model, steps }, anomaly: { window: 20, warmup: 3, threshold: 3 } })
    const results = await collect(pipeline, stream(7, { stragglers: 0 }))
    const rows = new Map<number, { value: number; forecast: number; score: number }[]>()
    for (const r of results) for (let i = 0; i < r.length; i++) {
      const list = rows.get(r.key[i]!) ?? []
      list.push({ value: r.values[i]!, forecast: r.forecast[i]!, score: r.score[i]! })
      rows.set(r.key[i]!, list)
    }
    for (const list of rows.values()) {
      for (let i = 0; i < list.length; i++) {
        if (i < steps) {
          expect(list[i]!.forecast).toBeNaN()
          continue
        }
        const x = Float32Array.from(list.slice(i - steps, i), (r) => r.value)
        const expected = model.predict(x, { steps, batch: 1 })[0]!
        expect(list[i]!.forecast).toBeCloseTo(expected, 5)
      }
    }
  })

  it('scores the residual with the same rolling z-score as RollingZScore on the residuals', async () => {
    const anomaly = { window: 15, warmup: 4, threshold: 2, excludeFlagged: false }
    const pipeline = basic({ forecaster: { model, steps: 3 }, anomaly, maxFill: 0 })
    const results = await collect(pipeline, stream(8, { skip: 0, stragglers: 0 }))
    const reference = new RollingZScore({ ...anomaly, keyCount: 3, channels: 1 })
    let flagged = 0, scored = 0
    for (const r of results) for (let i = 0; i < r.length; i++) {
      if (Number.isNaN(r.forecast[i]!)) continue
      const expected = reference.scoreAndUpdate(r.key[i]!, [r.values[i]! - r.forecast[i]!], 0)
      if (Number.isNaN(expected)) expect(r.score[i]).toBeNaN()
      else {
        scored++
        expect(r.score[i]).toBeCloseTo(expected, 9)
      }
      expect(r.flagged[i]).toBe(expected > 2 ? 1 : 0)
      flagged += r.flagged[i]!
    }
    expect(scored).toBeGreaterThan(100)
    expect(flagged).toBe(pipeline.metrics().flaggedRows)
  })

  it("change target: the forecast is the last row plus the model's scaled change over the scaled row changes", async () => {
    const steps = 4
    const inputScaler = new Scaler('zscore', [0.1], [2])
    const targetScaler = new Scaler('zscore', [-0.2], [3])
    const pipeline = basic({ forecaster: { model, steps, target: 'change', inputScaler, targetScaler } })
    const results = await collect(pipeline, stream(10, { stragglers: 0 }))
    const rows = new Map<number, { value: number; forecast: number }[]>()
    for (const r of results) for (let i = 0; i < r.length; i++) {
      const list = rows.get(r.key[i]!) ?? []
      list.push({ value: r.values[i]!, forecast: r.forecast[i]! })
      rows.set(r.key[i]!, list)
    }
    let checked = 0
    for (const list of rows.values()) {
      for (let i = 0; i < list.length; i++) {
        if (i < steps + 1) {
          expect(list[i]!.forecast).toBeNaN()
          continue
        }
        const x = new Float32Array(steps)
        for (let t = 0; t < steps; t++) x[t] = (list[i - steps + t]!.value - list[i - steps + t - 1]!.value - 0.1) / 2
        const change = model.predict(x, { steps, batch: 1 })[0]! * 3 - 0.2
        expect(list[i]!.forecast).toBeCloseTo(list[i - 1]!.value + change, 4)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(300)
  })

  it("state mode: each row's forecast is the model over the key's whole history from zero state", async () => {
    const pipeline = basic({ forecaster: { model, mode: 'state' } })
    const results = await collect(pipeline, stream(9, { length: 60, stragglers: 0, skip: 0 }))
    const rows = new Map<number, number[][]>()
    for (const r of results) for (let i = 0; i < r.length; i++) {
      const list = rows.get(r.key[i]!) ?? []
      list.push([r.values[i]!, r.forecast[i]!])
      rows.set(r.key[i]!, list)
    }
    for (const list of rows.values()) {
      expect(list[0]![1]).toBeNaN()
      for (const i of [1, 7, list.length - 1]) {
        const x = Float32Array.from(list.slice(0, i), (r) => r[0]!)
        expect(list[i]![1]).toBeCloseTo(model.predict(x, { steps: i, batch: 1 })[0]!, 4)
      }
    }
  })

  it('snapshot → restore in a new pipeline continues exactly as if never stopped', async () => {
    for (const [mode, target] of [['window', 'level'], ['state', 'level'], ['window', 'change'], ['state', 'change']] as const) {
      const batches = stream(11)
      const make = () => basic({ forecaster: { model, mode, steps: 4, target }, anomaly: { window: 10, warmup: 3 } })
      const whole = make()
      const expected = await collect(whole, batches)
      const first = make()
      const cut = Math.floor(batches.length / 2)
      const got: ResultBatch[] = batches.slice(0, cut).map((b) => first.process(b))
      const bytes = first.snapshot()
      first.close()
      const second = make()
      second.restore(bytes)
      got.push(...(await collect(second, batches.slice(cut))))
      expect(got).toEqual(expected)
      expect(second.metrics().events).toBe(whole.metrics().events)
      // A corrupted snapshot is refused and changes nothing.
      const bad = Uint8Array.from(bytes)
      bad[bad.length - 10]! ^= 0xff
      const third = make()
      expectSluiceError(() => third.restore(bad), 'ERR_MALFORMED_DATA', /checksum/)
      expect(third.metrics().events).toBe(0)
    }
  })

  it('snapshots are in the common sluice envelope (kind pipeline); other kinds, truncated bytes and the 0.1 layout (SLPL) are refused and change nothing', () => {
    const first = basic()
    for (const batch of stream(12).slice(0, 20)) first.process(batch)
    const bytes = first.snapshot()
    expectEnvelope(bytes, 6) // kind pipeline
    // The 0.1 layout of the same state: "SLPL" | u32 version 1 | u32 header length | u32 0 | JSON header | sections | CRC-32.
    const payload = openSnapshot(bytes, 'pipeline')
    const old = Buffer.concat([Buffer.from('SLPL', 'latin1'), Buffer.alloc(12), payload.subarray(4), Buffer.alloc(4)])
    old.writeUInt32LE(1, 4)
    old.writeUInt32LE(new DataView(payload.buffer, payload.byteOffset).getUint32(0, true), 8)
    withValidCrc(old)
    const tracker = new WatermarkTracker()
    const second = basic()
    try {
      expectSluiceError(() => second.restore(old), 'ERR_NOT_SUPPORTED', /^cannot restore a pipeline snapshot in the 0\.1 layout \(SLPL\); this version reads the common sluice envelope \(SLCE\); take a new snapshot$/)
      expectSluiceError(() => second.restore(tracker.snapshot()), 'ERR_MALFORMED_DATA', /another kind of object: watermark-tracker, expected pipeline/)
      expectSluiceError(() => second.restore(bytes.subarray(0, bytes.length - 1)), 'ERR_MALFORMED_DATA', /length does not match/)
      expectSluiceError(() => second.restore(bytes.subarray(0, 19)), 'ERR_MALFORMED_DATA', /truncated/)
      expect(second.metrics().events).toBe(0)
      second.restore(bytes)
      expect(second.snapshot()).toEqual(bytes)
    } finally {
      tracker.close()
      second.close()
      first.close()
    }
  })
})

describe('Pipeline async batches and failures', () => {
  it.each([['window', 'level'], ['state', 'level'], ['state', 'change']] as const)('processAsync gives the results of process, one batch at a time (%s mode, %s)', async (mode, target) => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, outputSize: 1, seed: 4 })
    // State mode steps the LstmState with stepAsync: the batch is just as busy while it runs.
    const make = () => basic({ forecaster: { model, mode, target, steps: 3 } })
    const batches = stream(16)
    const sync = make(), async = make()
    let asked = 0
    for (const b of batches.slice(0, 40)) {
      const expected = sync.process(b)
      const pending = async.processAsync(b)
      if (expected.length > 0 && !Number.isNaN(expected.forecast[expected.length - 1]!)) {
        // This batch asks the model: the pipeline is busy until it settles.
        asked++
        await expect(async.processAsync(b)).rejects.toMatchObject({ code: 'ERR_INVALID_STATE', message: /busy/ })
        expect(() => async.snapshot()).toThrow(/busy/)
      }
      expect(await pending).toEqual(expected)
    }
    const counts = (p: Pipeline) => {
      const { events, windowedEvents, lateEvents, pendingEvents, windowsFired, filledRows, flaggedRows, batchesIn, batchesOut, watermark } = p.metrics()
      return { events, windowedEvents, lateEvents, pendingEvents, windowsFired, filledRows, flaggedRows, batchesIn, batchesOut, watermark }
    }
    expect(asked).toBeGreaterThan(5)
    expect(counts(async)).toEqual(counts(sync))
    model.close()
  })

  it('every processAsync result keeps its own memory: kept results still equal process()\'s after later calls', async () => {
    // A steady stream (each batch fires one window of every key: results of one size) then irregular batches.
    // An async call writes a result of the last one's size straight into a buffer made for it before the
    // call (native/addon/pipeline/pipeline_binding.cc, AsyncCall); no result may share memory with another.
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, outputSize: 1, seed: 6 })
    const make = () => new Pipeline({ keyCount: 4, channels: 1, window: { size: SIZE }, bound: 0, clock: () => 0, forecaster: { model, mode: 'state' } })
    const steady: SourceBatch[] = Array.from({ length: 30 }, (_, w) => ({
      timestamps: Float64Array.from({ length: 4 }, () => w * SIZE + 1),
      keys: Uint32Array.of(0, 1, 2, 3),
      values: Float64Array.from({ length: 4 }, (_, k) => Math.sin(w + k)),
    }))
    const batches = [...steady, ...stream(21, { inputs: 1, keys: 4 })]
    const sync = make(), async = make()
    const expected = batches.map((b) => sync.process(b))
    const results: ResultBatch[] = []
    for (const b of batches) results.push(await async.processAsync(b))
    expect(new Set(results.filter((r) => r.length > 0).map((r) => r.key.buffer)).size).toBe(results.filter((r) => r.length > 0).length)
    expect(results.filter((r, i) => i > 0 && r.length > 0 && r.length === results[i - 1]!.length).length).toBeGreaterThan(20)
    expect(results).toEqual(expected)
    sync.close()
    async.close()
    model.close()
  })

  it('stops after a batch fails once its windows fired, until restore()', () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 8, outputSize: 1, seed: 5 })
    const pipeline = basic({ forecaster: { model, steps: 2 } })
    const batches = stream(17)
    let i = 0
    for (; i < 30; i++) pipeline.process(batches[i]!)
    const saved = pipeline.snapshot()
    model.close()
    let failed = false
    for (; i < batches.length && !failed; i++) {
      try {
        pipeline.process(batches[i]!)
      } catch (error) {
        expect((error as SluiceError).code).toBe('ERR_INVALID_STATE')
        failed = true
      }
    }
    expect(failed).toBe(true)
    expectSluiceError(() => pipeline.process(batches[i]!), 'ERR_INVALID_STATE', /stopped: a batch failed after its windows fired/)
    expectSluiceError(() => pipeline.snapshot(), 'ERR_INVALID_STATE', /stopped/)
    pipeline.restore(saved)
    expect(pipeline.snapshot()).toEqual(saved)
  })
})

describe('Pipeline flow control', () => {
  it('reads the source only as fast as the consumer reads results (backpressure through readable())', async () => {
    let pulled = 0
    const batches = stream(12)
    async function* source() {
      for (const b of batches) {
        pulled++
        yield b
      }
    }
    const pipeline = basic()
    const readable = pipeline.readable(source())
    let consumed = 0
    for await (const _ of readable) {
      consumed++
      await new Promise((resolve) => setTimeout(resolve, 2))
      expect(pulled).toBeLessThanOrEqual(consumed + 3)
      if (consumed === 20) break
    }
    expect(pulled).toBeLessThanOrEqual(23)
    expect(pulled).toBeLessThan(batches.length)
  })

  it('takes a Node Readable (object mode) and a CSV file as sources, with the same results as an array', async () => {
    const batches = stream(14)
    const expected = await collect(basic(), batches)
    const fromReadable: ResultBatch[] = []
    for await (const r of basic().run(Readable.from(batches))) fromReadable.push(r)
    expect(fromReadable).toEqual(expected)
    // The same events as a CSV file (sorted per key), read back through csvSource into one input.
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-pipeline-'))
    const file = path.join(dir, 'events.csv')
    const rows = batches.flatMap((b) => Array.from(b.timestamps, (t, i) => [t, b.keys![i]!, b.values[i]!] as const))
    rows.sort((a, b) => a[1] - b[1] || a[0] - b[0])
    writeFileSync(file, 'time,key,value\n' + rows.map((r) => r.join(',')).join('\n') + '\n')
    const pipeline = new Pipeline({ keyCount: 3, window: { size: SIZE, horizon: 10_000 }, clock: () => 0 })
    const results = await collect(pipeline, csvSource(file, { time: 'time', key: 'key', value: ['value'] }, { batchSize: 50 }))
    const m = pipeline.metrics()
    expect(m.events).toBe(rows.length)
    expect(m.windowedEvents + m.lateEvents).toBe(rows.length)
    expect(results.reduce((a, r) => a + r.count.reduce((x, y) => x + y, 0), 0)).toBe(m.windowedEvents)
  })

  it('stops on abort with the reason, returns the source, and stays usable', async () => {
    let returned = false
    const batches = stream(13)
    async function* source() {
      try {
        for (const b of batches) yield b
      } finally {
        returned = true
      }
    }
    const pipeline = basic()
    const controller = new AbortController()
    let seen = 0
    const reason = new Error('stop now')
    await expect((async () => {
      for await (const _ of pipeline.run(source(), { signal: controller.signal })) {
        if (++seen === 5) controller.abort(reason)
      }
    })()).rejects.toBe(reason)
    expect(seen).toBe(5)
    expect(returned).toBe(true)
    const m = pipeline.metrics()
    expect(m.batchesIn).toBe(5)
    expect(m.windowedEvents + m.lateEvents + m.pendingEvents).toBe(m.events)
    expect(pipeline.snapshot().length).toBeGreaterThan(0)
    const aborted = AbortSignal.abort()
    await expect(pipeline.run(source(), { signal: aborted }).next()).rejects.toBeDefined()
  })

  it('lets an idle input stop holding back the watermark', () => {
    const pipeline = new Pipeline({ inputs: 2, window: { size: 10 }, idleTimeout: 100, clock: () => 0 })
    pipeline.process({ input: 0, timestamps: Float64Array.of(5), values: Float64Array.of(1), now: 0 })
    pipeline.process({ input: 1, timestamps: Float64Array.of(6), values: Float64Array.of(1), now: 0 })
    const held = pipeline.process({ input: 0, timestamps: Float64Array.of(50), values: Float64Array.of(1), now: 50 })
    expect(held.length).toBe(0) // input 1 is still at 6
    const released = pipeline.advance(500) // input 1 silent for > 100
    expect(Array.from(released.start)).toEqual([0])
  })
})

describe('Pipeline chosen features', () => {
  it('gives the chosen window aggregates per channel as the row features ([channel][aggregate], naive recomputation)', async () => {
    const batches = stream(21, { stragglers: 0, skip: 0 })
    const pipeline = basic({ features: { aggregates: ['min', 'max', 'count'] } })
    expect(pipeline.features).toBe(3)
    const results = await collect(pipeline, batches)
    const events = batches.flatMap((b) => Array.from(b.timestamps, (t, i) => ({ t, k: b.keys![i]!, v: b.values[i]! })))
    let rows = 0
    for (const r of results) {
      expect(r.values.length).toBe(3 * r.length)
      expect(r.forecast.length).toBe(3 * r.length)
      for (let i = 0; i < r.length; i++) {
        if (r.filled[i]) continue
        const inside = events.filter((e) => e.k === r.key[i] && e.t >= r.start[i]! && e.t < r.end[i]!).map((e) => e.v)
        expect(Array.from(r.values.subarray(3 * i, 3 * i + 3))).toEqual([Math.min(...inside), Math.max(...inside), inside.length])
        rows++
      }
    }
    expect(rows).toBeGreaterThan(500)
  })

  it('keeps the mean of each channel by default, and forecasts the chosen features with a model of that many inputs', async () => {
    const model = LstmModel.create({ inputSize: 2, hiddenSize: 6, outputSize: 2, seed: 8 })
    expectSluiceError(() => basic({ forecaster: { model } }), 'ERR_INVALID_ARGUMENT', /inputSize = outputSize = the feature count \(1 channels × 1 aggregates = 1\)/)
    expectSluiceError(() => basic({ features: { aggregates: ['mean', 'median' as never] } }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => basic({ features: { aggregates: [] } }), 'ERR_INVALID_ARGUMENT')
    const steps = 3
    const pipeline = basic({ features: { aggregates: ['mean', 'max'] }, forecaster: { model, steps } })
    const results = await collect(pipeline, stream(22, { stragglers: 0 }))
    const rows = new Map<number, { value: number[]; forecast: number[] }[]>()
    for (const r of results) for (let i = 0; i < r.length; i++) {
      const list = rows.get(r.key[i]!) ?? []
      list.push({ value: Array.from(r.values.subarray(2 * i, 2 * i + 2)), forecast: Array.from(r.forecast.subarray(2 * i, 2 * i + 2)) })
      rows.set(r.key[i]!, list)
    }
    let checked = 0
    for (const list of rows.values()) {
      for (let i = steps; i < list.length; i += 7) {
        const x = Float32Array.from(list.slice(i - steps, i).flatMap((r) => r.value))
        const expected = model.predict(x, { steps, batch: 1 })
        expect(list[i]!.forecast[0]).toBeCloseTo(expected[0]!, 5)
        expect(list[i]!.forecast[1]).toBeCloseTo(expected[1]!, 5)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(20)
    model.close()
  })

  it("gives each row's label (the window's max) whatever the features", () => {
    const batch = { timestamps: Float64Array.of(1, 2, 12, 15, 31), values: Float64Array.of(1, 2, 3, 4, 5), labels: Uint8Array.of(0, 1, 0, 0, 1), now: 0 }
    for (const aggregates of [['mean'], ['max', 'mean'], ['min', 'count']] as const) {
      const pipeline = new Pipeline({ window: { size: 10 }, labels: true, features: { aggregates } })
      const first = pipeline.process(batch)
      const last = pipeline.finish()
      expect(Array.from(first.label!)).toEqual([1, 0])
      expect(Array.from(last.label!)).toEqual([NaN, 1]) // [20, 30) is forward-filled: no label
      expect(first.values.length).toBe(2 * aggregates.length)
      pipeline.close()
    }
  })

  it('anomaly: false keeps the forecasts and turns the built-in score off', async () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 6, outputSize: 1, seed: 9 })
    const batches = stream(23, { stragglers: 0 })
    const scored = await collect(basic({ forecaster: { model, steps: 2 } }), batches)
    const plain = await collect(basic({ forecaster: { model, steps: 2 }, anomaly: false }), batches)
    let forecasts = 0
    plain.forEach((r, b) => {
      expect(r.forecast).toEqual(scored[b]!.forecast)
      expect(r.score.every((s) => Number.isNaN(s))).toBe(true)
      expect(r.flagged.every((f) => f === 0)).toBe(true)
      forecasts += r.forecast.filter((f) => !Number.isNaN(f)).length
    })
    expect(forecasts).toBeGreaterThan(100)
    expect(scored.some((r) => r.score.some((s) => !Number.isNaN(s)))).toBe(true)
    model.close()
  })
})

describe('Pipeline native pass', () => {
  it('processAsync works on copies of the batch: changing its arrays right after the call changes nothing', async () => {
    const batches = stream(24)
    const expected = batches.map((b) => ({ ...b, timestamps: b.timestamps.slice(), keys: b.keys!.slice(), values: b.values.slice() }))
    const sync = basic(), async = basic()
    for (let i = 0; i < 60; i++) {
      const want = sync.process(expected[i]!)
      const b = batches[i]!
      const pending = async.processAsync(b)
      b.timestamps.fill(NaN)
      b.keys!.fill(99)
      b.values.fill(-1)
      expect(await pending).toEqual(want)
    }
  })

  it('advanceToAsync and finishAsync give the results of advanceTo and finish (state mode)', async () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 6, outputSize: 1, seed: 10 })
    const make = () => basic({ forecaster: { model, mode: 'state' } })
    const sync = make(), async = make()
    const batches = stream(27, { stragglers: 0 })
    let rows = 0
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!
      expect(await async.processAsync(b)).toEqual(sync.process(b))
      if (i % 10 === 9) {
        const watermark = b.timestamps[0]! - 5
        const expected = sync.advanceTo(watermark)
        rows += expected.length
        expect(await async.advanceToAsync(watermark)).toEqual(expected)
      }
    }
    const last = sync.finish()
    expect(await async.finishAsync()).toEqual(last)
    expect(last.final).toBe(true)
    expect(rows + last.length).toBeGreaterThan(0)
    await expect(async.finishAsync()).rejects.toMatchObject({ code: 'ERR_INVALID_STATE', message: /finished/ })
    model.close()
  })

  it('takes columns over SharedArrayBuffers, with the same results', async () => {
    const shared = <T extends Float64Array | Uint32Array>(array: T): T => {
      const copy = new (array.constructor as new (buffer: SharedArrayBuffer) => T)(new SharedArrayBuffer(array.byteLength))
      copy.set(array as never)
      return copy
    }
    const batches = stream(26)
    const expected = await collect(basic(), batches)
    const got = await collect(basic(), batches.map((b) => ({ ...b, timestamps: shared(b.timestamps), keys: shared(b.keys!), values: shared(b.values as Float64Array) })))
    expect(got).toEqual(expected)
  })

  it('refuses a snapshot of a pipeline with other features, naming the field, and changes nothing', () => {
    const first = basic({ features: { aggregates: ['mean', 'max'] } })
    for (const batch of stream(25).slice(0, 20)) first.process(batch)
    const second = basic()
    expectSluiceError(() => second.restore(first.snapshot()), 'ERR_MALFORMED_DATA', /another shape \(features\.aggregates\)/)
    const third = basic({ keyCount: 4 })
    expectSluiceError(() => third.restore(basic().snapshot()), 'ERR_MALFORMED_DATA', /another shape \(keyCount\)/)
    expect(second.metrics().events).toBe(0)
  })
})

describe('Pipeline bad input', () => {
  it('refuses bad options with SluiceError codes', () => {
    expectSluiceError(() => new Pipeline(null as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new Pipeline({ window: { size: 0 } }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new Pipeline({ window: { size: 10, slide: 20 } }), 'ERR_OUT_OF_RANGE')
    const model = LstmModel.create({ inputSize: 2, hiddenSize: 4, outputSize: 2 })
    expectSluiceError(() => new Pipeline({ channels: 1, window: { size: 10 }, forecaster: { model } }), 'ERR_INVALID_ARGUMENT', /inputSize/)
    expectSluiceError(() => new Pipeline({ channels: 2, window: { size: 10 }, forecaster: { model, mode: 'x' as never } }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new Pipeline({ window: { size: 10 }, anomaly: { threshold: -1 } }), 'ERR_OUT_OF_RANGE')
  })

  it('refuses bad batches before anything changes, and keeps working', () => {
    const pipeline = new Pipeline({ inputs: 2, keyCount: 2, channels: 2, window: { size: 10 }, labels: true })
    const ok = { timestamps: Float64Array.of(1), keys: Uint32Array.of(1), values: Float64Array.of(1, 2), labels: Uint8Array.of(0), now: 0 }
    expectSluiceError(() => pipeline.process({ ...ok, input: 2 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => pipeline.process({ ...ok, timestamps: [1] as never }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => pipeline.process({ ...ok, timestamps: Float64Array.of(NaN) }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => pipeline.process({ ...ok, keys: Uint32Array.of(2) }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => pipeline.process({ ...ok, values: Float64Array.of(1) }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => pipeline.process({ ...ok, labels: undefined }), 'ERR_INVALID_ARGUMENT', /labels/)
    expectSluiceError(() => pipeline.process({ ...ok, now: Infinity }), 'ERR_INVALID_ARGUMENT')
    expect(pipeline.metrics().events).toBe(0)
    expect(pipeline.metrics().batchesIn).toBe(0)
    pipeline.process(ok)
    expect(pipeline.finish().length).toBe(1)
    expectSluiceError(() => pipeline.process(ok), 'ERR_INVALID_STATE', /finished/)
    pipeline.close()
    expectSluiceError(() => pipeline.snapshot(), 'ERR_INVALID_STATE', /closed/)
  })

  it('refuses a batch beyond the windows horizon without counting it', () => {
    const pipeline = new Pipeline({ window: { size: 10 } })
    pipeline.process({ timestamps: Float64Array.of(1), values: Float64Array.of(1), now: 0 })
    // A far timestamp alone is fine; 1000 windows holding data at once are more than the ring (size + horizon) holds.
    const spread = Float64Array.from({ length: 1000 }, (_, i) => 1e6 + 10 * i)
    const error = expectSluiceError(() => pipeline.process({ timestamps: spread, values: new Float64Array(1000), now: 0 }), 'ERR_OUT_OF_RANGE')
    expect(error).toBeInstanceOf(SluiceError)
    expect(pipeline.metrics().events).toBe(1)
  })

  it('refuses a source that is not iterable', async () => {
    const pipeline = new Pipeline({ window: { size: 10 } })
    await expect(pipeline.run(42 as never).next()).rejects.toMatchObject({ code: 'ERR_INVALID_TYPE' })
  })
})
