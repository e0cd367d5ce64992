// Snapshots with a valid checksum and impossible values (issue 16, class 5): a Pipeline whose z-score fill
// counter exceeded its window looped ~2^32 times per row, a SlidingWindow with more than 2^53 rows failed
// every later push, EventTimeWindows took garbage metrics. Every restore now checks each field against its
// invariants (ERR_MALFORMED_DATA naming the field). The cases are pinned here; the fuzzer
// (scripts/stress-snapshots.js, ≥ 10^5 cases with `node scripts/stress-snapshots.js 15000`) runs a smaller
// set in a child process, so a crash or a hang fails the test instead of killing the runner.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, LstmModel, Pipeline, Scaler, SlidingWindow, WatermarkTracker } from '../../lib/index'
import { expectSluiceError, repoRoot } from '../helpers'
import { ENVELOPE_HEADER as HEADER, withValidCrc } from '../support/snapshot_bytes'

/** A copy of `bytes` with `edit` applied to a DataView of it, resealed. */
function edited(bytes: Uint8Array, edit: (view: DataView, length: number) => void): Uint8Array {
  const copy = Uint8Array.from(bytes)
  edit(new DataView(copy.buffer), copy.length)
  return withValidCrc(copy)
}

describe('restore() refuses CRC-valid snapshots with impossible values, naming the field', () => {
  it('SlidingWindow: more rows than 2^53 (push refuses them too) and channel rows out of range', () => {
    const options = { size: 4, channels: 1, aggregates: ['mean', 'last'] as const }
    const window = new SlidingWindow(options)
    window.push(Float64Array.of(1, 2, 3, 4, 5))
    const bytes = window.snapshot()
    const rowsSeen = HEADER + 8 + 8 + 4 + 1 + 8 + options.aggregates.length + 8 // size, slide, channels, emitPartial, aggregates, no quantiles (format 2)
    expect(new DataView(bytes.buffer, bytes.byteOffset).getBigInt64(rowsSeen, true)).toBe(5n)
    const fresh = new SlidingWindow(options)
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setBigInt64(rowsSeen, 2n ** 53n + 1n, true))), 'ERR_MALFORMED_DATA', /field rowsSeen/)
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setBigInt64(rowsSeen, -1n, true))), 'ERR_MALFORMED_DATA', /field rowsSeen/)
    fresh.restore(edited(bytes, (v) => v.setBigInt64(rowsSeen, 2n ** 53n, true))) // the limit itself: a full stream
    expectSluiceError(() => fresh.push(Float64Array.of(1)), 'ERR_OUT_OF_RANGE', /too many rows/)
    fresh.restore(bytes)
    expect(Array.from(fresh.push(Float64Array.of(6)))).toEqual(Array.from(window.push(Float64Array.of(6))))
  })

  it('EventTimeWindows: metrics that are not counts, or more update firings than firings', () => {
    const options = { type: 'tumbling' as const, size: 10, keyCount: 2, aggregates: ['sum' as const] }
    const windows = new EventTimeWindows(options)
    windows.push({ timestamps: Float64Array.of(1, 2, 15), keys: Uint32Array.of(0, 1, 0), values: Float64Array.of(1, 2, 3) })
    windows.advance(12)
    const bytes = windows.snapshot()
    const watermark = HEADER + 1 + 6 * 8 + 3 * 4 + 1 // kind, durations, keyCount/channels/aggregates, one aggregate
    const metrics = watermark + 8 + 8 // after the watermark and the array's length
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    expect(view.getFloat64(watermark, true)).toBe(12)
    expect(view.getFloat64(metrics, true)).toBe(3) // onTime
    const fresh = new EventTimeWindows(options)
    for (const [index, value, field] of [[0, -1, 'onTime'], [0, 0.5, 'onTime'], [2, NaN, 'late'], [3, Infinity, 'firedWindows'], [4, 5, 'updateFirings']] as const) {
      expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat64(metrics + 8 * index, value, true))), 'ERR_MALFORMED_DATA', new RegExp(`field metrics\\.${field}`))
    }
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat64(watermark, NaN, true))), 'ERR_MALFORMED_DATA', /field watermark/)
    // A watermark past the live panes' cleanup time: they would have been purged.
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat64(watermark, 6.6e132, true))), 'ERR_MALFORMED_DATA', /field panes\[\]\.index/)
    fresh.restore(bytes)
    expect(fresh.metrics()).toEqual(windows.metrics())
  })

  it('WatermarkTracker: a watermark above every input, an aligned idle input', () => {
    const tracker = new WatermarkTracker({ inputs: 2, bound: 0, clock: () => 0 })
    tracker.observe(0, Float64Array.of(100))
    tracker.observe(1, Float64Array.of(50))
    const bytes = tracker.snapshot()
    const combined = HEADER + 4 + 8 + 8
    expect(new DataView(bytes.buffer, bytes.byteOffset).getFloat64(combined, true)).toBe(49)
    const fresh = new WatermarkTracker({ inputs: 2, bound: 0, clock: () => 0 })
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat64(combined, 6.6e132, true))), 'ERR_MALFORMED_DATA', /field (watermark|inputs\[\]\.aligned)/)
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat64(combined, Infinity, true))), 'ERR_MALFORMED_DATA', /field watermark/)
    const firstInput = combined + 8 + 1
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setUint8(firstInput + 16, 1))), 'ERR_MALFORMED_DATA', /field inputs\[\]\.aligned|field idle/)
    fresh.restore(bytes)
    expect(fresh.currentWatermark()).toBe(tracker.currentWatermark())
  })

  it('LstmState: h outside [-1, 1]', () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 3, seed: 2 })
    const state = model.createState({ capacity: 2 })
    state.step(Uint32Array.of(0, 1), Float32Array.of(0.5, -1))
    const bytes = state.snapshot()
    const table = HEADER + 5 * 8 + 8
    const fresh = model.createState({ capacity: 2 })
    expectSluiceError(() => fresh.restore(edited(bytes, (v) => v.setFloat32(table, 2, true))), 'ERR_MALFORMED_DATA', /field h of key 0, layer 0/)
    fresh.restore(bytes)
    expect(Array.from(fresh.step(Uint32Array.of(1), Float32Array.of(0.25)))).toEqual(Array.from(state.step(Uint32Array.of(1), Float32Array.of(0.25))))
  })

  it('states a live object reaches still restore: NaN states after ±Infinity inputs, sums past 1e308', () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 3, layers: 2, seed: 4 })
    const state = model.createState({ capacity: 1 })
    state.step(Uint32Array.of(0), Float32Array.of(-Infinity)) // NaN gates: h, c and the padding lanes turn NaN
    state.restore(state.snapshot())
    // Features of ±1e300: scaled into float's range they give forecasts of ±1e300 or ±Infinity, residuals whose
    // squares pass 1e308 in the z-score's sums, and infinite residuals in its ring.
    const scaler = new Scaler('zscore', [0], [1e200])
    for (const mode of ['state', 'window'] as const) {
      const make = () => new Pipeline({ keyCount: 1, window: { size: 10, horizon: 1000 }, clock: () => 0, anomaly: { window: 6, warmup: 3 },
        forecaster: { model: LstmModel.create({ inputSize: 1, hiddenSize: 4, seed: 4 }), mode, steps: 2, inputScaler: scaler, targetScaler: scaler } })
      const pipeline = make()
      pipeline.process({ timestamps: Float64Array.from({ length: 80 }, (_, i) => i * 3), values: Float64Array.from({ length: 80 }, (_, i) => (i % 2 ? 1e300 : -1e300)) })
      make().restore(pipeline.snapshot())
      const plain = make()
      plain.process({ timestamps: Float64Array.from({ length: 80 }, (_, i) => i * 3), values: Float64Array.from({ length: 80 }, (_, i) => (i % 3) * 1e200) })
      make().restore(plain.snapshot())
    }
  })

  it('Pipeline: a z-score fill counter above its window (the hang) is refused at once', () => {
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 4, seed: 5 })
    const make = () => new Pipeline({ keyCount: 3, window: { size: 10, horizon: 1000 }, clock: () => 0, forecaster: { model, steps: 2 }, anomaly: { window: 6, warmup: 3 } })
    const pipeline = make()
    pipeline.process({ timestamps: Float64Array.from({ length: 60 }, (_, i) => i * 5), keys: Uint32Array.from({ length: 60 }, (_, i) => i % 3),
      values: Float64Array.from({ length: 60 }, (_, i) => Math.sin(i)) })
    const bytes = pipeline.snapshot()
    // The z-score's arrays close the payload: …, fill (u64 length + 3 × u32), shift, s1, s2 (u64 length + 3 × f64 each).
    const fill = (length: number) => length - 4 - 3 * (8 + 3 * 8) - 3 * 4
    expect(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(fill(bytes.length) - 8, true)).toBe(3n)
    const fresh = make()
    const started = performance.now()
    expectSluiceError(() => fresh.restore(edited(bytes, (v, n) => v.setUint32(fill(n), 0xffffffff, true))), 'ERR_MALFORMED_DATA', /zFill\[0\] is above anomaly\.window/)
    expect(performance.now() - started).toBeLessThan(1000)
    fresh.restore(bytes)
  })
})

describe('the semantic snapshot fuzzer (a smaller set; the stress script runs ≥ 10^5 cases)', () => {
  it('every mutated snapshot of every class restores or is refused with a SluiceError, and a restored object works', () => {
    const cases = 400
    const out = execFileSync(process.execPath, ['-e', `
      const { fuzzSnapshots } = require('./scripts/stress-snapshots.js')
      console.log(JSON.stringify(fuzzSnapshots({ cases: ${cases}, seed: 11 })))
    `], { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 })
    const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, { cases: number; accepted: number; refused: Record<string, number>; workedAfter: number; failedAfter: Record<string, number> }>
    expect(Object.keys(report).sort()).toEqual(['event-time-windows (session)', 'event-time-windows (session, sketches)', 'event-time-windows (session, string keys, keyTtl)', 'event-time-windows (sliding)', 'event-time-windows (sliding, sketches)', 'event-time-windows (sliding, string keys, keyTtl)', 'event-time-windows (tumbling)',
      'event-time-windows delta (session)', 'event-time-windows delta (session, string keys, keyTtl)', 'event-time-windows delta (sliding)', 'event-time-windows delta (sliding, string keys, keyTtl)', 'event-time-windows delta (tumbling)', 'lstm-state',
      'pipeline (state)', 'pipeline (state, string keys, keyTtl)', 'pipeline (window)', 'sliding-window', 'sliding-window (quantiles)', 'watermark-tracker'])
    for (const [name, stats] of Object.entries(report)) {
      expect(stats.cases, name).toBe(cases)
      expect(stats.refused.ERR_MALFORMED_DATA, name).toBeGreaterThan(0) // the mutations reach checked fields
      expect(stats.accepted, name).toBeGreaterThan(0) // and fields whose every value is a valid state
      expect(stats.workedAfter + Object.values(stats.failedAfter).reduce((a, b) => a + b, 0), name).toBe(stats.accepted)
      for (const code of [...Object.keys(stats.refused), ...Object.keys(stats.failedAfter)]) expect(code, name).toMatch(/^ERR_[A-Z_]+$/)
    }
  })
})
