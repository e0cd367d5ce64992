// SlidingWindow.pushAsync: the same bits as push() on a twin window, every check before anything is
// queued, the window busy (and its calls refused) until the promise settles, close() while in flight.
import { describe, expect, it } from 'vitest'
import { SlidingWindow, slidingAggregates, type SlidingWindowOptions } from '../../lib/index'
import { SluiceError } from '../../lib/runtime/errors'
import { mulberry32 as random } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

function randomValues(rand: () => number, length: number, float32: boolean): Float64Array | Float32Array {
  const values = float32 ? new Float32Array(length) : new Float64Array(length)
  for (let i = 0; i < length; i++) values[i] = rand() < 0.02 ? NaN : 1e3 + 10 * rand()
  return values
}

async function rejectionOf(promise: Promise<unknown>): Promise<SluiceError> {
  try {
    await promise
  } catch (error) {
    expect(error).toBeInstanceOf(SluiceError)
    return error as SluiceError
  }
  throw new Error('expected a rejection')
}

const bytes = (a: Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength)

describe('SlidingWindow.pushAsync', () => {
  it('gives exactly the bits of push() on a twin, for random windows, batches, value types and out arrays', async () => {
    const rand = random(31)
    for (let trial = 0; trial < 40; trial++) {
      const options: SlidingWindowOptions = {
        size: 1 + Math.floor(rand() * 300),
        slide: 1 + Math.floor(rand() * 5),
        channels: 1 + Math.floor(rand() * 3),
        aggregates: slidingAggregates.filter(() => rand() < 0.5).concat(['mean']).filter((a, i, all) => all.indexOf(a) === i),
        emitPartial: rand() < 0.3,
      }
      const async = new SlidingWindow(options), sync = new SlidingWindow(options)
      const float32 = rand() < 0.3
      for (let batch = 0; batch < 6; batch++) {
        const rows = batch === 3 ? 20_000 : Math.floor(rand() * 700)
        const values = randomValues(rand, rows * sync.channels, float32)
        const want = sync.push(values)
        const given = rand() < 0.5 ? new Float64Array(want.length + 5).fill(-1) : undefined
        const got = await async.pushAsync(values, given)
        expect(bytes(got).equals(bytes(want)), `trial ${trial} batch ${batch}`).toBe(true)
        if (given) {
          expect(got.buffer).toBe(given.buffer)
          expect(Array.from(given.subarray(want.length))).toEqual([-1, -1, -1, -1, -1])
        }
        expect(async.rowsSeen).toBe(sync.rowsSeen)
      }
      expect(Buffer.from(async.snapshot()).equals(Buffer.from(sync.snapshot()))).toBe(true)
      async.close()
      sync.close()
    }
  })

  it("rejects bad input with push()'s code before anything is queued, and changes nothing", async () => {
    const window = new SlidingWindow({ size: 4, channels: 2, aggregates: ['sum', 'max'] })
    await window.pushAsync(Float64Array.from({ length: 10 }, (_, i) => i))
    const before = Buffer.from(window.snapshot())
    const values = new Float64Array(8)
    const shared = new Float64Array(48)
    // [values, out, code]: each through pushAsync and through push, which must agree.
    const cases: [Float64Array, Float64Array | undefined, string][] = [
      [new Int32Array(4) as unknown as Float64Array, undefined, 'ERR_INVALID_TYPE'],
      [new Float64Array(3), undefined, 'ERR_INVALID_LENGTH'],
      [values, new Float64Array(3), 'ERR_INVALID_LENGTH'],
      [values, new Float32Array(16) as unknown as Float64Array, 'ERR_INVALID_TYPE'],
      [shared.subarray(0, 16), shared.subarray(8), 'ERR_INVALID_ARGUMENT'], // out overlaps values
    ]
    for (const [input, out, code] of cases) {
      expect((await rejectionOf(window.pushAsync(input, out))).code).toBe(code)
      expectSluiceError(() => window.push(input, out), code as never)
      expect(Buffer.from(window.snapshot()).equals(before)).toBe(true)
    }
    window.close()
    expect((await rejectionOf(window.pushAsync(values))).code).toBe('ERR_INVALID_STATE')
  })

  it('keeps the window busy until the promise settles: other calls are refused and change nothing', async () => {
    const options = { size: 50, aggregates: ['mean', 'min', 'first'] as const }
    const window = new SlidingWindow({ ...options, aggregates: [...options.aggregates] })
    const twin = new SlidingWindow({ ...options, aggregates: [...options.aggregates] })
    const rand = random(5)
    const big = randomValues(rand, 300_000, false)
    const small = randomValues(rand, 10, false)
    const pending = window.pushAsync(big)
    expectSluiceError(() => window.push(small), 'ERR_INVALID_STATE', /in flight/)
    expect((await rejectionOf(window.pushAsync(small))).code).toBe('ERR_INVALID_STATE')
    expectSluiceError(() => window.snapshot(), 'ERR_INVALID_STATE', /in flight/)
    expectSluiceError(() => window.restore(twin.snapshot()), 'ERR_INVALID_STATE', /in flight/)
    expectSluiceError(() => window.reset(), 'ERR_INVALID_STATE', /in flight/)
    expect(window.rowsSeen).toBe(0) // the rows before this push
    expect(window.memoryBytes).toBeGreaterThan(0)
    const got = await pending
    expect(bytes(got).equals(bytes(twin.push(big)))).toBe(true)
    expect(window.rowsSeen).toBe(300_000)
    // Working normally again: the same results as the twin that never saw the refused calls.
    expect(bytes(window.push(small)).equals(bytes(twin.push(small)))).toBe(true)
    window.close()
    twin.close()
  })

  it('lets close() run while a push is in flight: the push still resolves with its windows, then the window is closed', async () => {
    const window = new SlidingWindow({ size: 100, aggregates: ['var'] })
    const twin = new SlidingWindow({ size: 100, aggregates: ['var'] })
    const values = randomValues(random(9), 200_000, true)
    const pending = window.pushAsync(values)
    window.close()
    expect(window.closed).toBe(true)
    expect(bytes(await pending).equals(bytes(twin.push(values)))).toBe(true)
    expectSluiceError(() => window.push(values), 'ERR_INVALID_STATE', /closed/)
    twin.close()
  })

  it('runs many windows at once on the worker threads with the same results as one after another', async () => {
    const rand = random(77)
    const inputs = Array.from({ length: 8 }, () => randomValues(rand, 50_000, false))
    const windows = inputs.map(() => new SlidingWindow({ size: 200, aggregates: ['sum', 'std', 'max'] }))
    const got = await Promise.all(windows.map((w, i) => w.pushAsync(inputs[i]!)))
    inputs.forEach((values, i) => {
      const twin = new SlidingWindow({ size: 200, aggregates: ['sum', 'std', 'max'] })
      expect(bytes(got[i]!).equals(bytes(twin.push(values)))).toBe(true)
      twin.close()
      windows[i]!.close()
    })
  })
})
