// WatermarkTracker: API behaviour, snapshots and every bad input (stable codes, no state change).
import { describe, expect, it } from 'vitest'
import { WatermarkTracker, type WatermarkTrackerOptions } from '../../lib/index'
import { expectSluiceError } from '../helpers'

const f64 = (xs: number[]) => new Float64Array(xs)

describe('WatermarkTracker', () => {
  it('observe takes a whole batch and returns the combined watermark', () => {
    const t = new WatermarkTracker({ inputs: 2, bound: 10, clock: () => 0 })
    expect(t.observe(0, f64([100, 250, 90]))).toBe(-Infinity)
    expect(t.input(0)).toEqual({ watermark: 239, idle: false, aligned: true })
    expect(t.observe(1, f64([]))).toBe(-Infinity) // an empty batch is no activity and no watermark
    expect(t.observe(1, f64([500]))).toBe(239)
  })

  it('snapshot/restore continues exactly, clock state included', () => {
    let now = 0
    const options: WatermarkTrackerOptions = { inputs: 3, bound: 2, idleTimeout: 50, clock: () => now }
    const a = new WatermarkTracker(options)
    a.observe(0, f64([10]))
    a.observe(1, f64([20]))
    now = 30
    a.observe(2, f64([5]))
    const b = new WatermarkTracker(options)
    b.restore(a.snapshot())
    for (const t of [a, b]) {
      now = 60 // inputs 0 and 1 idle (60 > 50), input 2 not
      expect(t.currentWatermark()).toBe(2)
      now = 81
      expect(t.currentWatermark()).toBe(17) // all idle: the maximum
      expect(t.isIdle()).toBe(true)
    }
  })

  it('rejects bad input with stable codes before any state changes', () => {
    const t = new WatermarkTracker({ inputs: 2, bound: 0, clock: () => 0 })
    t.observe(0, f64([10]))
    expectSluiceError(() => t.observe(2, f64([1])), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => t.observe(-1, f64([1])), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => t.observe(0.5, f64([1])), 'ERR_INVALID_TYPE')
    expectSluiceError(() => t.observe(0, [1] as unknown as Float64Array), 'ERR_INVALID_TYPE')
    expectSluiceError(() => t.observe(0, f64([20, NaN])), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => t.observe(0, f64([20, -Infinity])), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => t.observe(0, f64([20]), NaN), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => t.markIdle(7), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => t.markActive(7), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => t.input(2), 'ERR_OUT_OF_RANGE')
    expect(t.input(0).watermark).toBe(9) // nothing above changed the state
    expectSluiceError(() => new WatermarkTracker({ inputs: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new WatermarkTracker({ bound: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new WatermarkTracker({ bound: NaN }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new WatermarkTracker({ idleTimeout: NaN }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new WatermarkTracker({ clock: 5 as unknown as () => number }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new WatermarkTracker({ clock: () => NaN }), 'ERR_INVALID_ARGUMENT')
  })

  it('rejects malformed or foreign snapshots and keeps its state', () => {
    const t = new WatermarkTracker({ inputs: 2, clock: () => 0 })
    t.observe(1, f64([40]))
    const bytes = t.snapshot()
    expectSluiceError(() => t.restore(bytes.subarray(0, 10)), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => new WatermarkTracker({ inputs: 3 }).restore(bytes), 'ERR_INVALID_ARGUMENT')
    expect(t.input(1).watermark).toBe(39)
  })

  it('close() makes later calls ERR_INVALID_STATE', () => {
    const t = new WatermarkTracker()
    t.close()
    expectSluiceError(() => t.observe(0, f64([1])), 'ERR_INVALID_STATE')
    expectSluiceError(() => t.currentWatermark(), 'ERR_INVALID_STATE')
  })
})
