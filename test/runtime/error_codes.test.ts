// Errors that were bare TypeError / RangeError (issue 16): each now is a SluiceError with its code and a
// message that names the argument.
import { describe, expect, it } from 'vitest'
import { decodePartitionSnapshot } from '../../lib/kafka/partition_snapshot'
import { readCsv } from '../../lib/cli/csv_source'
import { LstmModel, Pipeline, Scaler, SlidingWindow, windows } from '../../lib/index'
import { sealSnapshot } from '../../lib/runtime/snapshot_envelope'
import { allocate, outputArray } from '../../lib/runtime/validate'
import { expectSluiceError } from '../helpers'
import { withValidCrc } from '../support/snapshot_bytes'

const model = LstmModel.create({ inputSize: 1, hiddenSize: 2, seed: 1 })

describe('sizes the API allows but an array cannot hold → ERR_OUT_OF_MEMORY', () => {
  it('SlidingWindow.push whose windows would need more than a typed array holds', () => {
    const all = ['count', 'sum', 'mean', 'min', 'max', 'var', 'std', 'first', 'last'] as const
    const window = new SlidingWindow({ size: 1, channels: 65536, aggregates: all })
    // 2^20 rows of 65536 channels, 9 aggregates each: 6·10^11 numbers, far beyond V8's typed array limit.
    expect(window.windowsFor(2 ** 20) * 65536 * all.length).toBeGreaterThan(2 ** 33)
    const rows = new Float64Array(0)
    Object.defineProperty(rows, 'length', { value: 65536 * 2 ** 20 }) // windowsFor reads only the length
    expectSluiceError(() => window.push(rows), 'ERR_OUT_OF_MEMORY', /cannot allocate out: .* elements of Float64Array/)
    expect(window.rowsSeen).toBe(0)
    window.close()
  })

  it('allocate() and outputArray() turn V8\'s RangeError into ERR_OUT_OF_MEMORY naming the array', () => {
    expectSluiceError(() => allocate(Float64Array, 2 ** 40, 'the rings'), 'ERR_OUT_OF_MEMORY', /cannot allocate the rings: 1099511627776 elements/)
    expectSluiceError(() => outputArray(undefined, Float32Array, 2 ** 40, 'out.output'), 'ERR_OUT_OF_MEMORY', /out\.output/)
    expect(allocate(Uint32Array, 3, 'x')).toEqual(new Uint32Array(3))
  })

  it('windows() of a series into more training windows than an array holds', () => {
    expectSluiceError(() => windows(new Float32Array(2 ** 20), { channels: 1, steps: 2 ** 19, horizon: 1 }), 'ERR_OUT_OF_MEMORY', /cannot allocate x/)
  })
})

describe('arguments of the wrong type → ERR_INVALID_TYPE, not a TypeError', () => {
  it('readCsv with neither a path nor { text }', () => {
    for (const bad of [123, null, { text: 5 }, {}]) {
      expectSluiceError(() => readCsv(bad as never, { time: 't', value: ['v'] }), 'ERR_INVALID_TYPE', /file path or \{ text: string \}/)
    }
  })

  it('null (or a number) as an options object', () => {
    const weights = model.weights()
    const bytes = model.toSafetensors()
    const calls: Array<() => unknown> = [
      () => LstmModel.fromWeights(weights, null as never),
      () => LstmModel.fromSafetensors(bytes, null as never),
      () => LstmModel.fromOnnx(new Uint8Array(4), null as never),
      () => model.toSafetensors(null as never),
      () => model.toSafetensors(7 as never),
      () => new Pipeline({ window: { size: 10 } }).readable([], null as never),
    ]
    for (const call of calls) expectSluiceError(call, 'ERR_INVALID_TYPE', /^options must be an object, got (null|7)$/)
  })

  it('Pipeline.run(source, null) rejects with the code', async () => {
    await expect(new Pipeline({ window: { size: 10 } }).run([], null as never).next()).rejects.toMatchObject({ code: 'ERR_INVALID_TYPE' })
  })

  it('toSafetensors with a non-string prefix or headPrefix', () => {
    expectSluiceError(() => model.toSafetensors({ headPrefix: 0 as never }), 'ERR_INVALID_TYPE', /^options\.headPrefix must be a string$/)
    expectSluiceError(() => model.toSafetensors({ prefix: 0 as never }), 'ERR_INVALID_TYPE', /^options\.prefix must be a string$/)
  })

  it('a layer that is not an object is named without a stray dot', () => {
    expectSluiceError(() => LstmModel.fromWeights({ inputSize: 1, hiddenSize: 2, layers: [null as never] }), 'ERR_INVALID_TYPE', /^layers\[0\] must be an object$/)
  })

  it('a string that is not one of the choices is quoted in the message', () => {
    expectSluiceError(() => new Scaler('standard' as never, [0], [1]), 'ERR_INVALID_ARGUMENT', /^kind must be one of minmax, zscore, got "standard"$/)
  })
})

describe('malformed headers → ERR_MALFORMED_DATA', () => {
  it('a Kafka partition snapshot whose JSON header is not an object', () => {
    for (const json of ['null', '[1]', '5', '"x"']) {
      const header = Buffer.from(json)
      const payload = Buffer.alloc(4 + header.length)
      payload.writeUInt32LE(header.length, 0)
      header.copy(payload, 4)
      expectSluiceError(() => decodePartitionSnapshot(sealSnapshot('kafka-partition', payload)), 'ERR_MALFORMED_DATA', /header (is not a JSON object|has missing or invalid fields)/)
    }
  })

  it('a Pipeline snapshot with fields of the wrong type is refused field by field (native)', () => {
    const pipeline = new Pipeline({ window: { size: 10 }, clock: () => 0 })
    pipeline.process({ timestamps: Float64Array.of(1, 2, 30), values: Float64Array.of(1, 2, 3) })
    const bytes = pipeline.snapshot()
    const other = new Pipeline({ window: { size: 10 }, clock: () => 0 })
    // A counter (events, the first f64 after the shape and the aggregate list) set to a non-integer and to NaN.
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    let at = -1
    for (let i = 16; i + 8 <= bytes.length - 4; i++) if (view.getFloat64(i, true) === 3) { at = i; break }
    expect(at).toBeGreaterThan(0)
    for (const value of [0.5, NaN, -1]) {
      const copy = Uint8Array.from(bytes)
      new DataView(copy.buffer).setFloat64(at, value, true)
      withValidCrc(copy)
      expectSluiceError(() => other.restore(copy), 'ERR_MALFORMED_DATA', /counter events is/)
    }
  })
})
