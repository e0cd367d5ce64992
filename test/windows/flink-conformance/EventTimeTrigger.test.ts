// Ports the scenarios of Flink's EventTimeTriggerTest: a window fires exactly when the watermark reaches its
// maxTimestamp (end − 1); an element for a window whose maxTimestamp is already behind the watermark fires it
// at once (sluice: at the next advanceWatermark, which may repeat the current watermark); merged session
// windows fire at the merged window's end − 1 only; flush() fires everything left (Flink's end of input).
import { describe, expect, it } from 'vitest'
import { EventTimeWindows } from '../../../lib/index'

const push = (w: EventTimeWindows, ts: number[], key = 0) =>
  w.push({ timestamps: new Float64Array(ts), keys: new Uint32Array(ts.length).fill(key), values: new Float64Array(ts.length).fill(1) })
const ends = (f: { length: number; end: Float64Array }) => Array.from(f.end)

describe('EventTimeTrigger (Flink conformance)', () => {
  it('testWindowSeparationAndFiring: [0, 2) fires at watermark 1, [2, 4) at 3, not before', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 2, keyCount: 2, aggregates: ['count'] })
    push(w, [0, 1], 0)
    push(w, [2], 1)
    push(w, [3], 0)
    expect(ends(w.advanceWatermark(0))).toEqual([])
    const first = w.advanceWatermark(1)
    expect([ends(first), Array.from(first.key), Array.from(first.count)]).toEqual([[2], [0], [2]])
    expect(ends(w.advanceWatermark(2))).toEqual([])
    const second = w.advanceWatermark(3)
    expect([ends(second), Array.from(second.key)]).toEqual([[4, 4], [0, 1]])
  })

  it('testLateElementTriggersImmediately: a window already behind the watermark fires on its element', () => {
    const w = new EventTimeWindows({ type: 'tumbling', size: 2, allowedLateness: 10, aggregates: ['count'] })
    w.advanceWatermark(2)
    push(w, [1])
    const f = w.advanceWatermark(2)
    expect([ends(f), Array.from(f.count), Array.from(f.updated)]).toEqual([[2], [1], [0]])
  })

  it('testMergingWindows: merged sessions fire once, at the merged end − 1', () => {
    const w = new EventTimeWindows({ type: 'session', gap: 2, aggregates: ['count'] })
    push(w, [0])
    push(w, [2]) // [0, 2) and [2, 4) touch: merged into [0, 4)
    expect(ends(w.advanceWatermark(1))).toEqual([])
    expect(ends(w.advanceWatermark(2))).toEqual([])
    const f = w.advanceWatermark(3)
    expect([Array.from(f.start), ends(f), Array.from(f.count)]).toEqual([[0], [4], [2]])
    expect(ends(w.advanceWatermark(100))).toEqual([])
  })

  it('end of input: flush() fires every open window, later elements are late', () => {
    const w = new EventTimeWindows({ type: 'sliding', size: 4, slide: 2, aggregates: ['count'] })
    push(w, [1, 5, 9])
    expect(ends(w.flush())).toEqual([2, 4, 6, 8, 10, 12])
    expect(w.watermark).toBe(Infinity)
    expect(Array.from(push(w, [100]).late)).toEqual([0])
  })
})
