// Ports the scenarios of Flink's WatermarkOutputMultiplexerTest (immediate outputs; sluice has no deferred
// outputs: every observe/markIdle updates the combined watermark at once).
import { describe, expect, it } from 'vitest'
import { valve } from './helpers'

describe('WatermarkOutputMultiplexer (Flink conformance)', () => {
  it('singleImmediateWatermark', () => {
    const { emit, combined } = valve(1)
    emit(0, 0)
    expect(combined()).toEqual({ watermark: 0, idle: false })
  })

  it('singleImmediateIdleness: idle with no watermark yet', () => {
    const { tracker, combined } = valve(1)
    tracker.markIdle(0)
    expect(combined()).toEqual({ watermark: -Infinity, idle: true })
  })

  it('singleImmediateWatermarkAfterIdleness', () => {
    const { tracker, emit, combined } = valve(1)
    tracker.markIdle(0)
    expect(tracker.isIdle()).toBe(true)
    emit(0, 0)
    expect(combined()).toEqual({ watermark: 0, idle: false })
  })

  it('multipleImmediateWatermark: 2, 5 and an idle input → 2', () => {
    const { tracker, emits, combined } = valve(3)
    emits([0, 2], [1, 5])
    tracker.markIdle(2)
    expect(combined()).toEqual({ watermark: 2, idle: false })
  })

  it('whenImmediateOutputBecomesIdleWatermarkAdvances', () => {
    const { tracker, emits } = valve(2)
    emits([0, 2], [1, 5])
    expect(tracker.currentWatermark()).toBe(2)
    tracker.markIdle(0)
    expect(tracker.currentWatermark()).toBe(5)
  })

  it('whenAllImmediateOutputsBecomeIdleWatermarkAdvances: the maximum, in either order', () => {
    for (const order of [[0, 1], [1, 0]]) {
      const { tracker, emits, combined } = valve(2)
      emits([0, 5], [1, 2])
      expect(combined()).toEqual({ watermark: 2, idle: false })
      for (const i of order) tracker.markIdle(i)
      expect(combined()).toEqual({ watermark: 5, idle: true })
    }
  })

  it('combinedWatermarkDoesNotRegressWhenIdleOutputRegresses', () => {
    const { tracker, emit, emits } = valve(2)
    emits([0, 2], [1, 5])
    tracker.markIdle(0)
    expect(tracker.currentWatermark()).toBe(5)
    emit(0, 3)
    expect(tracker.currentWatermark()).toBe(5)
  })

  it('lowerImmediateUpdateOnSameOutputDoesNotEmitCombinedUpdate / ...DoesNotRegress', () => {
    const { tracker, emits } = valve(1)
    emits([0, 5], [0, 2])
    expect(tracker.currentWatermark()).toBe(5)
    expect(tracker.input(0).watermark).toBe(5)
  })

  it('noCombinedDeferredUpdate...: not idle and no watermark before anything happened', () => {
    const { combined } = valve(2)
    expect(combined()).toEqual({ watermark: -Infinity, idle: false })
  })
})
