// Ports the scenarios of Flink's WindowOperatorTest (flink-streaming-java, runtime.operators.windowing):
// tumbling, sliding and session event-time windows with a sum, snapshot/restore in the middle, allowed
// lateness and the late-data side output. Flink's "key1"/"key2" are keys 1 and 2; each record's value is
// summed; Flink emits a result with timestamp end − 1. Flink fires an update for a late element at once;
// sluice fires it at the next advanceWatermark, so these tests call advanceWatermark(currentWatermark) there.
// The default horizon (4·size) is enough: Flink's streams jump by many windows, which costs no ring slots.
import { describe, expect, it } from 'vitest'
import { EventTimeWindows, type EventTimeWindowsOptions } from '../../../lib/index'

type Row = [key: number, sum: number, maxTimestamp: number]

class Harness {
  windows: EventTimeWindows
  late: number[] = [] // timestamps of side-output events
  updates: Row[] = []
  constructor(private readonly options: EventTimeWindowsOptions) {
    this.windows = new EventTimeWindows({ keyCount: 3, aggregates: ['sum'], ...options })
  }
  element(key: number, value: number, timestamp: number): void {
    const { late } = this.windows.push({ timestamps: new Float64Array([timestamp]), keys: new Uint32Array([key]), values: new Float64Array([value]) })
    if (late.length) this.late.push(timestamp)
  }
  watermark(wm: number): Row[] {
    const f = this.windows.advanceWatermark(wm)
    const rows: Row[] = []
    for (let i = 0; i < f.length; i++) {
      const row: Row = [f.key[i], f.values[i], f.end[i] - 1]
      rows.push(row)
      if (f.updated[i]) this.updates.push(row)
    }
    return rows
  }
  sessions(wm: number): [key: number, sum: number, start: number, end: number][] {
    const f = this.windows.advanceWatermark(wm)
    return Array.from({ length: f.length }, (_, i) => [f.key[i], f.values[i], f.start[i], f.end[i]])
  }
  snapshotAndRestore(): void {
    const bytes = this.windows.snapshot()
    this.windows.close()
    this.windows = new EventTimeWindows({ keyCount: 3, aggregates: ['sum'], ...this.options })
    this.windows.restore(bytes)
  }
}

function outOfOrderElements(h: Harness): void {
  h.element(2, 1, 3999)
  h.element(2, 1, 3000)
  h.element(1, 1, 20)
  h.element(1, 1, 0)
  h.element(1, 1, 999)
  h.element(2, 1, 1998)
  h.element(2, 1, 1999)
  h.element(2, 1, 1000)
}

/** The lateness tests' common start (gap 3 s): five elements merge into [1000, 11500), then [11600, 14600), both fired. */
function twoSessionsFired(h: Harness): void {
  h.element(2, 1, 1000)
  h.sessions(1999)
  h.element(2, 1, 2000)
  h.sessions(4998)
  h.element(2, 1, 4500)
  h.element(2, 1, 8500)
  expect(h.sessions(7400)).toEqual([])
  h.element(2, 1, 7000)
  expect(h.sessions(11501)).toEqual([[2, 5, 1000, 11500]])
  h.element(2, 1, 11600)
  expect(h.sessions(14600)).toEqual([[2, 1, 11600, 14600]])
}

describe('WindowOperator (Flink conformance)', () => {
  it('testTumblingEventTimeWindows (3 s): out-of-order elements, snapshot/restore', () => {
    const h = new Harness({ type: 'tumbling', size: 3000 })
    outOfOrderElements(h)
    expect(h.watermark(999)).toEqual([])
    expect(h.watermark(1999)).toEqual([])
    h.snapshotAndRestore()
    expect(h.watermark(2999)).toEqual([[1, 3, 2999], [2, 3, 2999]])
    expect(h.watermark(3999)).toEqual([])
    expect(h.watermark(4999)).toEqual([])
    expect(h.watermark(5999)).toEqual([[2, 2, 5999]])
    expect(h.watermark(6999)).toEqual([])
    expect(h.watermark(7999)).toEqual([])
  })

  it('testSlidingEventTimeWindows (3 s / 1 s): out-of-order elements, snapshot/restore', () => {
    const h = new Harness({ type: 'sliding', size: 3000, slide: 1000 })
    outOfOrderElements(h)
    expect(h.watermark(999)).toEqual([[1, 3, 999]])
    expect(h.watermark(1999)).toEqual([[1, 3, 1999], [2, 3, 1999]])
    expect(h.watermark(2999)).toEqual([[1, 3, 2999], [2, 3, 2999]])
    h.snapshotAndRestore()
    expect(h.watermark(3999)).toEqual([[2, 5, 3999]])
    expect(h.watermark(4999)).toEqual([[2, 2, 4999]])
    expect(h.watermark(5999)).toEqual([[2, 2, 5999]])
    expect(h.watermark(6999)).toEqual([])
    expect(h.watermark(7999)).toEqual([])
  })

  it('testSessionWindows (gap 3 s): merging, snapshot/restore', () => {
    const h = new Harness({ type: 'session', gap: 3000 })
    h.element(2, 1, 0)
    h.element(2, 2, 1000)
    h.element(2, 3, 2500)
    h.element(1, 1, 10)
    h.element(1, 2, 1000)
    h.snapshotAndRestore()
    h.element(1, 3, 2500)
    h.element(2, 4, 5501)
    h.element(2, 5, 6000)
    h.element(2, 5, 6000)
    h.element(2, 6, 6050)
    expect(h.sessions(12000)).toEqual([[1, 6, 10, 5500], [2, 6, 0, 5500], [2, 20, 5501, 9050]])
    h.element(2, 10, 15000)
    h.element(2, 20, 15000)
    expect(h.sessions(17999)).toEqual([[2, 30, 15000, 18000]])
  })

  it('testSideOutputDueToLatenessTumbling (2 s, no lateness) — the issue example', () => {
    const h = new Harness({ type: 'tumbling', size: 2000 })
    h.element(2, 1, 1000)
    expect(h.watermark(1985)).toEqual([])
    h.element(2, 1, 1980) // not dropped: window.maxTimestamp() + allowedLateness > watermark
    expect(h.watermark(1999)).toEqual([[2, 2, 1999]])
    h.element(2, 1, 1998)
    expect(h.late).toEqual([1998])
    h.element(2, 1, 2001)
    expect(h.watermark(2999)).toEqual([])
    expect(h.watermark(3998)).toEqual([])
    expect(h.watermark(3999)).toEqual([[2, 1, 3999]])
    expect(h.windows.metrics()).toMatchObject({ onTime: 3, updating: 0, late: 1 })
  })

  it('testSideOutputDueToLatenessSliding (3 s / 1 s, no lateness)', () => {
    const h = new Harness({ type: 'sliding', size: 3000, slide: 1000 })
    h.element(2, 1, 1000)
    expect(h.watermark(1999)).toEqual([[2, 1, 1999]])
    h.element(2, 1, 2000)
    expect(h.watermark(3000)).toEqual([[2, 2, 2999]])
    h.element(1, 1, 3001)
    h.element(2, 1, 2400) // its window ending at 2999 is gone, those at 3999 and 4999 take it
    h.element(2, 1, 2400)
    h.element(1, 1, 3001)
    h.element(2, 1, 3900)
    expect(h.watermark(6000)).toEqual([[1, 2, 3999], [2, 5, 3999], [1, 2, 4999], [2, 4, 4999], [1, 2, 5999], [2, 1, 5999]])
    h.element(1, 1, 3001)
    expect(h.late).toEqual([3001])
    expect(h.watermark(25000)).toEqual([])
  })

  it('testSideOutputDueToLatenessSessionZeroLateness (gap 3 s)', () => {
    const h = new Harness({ type: 'session', gap: 3000 })
    h.element(2, 1, 1000)
    expect(h.sessions(1999)).toEqual([])
    h.element(2, 1, 2000)
    expect(h.sessions(4998)).toEqual([])
    h.element(2, 1, 4500) // not late: the session it joins ends after the watermark
    h.element(2, 1, 8500) // new session
    expect(h.sessions(7400)).toEqual([])
    h.element(2, 1, 7000) // bridges the two sessions
    expect(h.sessions(11501)).toEqual([[2, 5, 1000, 11500]])
    h.element(2, 1, 11600)
    expect(h.sessions(14600)).toEqual([[2, 1, 11600, 14600]])
    h.element(2, 1, 10000) // late
    h.element(2, 1, 10100) // late too, and not merged with the previous late one
    expect(h.late).toEqual([10000, 10100])
    h.element(2, 1, 14500)
    expect(h.sessions(20000)).toEqual([[2, 1, 14500, 17500]])
    expect(h.sessions(100000)).toEqual([])
  })

  it('testNotSideOutputDueToLatenessSessionWithLateness (gap 3 s, lateness 10 ms)', () => {
    const h = new Harness({ type: 'session', gap: 3000, allowedLateness: 10 })
    twoSessionsFired(h)
    h.element(2, 1, 10000) // merged into the fired session (11600–14600) that is still within lateness
    const update = h.windows.advanceWatermark(14600) // Flink fires here at once
    expect([update.start[0], update.end[0], update.values[0], update.updated[0], update.length]).toEqual([10000, 14600, 2, 1, 1])
    h.element(2, 1, 14500)
    const again = h.windows.advanceWatermark(20000)
    expect([again.start[0], again.end[0], again.values[0], again.updated[0], again.length]).toEqual([10000, 17500, 3, 1, 1])
    expect(h.late).toEqual([])
    expect(h.sessions(100000)).toEqual([])
  })

  it('testNotSideOutputDueToLatenessSessionWithHugeLateness (gap 3 s, lateness 10 s)', () => {
    const h = new Harness({ type: 'session', gap: 3000, allowedLateness: 10000 })
    twoSessionsFired(h)
    h.element(2, 1, 10000) // bridges both fired sessions: the merged one is already due, so it fires again
    expect(h.sessions(14600)).toEqual([[2, 7, 1000, 14600]])
    h.element(2, 1, 14500)
    expect(h.sessions(20000)).toEqual([[2, 8, 1000, 17500]])
    expect(h.late).toEqual([])
  })

  it('allowed lateness (tumbling 2 s, lateness 500 ms): late updates fire again, flagged; later ones go to the side output', () => {
    const h = new Harness({ type: 'tumbling', size: 2000, allowedLateness: 500 })
    h.element(1, 1, 500)
    expect(h.watermark(1999)).toEqual([[1, 1, 1999]])
    h.element(1, 2, 1500) // late but allowed: 1999 + 500 > 1999
    expect(h.watermark(2200)).toEqual([[1, 3, 1999]])
    expect(h.updates).toEqual([[1, 3, 1999]])
    h.element(1, 4, 100)
    expect(h.watermark(2498)).toEqual([[1, 7, 1999]])
    expect(h.watermark(2499)).toEqual([]) // cleanup time 1999 + 500: the window is gone
    h.element(1, 8, 1000)
    expect(h.late).toEqual([1000])
    expect(h.windows.metrics()).toEqual({ onTime: 1, updating: 2, late: 1, firedWindows: 3, updateFirings: 2, ignoredWatermarks: 0 })
  })

  it('a watermark that goes back is ignored and counted (like Flink)', () => {
    const h = new Harness({ type: 'tumbling', size: 1000 })
    h.element(1, 1, 10)
    expect(h.watermark(999)).toEqual([[1, 1, 999]])
    h.element(1, 1, 1500)
    expect(h.watermark(500)).toEqual([])
    expect(h.windows.watermark).toBe(999)
    expect(h.windows.metrics().ignoredWatermarks).toBe(1)
    expect(h.watermark(1999)).toEqual([[1, 1, 1999]])
  })
})
