// Ports the scenarios of Flink's StatusWatermarkValveTest. Flink feeds watermarks and IDLE/ACTIVE statuses per
// channel; here an event at W + 1 (bound 0) gives input watermark W, markIdle/markActive set the status.
// One difference: Flink ignores a watermark on an idle channel, while in sluice an event is activity and makes
// its input active again (Flink's sources do the same with WatermarksWithIdleness).
import { describe, expect, it } from 'vitest'
import { valve } from './helpers'

describe('StatusWatermarkValve (Flink conformance)', () => {
  it('testSingleInputIncreasingWatermarks', () => {
    const { emits } = valve(1)
    expect(emits([0, 0], [0, 25])).toEqual([0, 25])
  })

  it('testSingleInputDecreasingWatermarksYieldsNoOutput', () => {
    const { emits } = valve(1)
    expect(emits([0, 25], [0, 18], [0, 42])).toEqual([25, 25, 42])
  })

  it('testSingleInputWatermarkStatusToggling', () => {
    const { tracker, setStatuses } = valve(1)
    expect(tracker.isIdle()).toBe(false) // channels start active
    expect(setStatuses(['idle', 0], ['idle', 0], ['active', 0])).toEqual([true, true, false])
  })

  it('testSingleInputWatermarksIntactDuringIdleness', () => {
    const { tracker, emit } = valve(1)
    emit(0, 25)
    tracker.markIdle(0)
    expect(tracker.input(0).watermark).toBe(25)
    tracker.markActive(0)
    expect(tracker.currentWatermark()).toBe(25)
    expect(emit(0, 50)).toBe(50)
  })

  it('testMultipleInputYieldsWatermarkOnlyWhenAllChannelsReceivesWatermarks', () => {
    const { emits } = valve(3)
    expect(emits([0, 0], [1, 0], [2, 0])).toEqual([-Infinity, -Infinity, 0])
  })

  it('testMultipleInputIncreasingWatermarks (the issue example: 12/10 change nothing, 15 → 10, 17 → 12, 20 → 15)', () => {
    const { emits } = valve(3)
    expect(emits([0, 0], [1, 0], [2, 0])).toEqual([-Infinity, -Infinity, 0])
    expect(emits([0, 12], [2, 8], [2, 10], [1, 15], [2, 17], [0, 20])).toEqual([0, 0, 0, 10, 12, 15])
  })

  it('testMultipleInputDecreasingWatermarksYieldsNoOutput', () => {
    const { emits } = valve(3)
    expect(emits([0, 25], [1, 10], [2, 17])).toEqual([-Infinity, -Infinity, 10])
    expect(emits([0, 12], [1, 8], [2, 15])).toEqual([10, 10, 10])
  })

  it('testMultipleInputWatermarkStatusToggling', () => {
    const { setStatuses } = valve(2)
    expect(setStatuses(['active', 0], ['active', 1], ['idle', 1], ['idle', 0], ['active', 1], ['active', 0])).toEqual([false, false, false, true, false, false])
  })

  it('testMultipleInputWatermarkAdvancingWithPartiallyIdleChannels (the issue example: input 2 idle, 15 and 10 → 10)', () => {
    const { tracker, emits } = valve(3)
    expect(emits([0, 15], [1, 10])).toEqual([-Infinity, -Infinity])
    expect(tracker.markIdle(2)).toBe(10)
    expect(emits([1, 18], [0, 20])).toEqual([15, 18])
  })

  it('testMultipleInputWatermarkAdvancingAsChannelsIndividuallyBecomeIdle', () => {
    const { tracker, emits } = valve(3)
    expect(emits([0, 25], [1, 10], [2, 17])).toEqual([-Infinity, -Infinity, 10])
    expect(tracker.markIdle(1)).toBe(17)
    expect(tracker.markIdle(2)).toBe(25)
  })

  it('testMultipleInputFlushMaxWatermarkAndWatermarkStatusOnceAllInputsBecomeIdle', () => {
    const { tracker, emits } = valve(3)
    expect(emits([0, 10], [1, 5], [2, 3])).toEqual([-Infinity, -Infinity, 3])
    expect(tracker.markIdle(0)).toBe(3)
    expect(tracker.markIdle(1)).toBe(3)
    expect(tracker.isIdle()).toBe(false)
    expect(tracker.markIdle(2)).toBe(10)
    expect(tracker.isIdle()).toBe(true)
  })

  it('testMultipleInputWatermarkRealignmentAfterResumeActive', () => {
    const { tracker, emit, emits } = valve(3)
    expect(emits([0, 10], [1, 7], [2, 3])).toEqual([-Infinity, -Infinity, 3])
    expect(tracker.markIdle(2)).toBe(7)
    tracker.markActive(2)
    expect(tracker.input(2).aligned).toBe(false)
    expect(emit(2, 5)).toBe(7)
    expect(tracker.input(2).watermark).toBe(5)
    expect(emit(2, 9)).toBe(7)
    expect(tracker.input(2).aligned).toBe(true)
    expect(emit(1, 12)).toBe(9)
  })

  it('testNoOutputWhenAllActiveChannelsAreUnaligned', () => {
    const { tracker, emits } = valve(3)
    expect(emits([0, 10], [1, 7])).toEqual([-Infinity, -Infinity])
    expect(tracker.markIdle(2)).toBe(7)
    tracker.markActive(2)
    tracker.markIdle(0)
    tracker.markIdle(1)
    expect(tracker.currentWatermark()).toBe(7)
    expect(tracker.isIdle()).toBe(false)
  })

  it('idleness by timeout acts like an IDLE status', () => {
    const { tracker, emit, emits, clock } = valve(3, undefined, 100)
    expect(emits([0, 15], [1, 10])).toEqual([-Infinity, -Infinity])
    clock.advance(50)
    expect(emit(2, 5)).toBe(5)
    clock.advance(60) // inputs 0 and 1 have been silent 110 ms, input 2 only 60 ms
    expect(tracker.currentWatermark()).toBe(5)
    expect([tracker.input(0).idle, tracker.input(1).idle, tracker.input(2).idle]).toEqual([true, true, false])
    clock.advance(41)
    expect(tracker.currentWatermark()).toBe(15) // all idle: the maximum
    expect(tracker.isIdle()).toBe(true)
  })
})
