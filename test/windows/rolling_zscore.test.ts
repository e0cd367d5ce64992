// RollingZScore against a naive recomputation from the full history of each key and channel.
import { describe, expect, it } from 'vitest'
import { RollingZScore } from '../../lib/index'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

function naive(history: number[], v: number, warmup: number, minStd: number): number {
  if (history.length < warmup || Number.isNaN(v)) return NaN
  const mean = history.reduce((a, b) => a + b, 0) / history.length
  const variance = history.reduce((a, b) => a + (b - mean) ** 2, 0) / (history.length - 1)
  return Math.abs(v - mean) / Math.max(Math.sqrt(variance), minStd)
}

describe('RollingZScore', () => {
  for (const excludeFlagged of [false, true]) {
    it(`matches a naive rolling z-score (excludeFlagged ${excludeFlagged})`, () => {
      const random = mulberry32(excludeFlagged ? 2 : 1)
      const keys = 3, channels = 2, window = 7, warmup = 3, minStd = 0.05, threshold = 2.5
      const z = new RollingZScore({ keyCount: keys, channels, window, warmup, minStd, threshold, excludeFlagged })
      const history = Array.from({ length: keys * channels }, () => [] as number[])
      let flagged = 0
      for (let i = 0; i < 3000; i++) {
        const k = Math.floor(random() * keys)
        const row = [random() < 0.03 ? 10 * random() : random(), random() < 0.02 ? NaN : random() * 3]
        const expectedPerChannel = row.map((v, c) => naive(history[k * channels + c]!, v, warmup, minStd))
        const expected = expectedPerChannel.some(Number.isNaN) ? NaN : Math.max(...expectedPerChannel)
        const got = z.scoreAndUpdate(k, row, 0)
        if (Number.isNaN(expected)) expect(got).toBeNaN()
        else expect(got).toBeCloseTo(expected, 9)
        const isFlagged = got > threshold
        if (isFlagged) flagged++
        if (!(isFlagged && excludeFlagged)) {
          row.forEach((v, c) => {
            if (Number.isNaN(v)) return
            const h = history[k * channels + c]!
            h.push(v)
            if (h.length > window) h.shift()
          })
        }
      }
      expect(flagged).toBeGreaterThan(20)
    })
  }

  it('forgets a key on resetKey', () => {
    const z = new RollingZScore({ keyCount: 2, channels: 1, window: 4, warmup: 2 })
    for (const v of [1, 2, 3]) z.scoreAndUpdate(0, [v], 0)
    expect(z.scoreAndUpdate(0, [2], 0)).not.toBeNaN()
    z.resetKey(0)
    expect(z.scoreAndUpdate(0, [2], 0)).toBeNaN()
  })

  it('refuses bad options', () => {
    expectSluiceError(() => new RollingZScore({ keyCount: 0, channels: 1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, window: 1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, window: 5, warmup: 6 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, minStd: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, threshold: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, minStd: NaN }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new RollingZScore({ keyCount: 1, channels: 1, excludeFlagged: 1 as never }), 'ERR_INVALID_TYPE')
  })
})
