// Ports the scenarios of Flink's BoundedOutOfOrdernessWatermarksTest (flink-core, api.common.eventtime).
import { describe, expect, it } from 'vitest'
import { WatermarkTracker } from '../../../lib/index'

const tracker = () => new WatermarkTracker({ bound: 10, clock: () => 0 })

describe('BoundedOutOfOrdernessWatermarks (Flink conformance)', () => {
  it('testWatermarkBeforeRecords: the watermark is the minimum (−Infinity) before any event', () => {
    expect(tracker().currentWatermark()).toBe(-Infinity)
  })

  it('testWatermarkAfterEvent: event 1337, bound 10 → 1326', () => {
    const t = tracker()
    t.observe(0, new Float64Array([1337]))
    expect(t.currentWatermark()).toBe(1326)
  })

  it('testWatermarkAfterNonMonotonousEvents: 12345, 12300, 12340, 12280 → 12334', () => {
    const t = tracker()
    for (const ts of [12345, 12300, 12340, 12280]) t.observe(0, new Float64Array([ts]))
    expect(t.currentWatermark()).toBe(12334)
    const batch = tracker() // the same events as one batch
    expect(batch.observe(0, new Float64Array([12345, 12300, 12340, 12280]))).toBe(12334)
  })

  it('testRepeatedProbe: asking again gives the same watermark (723456 → 723445)', () => {
    const t = tracker()
    t.observe(0, new Float64Array([723456]))
    expect(t.currentWatermark()).toBe(723445)
    expect(t.currentWatermark()).toBe(723445)
    expect(t.input(0).watermark).toBe(723445)
  })
})
