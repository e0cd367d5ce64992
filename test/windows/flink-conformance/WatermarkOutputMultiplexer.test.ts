// Ports the scenarios of Flink's WatermarkOutputMultiplexerTest (immediate outputs; sluice has no deferred
// outputs: every observe/markIdle updates the combined watermark at once).
import { describe, expect, it } from 'vitest'
import { valve } from './helpers'

describe('WatermarkOutputMultiplexer (Flink conformance)', () => {
  it('singleImmediateWatermark', () => {
    const { tracker, emit } = valve(1)
    emit(0, 0)
    expect(tracker.currentWatermark()).toBe(0)
    expect(tracker.isIdle()).toBe(false)
  })

  it('singleImmediateIdleness: idle with no watermark yet', () => {
    const { tracker } = valve(1)
    tracker.markIdle(0)
    expect(tracker.currentWatermark()).toBe(-Infinity)
    expect(tracker.isIdle()).toBe(true)
  })

  it('singleImmediateWatermarkAfterIdleness', () => {
    const { tracker, emit } = valve(1)
    tracker.markIdle(0)
    expect(tracker.isIdle()).toBe(true)
    emit(0, 0)
    expect(tracker.currentWatermark()).toBe(0)
    expect(tracker.isIdle()).toBe(false)
  })

  it('multipleImmediateWatermark: 2, 5 and an idle input → 2', () => {
    const { tracker, emit } = valve(3)
    emit(0, 2)
    emit(1, 5)
    tracker.markIdle(2)
    expect(tracker.currentWatermark()).toBe(2)
    expect(tracker.isIdle()).toBe(false)
  })

  it('whenImmediateOutputBecomesIdleWatermarkAdvances', () => {
    const { tracker, emit } = valve(2)
    emit(0, 2)
    emit(1, 5)
    expect(tracker.currentWatermark()).toBe(2)
    tracker.markIdle(0)
    expect(tracker.currentWatermark()).toBe(5)
  })

  it('whenAllImmediateOutputsBecomeIdleWatermarkAdvances: the maximum, in either order', () => {
    for (const order of [[0, 1], [1, 0]]) {
      const { tracker, emit } = valve(2)
      emit(0, 5)
      emit(1, 2)
      expect(tracker.currentWatermark()).toBe(2)
      expect(tracker.isIdle()).toBe(false)
      for (const i of order) tracker.markIdle(i)
      expect(tracker.currentWatermark()).toBe(5)
      expect(tracker.isIdle()).toBe(true)
    }
  })

  it('combinedWatermarkDoesNotRegressWhenIdleOutputRegresses', () => {
    const { tracker, emit } = valve(2)
    emit(0, 2)
    emit(1, 5)
    tracker.markIdle(0)
    expect(tracker.currentWatermark()).toBe(5)
    emit(0, 3)
    expect(tracker.currentWatermark()).toBe(5)
  })

  it('lowerImmediateUpdateOnSameOutputDoesNotEmitCombinedUpdate / ...DoesNotRegress', () => {
    const { tracker, emit } = valve(1)
    emit(0, 5)
    emit(0, 2)
    expect(tracker.currentWatermark()).toBe(5)
    expect(tracker.input(0).watermark).toBe(5)
  })

  it('noCombinedDeferredUpdate...: not idle and no watermark before anything happened', () => {
    const { tracker } = valve(2)
    expect(tracker.currentWatermark()).toBe(-Infinity)
    expect(tracker.isIdle()).toBe(false)
  })
})
