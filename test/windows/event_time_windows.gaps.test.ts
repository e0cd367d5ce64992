// Streams that pause and resume, keys that go idle, and watermarks that jump far ahead: with the default
// horizon, the engine must agree with the naive recomputation (test/reference) exactly as Flink would, across
// snapshot/restore, with allowed-late events after a jump. ERR_OUT_OF_RANGE is kept only for a batch that
// would keep more distinct panes alive at once than the ring holds.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows } from '../../lib/index'
import { ReferenceWindows } from '../reference/event_time_reference'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { compareFired } from '../support/fired_windows'
import { randomWindows } from '../support/random_windows'
import { expectSluiceError } from '../helpers'

const coverage = { pauses: 0, jumps: 0, updatesAfterJump: 0, restoresAcrossGap: 0, windows: 0, late: 0 }

function runCase(seed: number, type: 'tumbling' | 'sliding' | 'session', manyPanes: boolean): void {
  const r = rng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const channels = int(1, 2)
  const keyCount = int(1, 6)
  const { aggregates, size, slide, offset, gap, allowedLateness } = randomWindows(r, type, manyPanes, {
    leanShare: 0.5, fallback: 'sum', size: [1, 30], manyPanesSize: [17, 60], noLatenessShare: 0.4, maxLateness: (size) => 3 * size,
  })
  const bound = int(0, Math.max(1, Math.floor(size / 2)))
  const unit = type === 'session' ? gap : size // a pause is 1000 of these
  // The horizon covers two batches (at most 2 × 30 events 3 apart, plus the bound), so the ring spans a few
  // hundred time units at most: far less than the pauses (1000 windows) and jumps (100 to 1000 windows).
  const horizon = 300
  const options = { type, size, slide, gap, offset, allowedLateness, keyCount, channels, aggregates, horizon }
  const label = `seed ${seed} ${JSON.stringify({ ...options, bound })}`
  let engine = new EventTimeWindows(options)
  const reference = new ReferenceWindows({ type, size, slide, gap, offset, allowedLateness, channels, aggregates })
  const perWindow = channels * aggregates.length
  let clock = int(-200, 200), maxSeen = -Infinity, counter = 0
  let awake = Array.from({ length: keyCount }, (_, k) => k) // keys that send in this stretch; others idle
  let afterJump = 0 // batches since a watermark jump: some of their events are allowed-late
  let jumpWatermark = -Infinity
  let skipped = false
  const restore = (why: string) => {
    const bytes = engine.snapshot()
    engine.close()
    engine = new EventTimeWindows(options)
    engine.restore(bytes)
    if (why === 'gap') coverage.restoresAcrossGap++
  }
  const batches = int(8, 20)
  for (let b = 0; b < batches; b++) {
    let paused = false
    if (b > 0 && r() < 0.3) {
      // A pause: event time stands still for 1000 windows (or gaps), then resumes, often with fewer keys.
      clock += 1000 * unit + int(0, unit)
      awake = r() < 0.5 ? awake : Array.from({ length: keyCount }, (_, k) => k).filter(() => r() < 0.6)
      if (awake.length === 0) awake = [int(0, keyCount - 1)]
      paused = true
      coverage.pauses++
    }
    const n = int(1, 30)
    const timestamps = new Float64Array(n), keys = new Uint32Array(n), values = new Float64Array(n * channels)
    for (let i = 0; i < n; i++) {
      clock += int(0, 3)
      let t = r() < 0.25 ? clock - int(0, bound) : clock
      // Right after a watermark jump, some events are late: within allowed lateness (updates) or beyond.
      if (afterJump > 0 && r() < 0.4) t = jumpWatermark - int(0, allowedLateness + size)
      timestamps[i] = t
      keys[i] = awake[int(0, awake.length - 1)]
      for (let c = 0; c < channels; c++) values[i * channels + c] = r() < 0.1 ? NaN : ((++counter * 37) % 101) - 50
      maxSeen = Math.max(maxSeen, t)
    }
    const { late } = engine.push({ timestamps, keys, values })
    expect(Array.from(late), `${label}: late indices in batch ${b}`).toEqual(reference.push(timestamps, keys, values))
    // Across the gap: the old stretch's windows have not fired yet and the new ones are open.
    if (paused && r() < 0.4) restore('gap')
    if (afterJump > 0) afterJump--
    const choice = skipped ? 0.5 : r() // never two batches without a watermark in a row
    skipped = choice >= 0.9
    if (choice < 0.15) {
      // The watermark jumps far ahead of every event (e.g. an idle source's watermark): everything fires.
      const wm = Math.max(maxSeen, engine.watermark) + int(100, 1000) * unit
      compareFired(engine.advanceWatermark(wm), reference.advance(wm), perWindow, `${label} jump to ${wm}`)
      jumpWatermark = wm
      clock = wm + int(0, unit)
      afterJump = 2
      coverage.jumps++
    } else if (choice < 0.9) {
      const wm = maxSeen - bound - 1
      compareFired(engine.advanceWatermark(wm), reference.advance(wm), perWindow, `${label} advance ${wm}`)
    }
    if (r() < 0.15) restore('any')
  }
  compareFired(engine.flush(), reference.flush(), perWindow, `${label} flush`)
  const metrics = engine.metrics()
  expect(metrics, `${label}: metrics`).toEqual(reference.metrics)
  coverage.windows += metrics.firedWindows
  coverage.late += metrics.late
  coverage.updatesAfterJump += jumpWatermark > -Infinity ? metrics.updating : 0
  engine.close()
}

describe('EventTimeWindows across pauses, idle keys and watermark jumps', () => {
  const cases = [
    ['tumbling', false],
    ['sliding', false],
    ['sliding', true],
    ['session', false],
  ] as const
  for (const [type, manyPanes] of cases) {
    it(`${type}${manyPanes ? ' (Two-Stacks)' : ''}: agrees with the naive recomputation`, () => {
      for (const key of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[key] = 0
      for (let seed = 1; seed <= 120; seed++) runCase(seed * 6151 + type.length + (manyPanes ? 1 : 0), type, manyPanes)
      for (const [what, count] of Object.entries(coverage)) expect(count, what).toBeGreaterThan(10)
    })
  }

  it('a sensor silent for hours resumes without errors, in a ring of a few panes', () => {
    const w = new EventTimeWindows({ type: 'sliding', size: 60_000, slide: 10_000, keyCount: 3, aggregates: ['count', 'sum'] })
    const ring = w.info().ringPanes
    const reference = new ReferenceWindows({ type: 'sliding', size: 60_000, slide: 10_000, channels: 1, aggregates: ['count', 'sum'] })
    const pushBoth = (ts: number[], ks: number[]) => {
      const timestamps = new Float64Array(ts), keys = new Uint32Array(ks), values = new Float64Array(ts.map((t) => t % 97))
      expect(Array.from(w.push({ timestamps, keys, values }).late)).toEqual(reference.push(timestamps, keys, values))
    }
    pushBoth([1_000, 15_000, 42_000], [0, 1, 2])
    compareFired(w.advanceWatermark(30_000), reference.advance(30_000), 2, 'before the pause')
    const hours = 5 * 3_600_000 // 1800 windows of slide later: far beyond the ring
    pushBoth([hours + 5, hours + 70_000], [1, 1])
    compareFired(w.advanceWatermark(hours + 1_000), reference.advance(hours + 1_000), 2, 'after the pause')
    pushBoth([hours + 2_000], [0])
    compareFired(w.flush(), reference.flush(), 2, 'flush')
    expect(w.info().ringPanes).toBe(ring) // memory per key stays fixed
  })

  it('rejects only a batch needing more live panes than the ring, before any state changes', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 10, keyCount: 2, aggregates: ['count'] })
    const ring = w.info().ringPanes
    w.push({ timestamps: new Float64Array([1]), keys: new Uint32Array([0]), values: new Float64Array([1]) })
    // ring distinct panes far apart (one is already live): ring − 1 new ones fit, ring new ones do not.
    const spread = (count: number) => new Float64Array(Array.from({ length: count }, (_, i) => 10_000 * (i + 1)))
    const tooMany = spread(ring)
    expectSluiceError(() => w.push({ timestamps: tooMany, keys: new Uint32Array(ring), values: new Float64Array(ring) }), 'ERR_OUT_OF_RANGE', /panes/)
    expect(w.metrics().onTime).toBe(1)
    const fits = spread(ring - 1)
    expect(w.push({ timestamps: fits, keys: new Uint32Array(ring - 1), values: new Float64Array(ring - 1) }).late.length).toBe(0)
    const f = w.flush()
    expect(f.length).toBe(ring)
    expect(Array.from(f.start)).toEqual([0, ...Array.from(fits)])
  })
})
