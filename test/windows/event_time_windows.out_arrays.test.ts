// Caller-provided `out` arrays for advanceWatermark()/advance()/flush() are checked against what would fire
// BEFORE anything fires: too small → ERR_INVALID_LENGTH with watermark, metrics and windows untouched, and the
// same call with big enough arrays then gives exactly what an untouched twin (fed identically) gives.
// Random streams cover allowed-lateness updates and refires, session merges, many keys, ignored watermarks,
// Two-Stacks sliding windows and watermark jumps.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, type EventTimeWindowsOptions, type FiredWindows, type FiredWindowsOut } from '../../lib/index'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

const FIELDS = ['key', 'start', 'end', 'count', 'updated', 'values'] as const

function outArrays(windows: number, perWindow: number, short?: (typeof FIELDS)[number]): FiredWindowsOut {
  const n = (field: string) => (field === 'values' ? windows * perWindow : windows) - (field === short ? 1 : 0)
  return {
    key: new Uint32Array(n('key')),
    start: new Float64Array(n('start')),
    end: new Float64Array(n('end')),
    count: new Float64Array(n('count')),
    updated: new Uint8Array(n('updated')),
    values: new Float64Array(n('values')),
  }
}

function plain(f: FiredWindows) {
  return { length: f.length, key: Array.from(f.key), start: Array.from(f.start), end: Array.from(f.end), count: Array.from(f.count), updated: Array.from(f.updated), values: Array.from(f.values) }
}

const coverage = { checked: 0, updates: 0, flushes: 0 }

function runCase(seed: number, type: 'tumbling' | 'sliding' | 'session', manyPanes: boolean): void {
  const r = rng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const size = manyPanes ? int(17, 60) : int(1, 25)
  const slide = type === 'sliding' ? (manyPanes ? int(1, Math.max(1, Math.floor(size / 17))) : int(1, size)) : size
  const options: EventTimeWindowsOptions = {
    type, size, slide, gap: int(1, 20), allowedLateness: r() < 0.3 ? 0 : int(1, 40), keyCount: int(1, 40), channels: int(1, 2),
    aggregates: r() < 0.5 ? ['count', 'max'] : ['sum', 'first', 'var'], horizon: 4000,
  }
  const label = `seed ${seed} ${JSON.stringify(options)}`
  const engine = new EventTimeWindows(options), twin = new EventTimeWindows(options)
  const perWindow = engine.valuesPerWindow
  let clock = 0, maxSeen = 0
  const fire = (call: (w: EventTimeWindows, out?: FiredWindowsOut) => FiredWindows, what: string) => {
    const expected = plain(call(twin))
    const n = expected.length
    const before = { watermark: engine.watermark, metrics: engine.metrics() }
    if (n > 0) {
      const short = FIELDS[int(0, FIELDS.length - 1)]
      expectSluiceError(() => call(engine, outArrays(n, perWindow, short)), 'ERR_INVALID_LENGTH', new RegExp(`out\\.${short}`))
      expect({ watermark: engine.watermark, metrics: engine.metrics() }, `${label} ${what}: state after a failed call`).toEqual(before)
      coverage.checked++
    }
    const exact = call(engine, outArrays(n, perWindow))
    expect(plain(exact), `${label} ${what}`).toEqual(expected)
    expect(engine.metrics(), `${label} ${what}: metrics`).toEqual(twin.metrics())
    if (expected.updated.some((u) => u === 1)) coverage.updates++
  }
  for (let b = 0; b < int(4, 14); b++) {
    const n = int(0, 50)
    const timestamps = new Float64Array(n), keys = new Uint32Array(n), values = new Float64Array(n * options.channels!)
    for (let i = 0; i < n; i++) {
      clock += int(0, 4)
      timestamps[i] = r() < 0.3 ? clock - int(0, 60) : clock // out of order, often allowed-late
      keys[i] = int(0, options.keyCount! - 1)
      maxSeen = Math.max(maxSeen, timestamps[i])
    }
    for (let i = 0; i < values.length; i++) values[i] = int(-100, 100)
    expect(Array.from(engine.push({ timestamps, keys, values }).late)).toEqual(Array.from(twin.push({ timestamps, keys, values }).late))
    const choice = r()
    const wm = choice < 0.1 ? maxSeen - 100 : choice < 0.15 ? maxSeen + 500 : maxSeen - int(0, 10)
    if (r() < 0.5) fire((w, out) => w.advanceWatermark(wm, out), `advanceWatermark(${wm})`)
    else fire((w, out) => w.advance(wm, out), `advance(${wm})`)
  }
  fire((w, out) => w.flush(out), 'flush')
  coverage.flushes++
  engine.close()
  twin.close()
}

describe('EventTimeWindows out arrays are checked before anything fires', () => {
  const cases = [['tumbling', false], ['sliding', false], ['sliding', true], ['session', false]] as const
  for (const [type, manyPanes] of cases) {
    it(`${type}${manyPanes ? ' (Two-Stacks)' : ''}: too small → ERR_INVALID_LENGTH, nothing changes, then exactly the twin's windows`, () => {
      for (const key of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[key] = 0
      for (let seed = 1; seed <= 80; seed++) runCase(seed * 3571 + type.length + (manyPanes ? 7 : 0), type, manyPanes)
      for (const [what, count] of Object.entries(coverage)) expect(count, what).toBeGreaterThan(10)
    })
  }

  it('lastFired() still gives the previous windows after a refused advance', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keyCount: 4, aggregates: ['count'] })
    w.push({ timestamps: new Float64Array([1, 2, 15]), keys: new Uint32Array([0, 1, 2]), values: new Float64Array(3) })
    expect(Array.from(w.advanceWatermark(9).key)).toEqual([0, 1])
    expectSluiceError(() => w.flush({ key: new Uint32Array(0) }), 'ERR_INVALID_LENGTH')
    expect(Array.from(w.lastFired().key)).toEqual([0, 1])
    expect(w.watermark).toBe(9)
    expect(Array.from(w.flush({ key: new Uint32Array(1) }).key)).toEqual([2])
  })
})
