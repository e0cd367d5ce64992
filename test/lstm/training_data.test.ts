// windows() and Scaler against naive recomputation: window layout [steps][batch][inputs], targets `horizon`
// steps after each window, stride, channel selection, NaN policy; min-max and z-score statistics, inverse,
// JSON.
import { describe, expect, it } from 'vitest'
import { Scaler, windows } from '../../lib/index'
import { expectSluiceError } from '../helpers'
import { randomArray, rng } from '../support/lstm_reference'

describe('windows', () => {
  it('builds x [steps][batch][inputs] and y [batch][targets] as a naive loop does', () => {
    const C = 3, time = 40
    const series = randomArray(rng(1), time * C)
    for (const [steps, horizon, stride] of [[5, 1, 1], [4, 3, 2], [1, 1, 7], [10, 2, 3]] as const) {
      const inputs = [2, 0], targets = [1]
      const w = windows(series, { channels: C, steps, horizon, stride, inputs, targets })
      const batch = Math.floor((time - steps - horizon) / stride) + 1
      expect(w.batch).toBe(batch)
      expect([w.steps, w.inputSize, w.outputSize]).toEqual([steps, 2, 1])
      for (let b = 0; b < batch; b++) {
        for (let t = 0; t < steps; t++) {
          for (let k = 0; k < 2; k++) expect(w.x[(t * batch + b) * 2 + k]).toBe(series[(b * stride + t) * C + inputs[k]!])
        }
        expect(w.y[b]).toBe(series[(b * stride + steps - 1 + horizon) * C + 1])
      }
    }
  })

  it('uses every channel by default and accepts Float64Array series', () => {
    const series = Float64Array.from({ length: 20 }, (_, i) => i)
    const w = windows(series, { channels: 2, steps: 3 })
    expect(w.batch).toBe(7)
    expect(Array.from(w.y.subarray(0, 2))).toEqual([6, 7])
    expect(Array.from(w.x.subarray(0, 4))).toEqual([0, 1, 2, 3])
  })

  it('NaN: an error naming the first bad index, or forward-fill', () => {
    const series = Float32Array.from([1, 10, NaN, 20, 3, NaN, NaN, 40, 5, 50])
    expectSluiceError(() => windows(series, { channels: 2, steps: 2 }), 'ERR_INVALID_ARGUMENT', /series\[2\] \(time 1, channel 0\) is NaN/)
    const w = windows(series, { channels: 2, steps: 4, nan: 'forward-fill' })
    expect(w.batch).toBe(1)
    // channel 0: 1, 1, 3, 3 (target 5); channel 1: 10, 20, 20, 40 (target 50)
    expect(Array.from(w.x)).toEqual([1, 10, 1, 20, 3, 20, 3, 40])
    expect(Array.from(w.y)).toEqual([5, 50])
    const leading = windows(Float32Array.from([NaN, 2, 3, 4]), { channels: 1, steps: 2, nan: 'forward-fill' })
    expect(Array.from(leading.x)).toEqual([2, 2, 2, 3])
    expectSluiceError(() => windows(Float32Array.from([NaN, NaN, NaN]), { channels: 1, steps: 1, nan: 'forward-fill' }), 'ERR_INVALID_ARGUMENT', /no finite value/)
  })

  it('bad options', () => {
    const series = new Float32Array(10)
    expectSluiceError(() => windows(series, { channels: 3, steps: 2 }), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => windows(series, { channels: 1, steps: 10 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => windows(series, { channels: 1, steps: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => windows(series, { channels: 2, steps: 2, targets: [2] }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => windows(series, { channels: 2, steps: 2, inputs: [] }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => windows([1, 2] as never, { channels: 1, steps: 1 }), 'ERR_INVALID_TYPE')
  })
})

describe('Scaler', () => {
  const C = 2, rows = 50
  const data = Float64Array.from({ length: rows * C }, (_, i) => (i % C === 0 ? 100 + Math.sin(i) * 7 : -3 + (i % 11)))

  it('min-max maps the fitted rows onto [0, 1] per channel', () => {
    const s = Scaler.fit('minmax', data, { channels: C })
    const scaled = s.transform(data)
    for (let c = 0; c < C; c++) {
      const column = Array.from({ length: rows }, (_, r) => scaled[r * C + c]!)
      expect(Math.min(...column)).toBeCloseTo(0, 6)
      expect(Math.max(...column)).toBeCloseTo(1, 6)
    }
  })

  it('z-score: mean 0 and population standard deviation 1 per channel, fitted on the first rows only', () => {
    const s = Scaler.fit('zscore', data, { channels: C, rows: 30 })
    const scaled = s.transform(data, new Float64Array(data.length))
    for (let c = 0; c < C; c++) {
      const column = Array.from({ length: 30 }, (_, r) => scaled[r * C + c]!)
      const mean = column.reduce((a, b) => a + b, 0) / 30
      const sd = Math.sqrt(column.reduce((a, b) => a + (b - mean) ** 2, 0) / 30)
      expect(mean).toBeCloseTo(0, 9)
      expect(sd).toBeCloseTo(1, 9)
    }
    const back = s.inverse(scaled, new Float64Array(data.length))
    for (let i = 0; i < data.length; i++) expect(back[i]).toBeCloseTo(data[i]!, 9)
  })

  it('select, JSON round trip, constant channels, bad input', () => {
    const s = Scaler.fit('zscore', data, { channels: C })
    expect(Scaler.fromJSON(JSON.parse(JSON.stringify(s))).toJSON()).toEqual(s.toJSON())
    const one = s.select([1])
    expect(one.channels).toBe(1)
    expect(one.offset[0]).toBe(s.offset[1])
    expect(Scaler.fit('minmax', new Float32Array([4, 4, 4]), { channels: 1 }).scale[0]).toBe(1)
    expectSluiceError(() => Scaler.fit('minmax', Float32Array.from([1, NaN]), { channels: 1 }), 'ERR_INVALID_ARGUMENT', /data\[1\]/)
    expectSluiceError(() => Scaler.fit('robust' as never, data, { channels: C }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => s.transform(new Float32Array(3)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => Scaler.fromJSON({ kind: 'zscore', offset: [0], scale: [0] }), 'ERR_INVALID_ARGUMENT')
  })
})
