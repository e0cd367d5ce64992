// Property tests: the native EventTimeWindows against a naive recomputation (test/reference) for random
// window kinds, sizes, slides, gaps, offsets, lateness, channels, key counts, value shapes (constant, rising,
// falling, random, NaN-bearing), out-of-order streams, watermarks that go back, and snapshot/restore midway.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows } from '../../lib/index'
import { ReferenceWindows } from '../reference/event_time_reference'
import { mulberry32 as rng } from '../../lib/runtime/random'
import { compareFired } from '../support/fired_windows'
import { randomWindows } from '../support/random_windows'

type Shape = 'constant' | 'rising' | 'falling' | 'random' | 'nan'

const coverage = { windows: 0, updates: 0, late: 0, updating: 0, ignored: 0, restores: 0 }

function runCase(seed: number, type: 'tumbling' | 'sliding' | 'session', manyPanes = false): void {
  const r = rng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const channels = int(1, 3)
  // Mostly a few dense keys; sometimes a large key space with a handful of keys in use (the engine then
  // sorts panes by key instead of walking their slot rows).
  const sparse = r() < 0.25
  const keyCount = sparse ? int(500, 3000) : int(1, 6) // keyCount × ring panes × 4 bytes stays below 50 MB
  const usedKeys = sparse ? Array.from({ length: int(1, 8) }, () => int(0, keyCount - 1)) : [...Array(keyCount).keys()]
  // 40% of cases ask only for count/sum/mean/min/max (the engine's lean accumulator), the rest for anything.
  // manyPanes: more than 16 panes per window, where the engine switches from pane merging to Two-Stacks.
  const { aggregates, size, slide, offset, gap, allowedLateness } = randomWindows(r, type, manyPanes, {
    leanShare: 0.4, fallback: 'mean', size: [1, 40], manyPanesSize: [17, 90], noLatenessShare: 0.5, maxLateness: () => 60,
  })
  const bound = int(0, 30)
  const shape: Shape = (['constant', 'rising', 'falling', 'random', 'nan'] as const)[int(0, 4)]
  const float32 = r() < 0.25
  const batches = int(1, 12)
  // The whole stream fits in the ring: horizon covers its time range.
  const t0 = int(-500, 500)
  const horizon = 2000
  const options = { type, size, slide, gap, offset, allowedLateness, keyCount, channels, aggregates, horizon }
  const label = `seed ${seed} ${JSON.stringify({ ...options, bound, shape, float32 })}`
  let engine = new EventTimeWindows(options)
  const reference = new ReferenceWindows({ type, size, slide, gap, offset, allowedLateness, channels, aggregates })
  const perWindow = channels * aggregates.length
  let clock = t0, maxSeen = -Infinity, counter = 0
  for (let b = 0; b < batches; b++) {
    const n = int(0, 40)
    const timestamps = new Float64Array(n)
    const keys = new Uint32Array(n)
    const values = float32 ? new Float32Array(n * channels) : new Float64Array(n * channels)
    for (let i = 0; i < n; i++) {
      clock += int(0, 6)
      // 30% of events out of order: up to the bound, sometimes beyond it (late)
      timestamps[i] = r() < 0.3 ? clock - int(0, r() < 0.8 ? bound : bound + 60) : clock
      keys[i] = usedKeys[int(0, usedKeys.length - 1)]
      for (let c = 0; c < channels; c++) {
        counter++
        values[i * channels + c] =
          shape === 'constant' ? 7.25 : shape === 'rising' ? counter * 0.5 : shape === 'falling' ? 1000 - counter * 1.5
          : shape === 'nan' && r() < 0.3 ? NaN : (r() - 0.5) * 100
      }
      maxSeen = Math.max(maxSeen, timestamps[i])
    }
    const { late } = engine.push({ timestamps, keys, values })
    expect(Array.from(late), `${label}: late indices in batch ${b}`).toEqual(reference.push(timestamps, keys, values))
    // Watermark: bounded out-of-orderness, sometimes one that goes back (ignored), sometimes none.
    const choice = r()
    if (choice < 0.75 && maxSeen > -Infinity) {
      const wm = choice < 0.1 ? maxSeen - bound - 1 - int(50, 100) : maxSeen - bound - 1
      compareFired(engine.advanceWatermark(wm), reference.advance(wm), perWindow, `${label} advance ${wm}`)
    }
    if (r() < 0.2) {
      // Snapshot, continue in a fresh instance: must be as if never stopped.
      const bytes = engine.snapshot()
      engine.close()
      engine = new EventTimeWindows(options)
      engine.restore(bytes)
      coverage.restores++
    }
  }
  compareFired(engine.flush(), reference.flush(), perWindow, `${label} flush`)
  const metrics = engine.metrics()
  expect(metrics, `${label}: metrics`).toEqual(reference.metrics)
  coverage.windows += metrics.firedWindows
  coverage.updates += metrics.updateFirings
  coverage.late += metrics.late
  coverage.updating += metrics.updating
  coverage.ignored += metrics.ignoredWatermarks
  engine.close()
}

describe('EventTimeWindows against a naive recomputation', () => {
  for (const type of ['tumbling', 'sliding', 'session'] as const) {
    it(`${type}: random streams, windows, lateness, watermarks and snapshots`, () => {
      for (const key of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[key] = 0
      for (let seed = 1; seed <= 150; seed++) runCase(seed * 7919 + type.length, type)
      // The random cases really reach every path: updates, late events, ignored watermarks, restores.
      for (const [what, count] of Object.entries(coverage)) expect(count, what).toBeGreaterThan(10)
    })
  }

  it('sliding with many panes per window (Two-Stacks): random streams, lateness, watermarks and snapshots', () => {
    for (const key of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[key] = 0
    for (let seed = 1; seed <= 120; seed++) runCase(seed * 104729 + 3, 'sliding', true)
    for (const [what, count] of Object.entries(coverage)) expect(count, what).toBeGreaterThan(3) // wide windows: few late events
  })

  it('gives the same windows whatever the arrival order of events within the bound', () => {
    const r = rng(42)
    const n = 2000
    const timestamps = new Float64Array(n), keys = new Uint32Array(n), values = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      timestamps[i] = i * 3
      keys[i] = i % 7
      values[i] = Math.round((r() - 0.5) * 1000)
    }
    const run = (order: number[]) => {
      const w = new EventTimeWindows({ type: 'sliding', size: 60, slide: 20, keyCount: 7, aggregates: ['count', 'sum', 'min', 'max', 'first', 'last'], horizon: 100000 })
      w.push({ timestamps: new Float64Array(order.map((i) => timestamps[i])), keys: new Uint32Array(order.map((i) => keys[i])), values: new Float64Array(order.map((i) => values[i])) })
      const f = w.flush()
      const out = { key: Array.from(f.key), end: Array.from(f.end), values: Array.from(f.values) }
      w.close()
      return out
    }
    const inOrder = [...Array(n).keys()]
    const shuffled = [...inOrder]
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1))
      ;[shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]]
    }
    expect(run(shuffled)).toEqual(run(inOrder))
  })
})
