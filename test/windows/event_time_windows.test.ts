// EventTimeWindows: API behaviour, outputs, NaN policy, snapshots, and every bad input (SluiceError with a
// stable code before any state changes; the object keeps working).
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, SluiceError, WatermarkTracker, type EventTimeWindowsOptions } from '../../lib/index'
import { expectSluiceError, repoRoot } from '../helpers'
import { mulberry32 } from '../../lib/runtime/random'

const f64 = (xs: number[]) => new Float64Array(xs)
const u32 = (xs: number[]) => new Uint32Array(xs)
const tumbling = (extra: Partial<EventTimeWindowsOptions> = {}) =>
  new EventTimeWindows({ type: 'tumbling', size: 10, keyCount: 4, aggregates: ['count', 'sum', 'min', 'max', 'mean', 'var', 'std', 'first', 'last'], ...extra })

describe('EventTimeWindows', () => {
  it('lays values out as [window][channel][aggregate] with the aggregates of aggregates.h', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keyCount: 2, channels: 2, aggregates: ['sum', 'max', 'first', 'last'] })
    w.push({ timestamps: f64([3, 1, 2, 12]), keys: u32([1, 1, 0, 1]), values: f64([1, 10, 2, 20, 3, 30, 4, 40]) })
    const f = w.flush()
    expect(Array.from(f.key)).toEqual([0, 1, 1])
    expect(Array.from(f.start)).toEqual([0, 0, 10])
    expect(Array.from(f.end)).toEqual([10, 10, 20])
    expect(Array.from(f.count)).toEqual([1, 2, 1])
    // key 1 in [0, 10): events at t=3 (1, 10) and t=1 (2, 20): first/last follow the timestamps
    expect(Array.from(f.values.subarray(8, 16))).toEqual([3, 2, 2, 1, 30, 20, 20, 10])
    expect(Array.from(f.values.subarray(0, 8))).toEqual([3, 3, 3, 3, 30, 30, 30, 30])
    expect(w.valuesPerWindow).toBe(8)
  })

  it('follows the NaN policy: NaN is missing; the count column still counts the event', () => {
    const w = tumbling()
    w.push({ timestamps: f64([1, 2]), keys: u32([0, 0]), values: f64([NaN, NaN]) })
    w.push({ timestamps: f64([11, 12, 13]), keys: u32([0, 0, 0]), values: f64([NaN, 4, NaN]) })
    const f = w.flush()
    expect(Array.from(f.count)).toEqual([2, 3])
    expect(Array.from(f.values.subarray(0, 9))).toEqual([0, 0, NaN, NaN, NaN, NaN, NaN, NaN, NaN])
    expect(Array.from(f.values.subarray(9, 18))).toEqual([1, 4, 4, 4, 4, NaN, NaN, 4, 4])
  })

  it('accepts Float32Array values and no keys (all key 0)', () => {
    const w = new EventTimeWindows({ type: 'sliding', size: 4, slide: 2, aggregates: ['sum'] })
    w.push({ timestamps: f64([0, 1, 2, 3]), values: new Float32Array([0.5, 1.5, 2.5, 3.5]) })
    const f = w.flush()
    expect(Array.from(f.end)).toEqual([2, 4, 6])
    expect(Array.from(f.values)).toEqual([2, 8, 6])
    expect(Array.from(f.key)).toEqual([0, 0, 0])
  })

  it('writes into caller arrays and returns views of exactly the fired length', () => {
    const w = tumbling({ aggregates: ['count'] })
    w.push({ timestamps: f64([1, 2, 15]), keys: u32([0, 3, 3]), values: f64([1, 2, 3]) })
    const out = { key: new Uint32Array(8), start: new Float64Array(8), end: new Float64Array(8), count: new Float64Array(8), updated: new Uint8Array(8), values: new Float64Array(8) }
    const f = w.advanceWatermark(9, out)
    expect(f.length).toBe(2)
    expect(f.key.buffer).toBe(out.key.buffer)
    expect(f.values.buffer).toBe(out.values.buffer)
    expect(Array.from(out.key.subarray(0, 2))).toEqual([0, 3])
    expect(f.key.length).toBe(2)
  })

  it('advance(time) is advanceWatermark(time): a window [start, end) closes when time ≥ end − 1', () => {
    const w = tumbling({ aggregates: ['count'] })
    w.push({ timestamps: f64([0, 9, 10]), keys: u32([0, 0, 0]), values: f64([1, 1, 1]) })
    expect(w.advance(8).length).toBe(0)
    const f = w.advance(9)
    expect([f.length, f.end[0], f.count[0]]).toEqual([1, 10, 2])
  })

  it('a huge watermark fires everything, like flush(), and later events are late', () => {
    for (const type of ['tumbling', 'sliding', 'session'] as const) {
      const w = new EventTimeWindows({ type, size: 10, slide: 5, gap: 3, aggregates: ['count'] })
      w.push({ timestamps: f64([-7, 1, 12, 40]), values: f64([1, 1, 1, 1]) })
      const f = w.advanceWatermark(1e300)
      expect(Array.from(f.count).reduce((a, b) => a + b, 0)).toBe(type === 'sliding' ? 8 : 4)
      expect(w.watermark).toBe(1e300)
      expect(Array.from(w.push({ timestamps: f64([2 ** 52]), values: f64([1]) }).late)).toEqual([0])
      expect(w.flush().length).toBe(0)
    }
  })

  it('takes the watermark of an attached tracker', () => {
    let now = 0
    const tracker = new WatermarkTracker({ inputs: 2, bound: 5, clock: () => now })
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, aggregates: ['count'], tracker })
    const batch = f64([1, 3, 12, 20])
    w.push({ timestamps: batch, values: f64([1, 1, 1, 1]) })
    tracker.observe(0, batch)
    expect(w.advanceWatermark().length).toBe(0) // input 1 has no watermark yet
    tracker.observe(1, f64([30]))
    expect(w.advanceWatermark().length).toBe(1) // min(20, 30) − 5 − 1 = 14 ≥ 9
    expect(w.watermark).toBe(14)
    now = 1
    tracker.markIdle(0)
    expect(w.advanceWatermark().length).toBe(1) // 30 − 6 = 24 ≥ 19
  })

  it('snapshot/restore carries the watermark, metrics and pending updates', () => {
    const a = tumbling({ allowedLateness: 100 })
    a.push({ timestamps: f64([1, 2, 25]), keys: u32([1, 2, 1]), values: f64([1, 2, 3]) })
    a.advanceWatermark(12)
    a.push({ timestamps: f64([5]), keys: u32([1]), values: f64([4]) }) // pending update of [0, 10)
    const b = tumbling({ allowedLateness: 100 })
    b.restore(a.snapshot())
    expect(b.watermark).toBe(12)
    expect(b.metrics()).toEqual(a.metrics())
    const fa = a.flush(), fb = b.flush()
    expect(Array.from(fb.updated)).toEqual([1, 0])
    expect([Array.from(fb.key), Array.from(fb.values)]).toEqual([Array.from(fa.key), Array.from(fa.values)])
  })

  it('runs in several worker threads at once, each with its own engines', async () => {
    const source = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { EventTimeWindows, WatermarkTracker } = require(${JSON.stringify(path.join(repoRoot, 'dist'))})
      const tracker = new WatermarkTracker({ bound: 0, clock: () => 0 })
      const w = new EventTimeWindows({ type: 'tumbling', size: 10, aggregates: ['sum'], tracker })
      const ts = new Float64Array([1, 2, 3, 25])
      w.push({ timestamps: ts, values: new Float64Array([workerData, workerData, workerData, 1]) })
      tracker.observe(0, ts)
      const f = w.advanceWatermark()
      parentPort.postMessage({ sum: f.values[0], length: f.length })`
    const results = await Promise.all([1, 2, 3].map((x) => new Promise<{ sum: number; length: number }>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: x })
      worker.once('message', resolve)
      worker.once('error', reject)
    })))
    expect(results).toEqual([{ sum: 3, length: 1 }, { sum: 6, length: 1 }, { sum: 9, length: 1 }]) // watermark 24: only [0, 10)
  })

  it('close() releases the engine; later calls are ERR_INVALID_STATE', () => {
    const w = tumbling()
    w.close()
    w.close()
    expectSluiceError(() => w.push({ timestamps: f64([1]), values: f64([1]) }), 'ERR_INVALID_STATE')
    expectSluiceError(() => w.advanceWatermark(1), 'ERR_INVALID_STATE')
    expectSluiceError(() => w.snapshot(), 'ERR_INVALID_STATE')
  })

  it('reports its ring, and memory that follows the live cells rather than the ring', () => {
    const w = new EventTimeWindows({ type: 'sliding', size: 60, slide: 10, keyCount: 1000, aggregates: ['count'] })
    expect(w.info().ringPanes).toBe(32) // (size 60 + lateness 0 + horizon 4·60) / pane 10 + 1 = 31, rounded up to a power of two
    // A ring of 2^14 panes and 1000 keys: a per-key slot table would hold 2^14 × 4 bytes per key (64 MB);
    // beyond 16 MiB the windows keep a hash table per live pane instead, sized by its cells.
    const wide = new EventTimeWindows({ type: 'sliding', size: 60, slide: 10, keyCount: 1000, aggregates: ['count'], horizon: 160_000 })
    expect(wide.info().ringPanes).toBe(2 ** 14)
    const keys = Uint32Array.from({ length: 1000 }, (_, i) => i)
    for (const x of [w, wide]) x.push({ timestamps: new Float64Array(1000).fill(5), keys, values: new Float64Array(1000).fill(1) })
    for (const x of [w, wide]) expect(x.info().memoryBytes).toBeGreaterThanOrEqual(1000 * 64) // one 64-byte cell per (key, pane)
    expect(w.info().memoryBytes).toBeLessThan(1000 * 300) // + 32 × 4 bytes per key of slot table
    expect(wide.info().memoryBytes).toBeLessThan(2 ** 14 * 200 + 1000 * 200) // ring bookkeeping + the cells
    expect(wide.flush().length).toBe(6000) // each key in the 6 windows over its pane
    w.close()
    wide.close()
  })
  it('gives the same windows when its key → cell index switches to per-pane hash tables as keys grow', () => {
    // A ring of 2^14 panes: the direct [slot][key] table passes its 16 MiB budget at 512 keys, so the growing
    // windows rebuild their index as hash tables from the live cells midway; a small ring with a fixed key
    // count (direct throughout) must fire the same windows.
    const common = { type: 'sliding', size: 60, slide: 20, allowedLateness: 40, aggregates: ['count', 'sum', 'min', 'max', 'first'] } as const
    const growing = new EventTimeWindows({ ...common, horizon: 300_000, maxKeys: 4096 })
    const fixed = new EventTimeWindows({ ...common, keyCount: 4096 })
    expect(growing.info().ringPanes).toBe(2 ** 14)
    const r = mulberry32(5)
    let clock = 0
    const out: [unknown, unknown][] = []
    for (let b = 0; b < 40; b++) {
      const n = 200
      const timestamps = new Float64Array(n), keys = new Uint32Array(n), values = new Float64Array(n)
      const reach = Math.min(4096, 16 + b * 100) // new, higher ids in every batch
      for (let i = 0; i < n; i++) {
        clock += r() < 0.5 ? 1 : 0
        timestamps[i] = r() < 0.2 ? clock - Math.floor(r() * 80) : clock // some late, some too late
        keys[i] = Math.floor(r() * reach)
        values[i] = Math.round((r() - 0.5) * 100)
      }
      const a = growing.push({ timestamps, keys, values }), c = fixed.push({ timestamps, keys, values })
      expect(Array.from(a.late)).toEqual(Array.from(c.late))
      const wm = clock - 10
      out.push([growing.advanceWatermark(wm), fixed.advanceWatermark(wm)])
    }
    out.push([growing.flush(), fixed.flush()])
    let fired = 0
    for (const [a, c] of out) {
      const pick = (f: any) => ({ key: Array.from(f.key), end: Array.from(f.end), count: Array.from(f.count), values: Array.from(f.values) })
      expect(pick(a)).toEqual(pick(c))
      fired += (a as any).length
    }
    expect(fired).toBeGreaterThan(1000)
    expect(growing.info().keyCapacity).toBeGreaterThan(512)
    growing.close()
    fixed.close()
  })
})

describe('EventTimeWindows bad input', () => {
  it('rejects invalid options with stable codes', () => {
    const cases: [unknown, string][] = [
      [undefined, 'ERR_INVALID_TYPE'],
      [{ type: 'hopping', size: 10 }, 'ERR_INVALID_ARGUMENT'],
      [{ type: 'tumbling' }, 'ERR_INVALID_TYPE'],
      [{ type: 'tumbling', size: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'tumbling', size: 1.5 }, 'ERR_INVALID_TYPE'],
      [{ type: 'tumbling', size: 2 ** 41 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'sliding', size: 10, slide: 20 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'sliding', size: 10 }, 'ERR_INVALID_TYPE'],
      [{ type: 'tumbling', size: 10, offset: 10 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'session', gap: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'session', gap: 5, allowedLateness: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'tumbling', size: 10, keyCount: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'tumbling', size: 10, channels: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ type: 'tumbling', size: 10, aggregates: [] }, 'ERR_INVALID_ARGUMENT'],
      [{ type: 'tumbling', size: 10, aggregates: ['median'] }, 'ERR_INVALID_ARGUMENT'],
      [{ type: 'tumbling', size: 10, tracker: {} }, 'ERR_INVALID_TYPE'],
      [{ type: 'tumbling', size: 1, horizon: 2 ** 21 }, 'ERR_OUT_OF_RANGE'],
    ]
    for (const [options, code] of cases) {
      const error = expectSluiceError(() => new EventTimeWindows(options as EventTimeWindowsOptions), code as SluiceError['code'])
      expect(error).toBeInstanceOf(SluiceError)
    }
  })

  it('rejects bad batches before any state changes', () => {
    const w = tumbling({ aggregates: ['count'] })
    w.push({ timestamps: f64([1]), keys: u32([0]), values: f64([1]) })
    const good = f64([2, 3])
    expectSluiceError(() => w.push({ timestamps: [2, 3] as unknown as Float64Array, values: f64([1, 1]) }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push({ timestamps: good, keys: new Int32Array(2) as unknown as Uint32Array, values: f64([1, 1]) }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.push({ timestamps: good, keys: u32([0]), values: f64([1, 1]) }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => w.push({ timestamps: good, keys: u32([0, 0]), values: f64([1]) }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => w.push({ timestamps: f64([2, NaN]), keys: u32([0, 0]), values: f64([1, 1]) }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.push({ timestamps: f64([2, Infinity]), keys: u32([0, 0]), values: f64([1, 1]) }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.push({ timestamps: f64([2, 2 ** 53]), keys: u32([0, 0]), values: f64([1, 1]) }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => w.push({ timestamps: good, keys: u32([0, 4]), values: f64([1, 1]) }), 'ERR_OUT_OF_RANGE')
    // More distinct live panes than the ring holds (a pause alone is fine: see event_time_windows.gaps.test.ts).
    const panes = w.info().ringPanes
    const spread = f64(Array.from({ length: panes }, (_, i) => 100 * (i + 1)))
    expectSluiceError(() => w.push({ timestamps: spread, values: new Float64Array(panes) }), 'ERR_OUT_OF_RANGE', /horizon/)
    expectSluiceError(() => w.push({ timestamps: good, values: f64([1, 1]) }, { late: new Uint32Array(1) }), 'ERR_INVALID_LENGTH')
    expect(w.metrics()).toEqual({ onTime: 1, updating: 0, late: 0, firedWindows: 0, updateFirings: 0, ignoredWatermarks: 0 })
    const f = w.flush() // only the first event ever got in
    expect([f.length, f.count[0]]).toEqual([1, 1])
  })

  it('rejects bad watermarks and outputs', () => {
    const w = tumbling()
    expectSluiceError(() => w.advanceWatermark(NaN), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.advanceWatermark(Infinity), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.advanceWatermark('5' as unknown as number), 'ERR_INVALID_TYPE')
    expectSluiceError(() => w.advanceWatermark(), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.advance(-Infinity), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.advanceWatermark(5, { key: new Float64Array(4) as unknown as Uint32Array }), 'ERR_INVALID_TYPE')
    expect(w.watermark).toBe(-Infinity)
    w.push({ timestamps: f64([1, 2]), keys: u32([0, 1]), values: f64([1, 1]) })
    // Too small caller arrays: refused before anything fires (see event_time_windows.out_arrays.test.ts).
    expectSluiceError(() => w.advanceWatermark(9, { key: new Uint32Array(1) }), 'ERR_INVALID_LENGTH')
    expect(w.watermark).toBe(-Infinity)
    expect(Array.from(w.advanceWatermark(9, { key: new Uint32Array(2) }).key)).toEqual([0, 1])
  })

  it('rejects malformed or foreign snapshots and keeps its state', () => {
    const w = tumbling({ allowedLateness: 5 })
    w.push({ timestamps: f64([1]), keys: u32([2]), values: f64([7]) })
    const bytes = w.snapshot()
    expectSluiceError(() => w.restore(bytes.subarray(0, bytes.length - 3)), 'ERR_MALFORMED_DATA')
    const corrupt = bytes.slice()
    corrupt[30] ^= 0xff
    expectSluiceError(() => w.restore(corrupt), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => w.restore(new WatermarkTracker().snapshot()), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => tumbling({ allowedLateness: 6 }).restore(bytes), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => w.restore([1, 2] as unknown as Uint8Array), 'ERR_INVALID_TYPE')
    const f = w.flush()
    expect([f.length, f.key[0], f.values[1]]).toEqual([1, 2, 7])
  })
})
