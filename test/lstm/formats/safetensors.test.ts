// safetensors: files written by hand per the format's specification (not by sluice's writer) must read
// back exactly; sluice's writer must produce files of that exact layout; every malformed file is a
// SluiceError naming the problem; random damage never escapes as another exception.
import { describe, expect, it } from 'vitest'
import { readSafetensors, readSafetensorsMetadata, SluiceError, writeSafetensors } from '../../../lib/index'
import { expectSluiceError } from '../../helpers'
import { fuzzParser, inTurn, inserted, overwritten, truncated } from '../../support/fuzz'
import { seededRandom } from '../../support/lstm_reference'

/** A file laid out by hand: u64 LE header length, the JSON header, then the data bytes. */
function handMade(header: unknown, data: Uint8Array | number[] = [], headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header))
  const out = new Uint8Array(8 + json.length + data.length)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  out.set(data, 8 + json.length)
  return out
}

function float32Bytes(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((v, i) => view.setFloat32(i * 4, v, true))
  return bytes
}

describe('readSafetensors', () => {
  it('reads a hand-made file: shapes, dtypes, values, metadata', () => {
    const data = new Uint8Array([...float32Bytes([1.5, -2, 3.25, 0, 1e-3, -7]), 1, 0, 0xff, 0x7f, 0x80, 0xff])
    const bytes = handMade({
      __metadata__: { format: 'pt', note: 'ünïcode' },
      b: { dtype: 'I16', shape: [3], data_offsets: [24, 30] },
      a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    }, data)
    const tensors = readSafetensors(bytes)
    expect([...tensors.keys()]).toEqual(['b', 'a'])
    const a = tensors.get('a')!
    expect(a.dtype).toBe('F32')
    expect(a.shape).toEqual([2, 3])
    expect(Array.from(a.data)).toEqual([1.5, -2, 3.25, 0, Math.fround(1e-3), -7])
    const b = tensors.get('b')!
    expect(b.dtype).toBe('I16')
    expect(b.data).toBeInstanceOf(Int16Array)
    expect(Array.from(b.data as Int16Array)).toEqual([1, 0x7fff, -128])
    expect(readSafetensorsMetadata(bytes)).toEqual({ format: 'pt', note: 'ünïcode' })
  })

  it('F32 is a zero-copy view when aligned and a correct copy when not', () => {
    let text = '{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    while ((8 + text.length) % 4 !== 0) text += ' ' // the format allows trailing spaces in the header
    const aligned = handMade(undefined, float32Bytes([1, 2]), text)
    const view = readSafetensors(aligned).get('t')!.data as Float32Array
    expect(view.buffer).toBe(aligned.buffer)
    expect(Array.from(view)).toEqual([1, 2])

    const shifted = new Uint8Array(aligned.length + 1)
    shifted.set(aligned, 1)
    const unaligned = shifted.subarray(1)
    const copy = readSafetensors(unaligned).get('t')!.data as Float32Array
    expect(copy.buffer).not.toBe(shifted.buffer)
    expect(Array.from(copy)).toEqual([1, 2])
    // The same through a Buffer (whose slice() is a view, not a copy) inside a larger pool.
    const pool = Buffer.alloc(aligned.length + 7, 0xee)
    pool.set(aligned, 3)
    const fromBuffer = readSafetensors(pool.subarray(3, 3 + aligned.length)).get('t')!.data as Float32Array
    expect(fromBuffer.length).toBe(2)
    expect(Array.from(fromBuffer)).toEqual([1, 2])
  })

  it('converts F16, BF16 and F64 to Float32Array exactly', () => {
    const half = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x7c00, 0x8000, 0x0400]
    const halfValues = [1, -2, 65504, 2 ** -24, 0.333251953125, Infinity, -0, 2 ** -14]
    const bf16 = [0x3f80, 0x4049, 0xc2f7, 0xff80]
    const bf16Values = [1, 3.140625, -123.5, -Infinity]
    const f64 = [0.1, -1e300, 2 ** -30]
    const data = new Uint8Array(half.length * 2 + bf16.length * 2 + f64.length * 8)
    const view = new DataView(data.buffer)
    half.forEach((h, i) => view.setUint16(i * 2, h, true))
    bf16.forEach((h, i) => view.setUint16(16 + i * 2, h, true))
    f64.forEach((v, i) => view.setFloat64(24 + i * 8, v, true))
    const tensors = readSafetensors(handMade({
      h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] },
      b: { dtype: 'BF16', shape: [2, 2], data_offsets: [16, 24] },
      d: { dtype: 'F64', shape: [3], data_offsets: [24, 48] },
    }, data))
    expect(tensors.get('h')!.data).toBeInstanceOf(Float32Array)
    expect(Array.from(tensors.get('h')!.data as Float32Array)).toEqual(halfValues)
    expect(Object.is(tensors.get('h')!.data[6], -0)).toBe(true)
    expect(Array.from(tensors.get('b')!.data as Float32Array)).toEqual(bf16Values)
    expect(Array.from(tensors.get('d')!.data as Float32Array)).toEqual([Math.fround(0.1), -Infinity, 2 ** -30])
    expect(Number.isNaN(readSafetensors(handMade({ n: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } }, [0x01, 0x7c])).get('n')!.data[0])).toBe(true)
  })

  it('reads an empty file, zero-sized tensors and a path', async () => {
    expect(readSafetensors(handMade({})).size).toBe(0)
    const tensors = readSafetensors(handMade({ e: { dtype: 'F32', shape: [0, 5], data_offsets: [0, 0] }, s: { dtype: 'F32', shape: [], data_offsets: [0, 4] } }, float32Bytes([42])))
    expect(tensors.get('e')!.data.length).toBe(0)
    expect(tensors.get('s')!.shape).toEqual([])
    expect(Array.from(tensors.get('s')!.data as Float32Array)).toEqual([42])

    const fs = await import('node:fs')
    const os = await import('node:os')
    const path = await import('node:path')
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-st-')), 'm.safetensors')
    fs.writeFileSync(file, writeSafetensors({ w: { shape: [2], data: Float32Array.of(3, 4) } }))
    expect(Array.from(readSafetensors(file).get('w')!.data as Float32Array)).toEqual([3, 4])
    expectSluiceError(() => readSafetensors(path.join(path.dirname(file), 'missing.safetensors')), 'ERR_INVALID_ARGUMENT', /cannot read .*missing\.safetensors/)
    expectSluiceError(() => readSafetensors(42 as unknown as string), 'ERR_INVALID_TYPE')
  })
})

describe('writeSafetensors', () => {
  it('writes the specified layout: u64 header length, space-padded JSON, 8-aligned data in size order', () => {
    const f32 = Float32Array.of(1, 2, 3)
    const f64 = Float64Array.of(-1.25)
    const u8 = Uint8Array.of(9, 8, 7)
    const i64 = BigInt64Array.of(-5n)
    const bytes = writeSafetensors(new Map<string, { shape: number[]; data: Float32Array | Float64Array | Uint8Array | BigInt64Array }>([
      ['small', { shape: [3], data: u8 }],
      ['weights', { shape: [3, 1], data: f32 }],
      ['scale', { shape: [], data: f64 }],
      ['count', { shape: [1], data: i64 }],
    ]), { producer: 'sluice' })
    const view = new DataView(bytes.buffer, bytes.byteOffset)
    const headerLength = Number(view.getBigUint64(0, true))
    expect((8 + headerLength) % 8).toBe(0)
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))
    expect(text).toMatch(/^\{.*\} *$/)
    const header = JSON.parse(text)
    expect(header.__metadata__).toEqual({ producer: 'sluice' })
    // 8-byte types first (in the caller's order), then 4-byte, then 1-byte.
    expect(header.scale).toEqual({ dtype: 'F64', shape: [], data_offsets: [0, 8] })
    expect(header.count).toEqual({ dtype: 'I64', shape: [1], data_offsets: [8, 16] })
    expect(header.weights).toEqual({ dtype: 'F32', shape: [3, 1], data_offsets: [16, 28] })
    expect(header.small).toEqual({ dtype: 'U8', shape: [3], data_offsets: [28, 31] })
    expect(bytes.length).toBe(8 + headerLength + 31)
    const data = 8 + headerLength
    expect(view.getFloat64(data, true)).toBe(-1.25)
    expect(view.getBigInt64(data + 8, true)).toBe(-5n)
    expect([0, 1, 2].map((i) => view.getFloat32(data + 16 + 4 * i, true))).toEqual([1, 2, 3])
    expect(Array.from(bytes.subarray(data + 28))).toEqual([9, 8, 7])

    const back = readSafetensors(bytes)
    expect(back.get('weights')!.data.buffer).toBe(bytes.buffer) // aligned, so zero-copy
    expect(Array.from(back.get('small')!.data as Uint8Array)).toEqual([9, 8, 7])
    expect(Array.from(back.get('count')!.data as BigInt64Array)).toEqual([-5n])
  })

  it('round-trips every integer dtype, raw F16/BF16 bits and odd names', () => {
    const inputs = {
      'a.b': { shape: [2], data: Int8Array.of(-1, 2) },
      ['__proto__']: { shape: [2], data: Uint16Array.of(0x3c00, 0xc000), dtype: 'F16' as const },
      'ünï': { shape: [1], data: Uint16Array.of(0x3f80), dtype: 'BF16' as const },
      i16: { shape: [1], data: Int16Array.of(-300) },
      u32: { shape: [1], data: Uint32Array.of(4e9) },
      i32: { shape: [1], data: Int32Array.of(-2e9) },
      u64: { shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
      flag: { shape: [2], data: Uint8Array.of(1, 0), dtype: 'BOOL' as const },
    }
    const tensors = new Map(Object.entries(inputs))
    const back = readSafetensors(writeSafetensors(tensors))
    expect(Array.from(back.get('__proto__')!.data as Float32Array)).toEqual([1, -2])
    expect(back.get('__proto__')!.dtype).toBe('F16')
    expect(Array.from(back.get('ünï')!.data as Float32Array)).toEqual([1])
    expect(Array.from(back.get('a.b')!.data as Int8Array)).toEqual([-1, 2])
    expect(Array.from(back.get('i16')!.data as Int16Array)).toEqual([-300])
    expect(Array.from(back.get('u32')!.data as Uint32Array)).toEqual([4e9])
    expect(Array.from(back.get('i32')!.data as Int32Array)).toEqual([-2e9])
    expect(Array.from(back.get('u64')!.data as BigUint64Array)).toEqual([2n ** 64n - 1n])
    expect(back.get('flag')!.dtype).toBe('BOOL')
  })

  it('refuses inconsistent tensors', () => {
    expectSluiceError(() => writeSafetensors({ t: { shape: [2, 2], data: new Float32Array(3) } }), 'ERR_INVALID_LENGTH', /'t'.*\[2, 2\].*4 elements.*3/)
    expectSluiceError(() => writeSafetensors({ t: { shape: [-1], data: new Float32Array(1) } }), 'ERR_INVALID_ARGUMENT', /shape/)
    expectSluiceError(() => writeSafetensors({ t: { shape: [1], data: new Float32Array(1), dtype: 'F16' } }), 'ERR_INVALID_TYPE', /F16.*Float32Array/)
    expectSluiceError(() => writeSafetensors({ t: { shape: [1], data: [1] as unknown as Float32Array } }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => writeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), 'ERR_INVALID_ARGUMENT', /reserved/)
    expectSluiceError(() => writeSafetensors({}, { n: 1 as unknown as string }), 'ERR_INVALID_TYPE', /metadata/)
  })
})

describe('readSafetensors refuses malformed files with a SluiceError naming the problem', () => {
  const one = (info: unknown, data: number[] = [0, 0, 0, 0]) => handMade({ t: info }, data)
  const cases: [string, () => Uint8Array, 'ERR_MALFORMED_DATA' | 'ERR_NOT_SUPPORTED', RegExp][] = [
    ['shorter than 8 bytes', () => new Uint8Array(5), 'ERR_MALFORMED_DATA', /5 bytes, shorter than/],
    ['header length past the end', () => handMade({}).subarray(0, 9), 'ERR_MALFORMED_DATA', /header length 2 runs past the end of the 9-byte file/],
    ['header above 100 MB', () => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(0, 100_000_001, true); return b }, 'ERR_MALFORMED_DATA', /100000001 exceeds/],
    ['header length above 2^32', () => { const b = new Uint8Array(16); new DataView(b.buffer).setUint32(4, 1, true); return b }, 'ERR_MALFORMED_DATA', /exceeds/],
    ['header not UTF-8', () => handMade(undefined, [], '{"\xff":1}').map((b, i) => (i === 10 ? 0xff : b)), 'ERR_MALFORMED_DATA', /UTF-8/],
    ['header not JSON', () => handMade(undefined, [], '{"t": {'), 'ERR_MALFORMED_DATA', /not valid JSON/],
    ['header not an object', () => handMade([1, 2]), 'ERR_MALFORMED_DATA', /not a JSON object/],
    ['entry not an object', () => handMade({ t: 3 }), 'ERR_MALFORMED_DATA', /'t'.*not an object/],
    ['dtype missing', () => one({ shape: [1], data_offsets: [0, 4] }), 'ERR_MALFORMED_DATA', /'t'.*dtype/],
    ['negative dimension', () => one({ dtype: 'F32', shape: [-1], data_offsets: [0, 4] }), 'ERR_MALFORMED_DATA', /'t'.*shape/],
    ['fractional dimension', () => one({ dtype: 'F32', shape: [0.5], data_offsets: [0, 4] }), 'ERR_MALFORMED_DATA', /'t'.*shape/],
    ['offsets not a pair', () => one({ dtype: 'F32', shape: [1], data_offsets: [0] }), 'ERR_MALFORMED_DATA', /'t'.*data_offsets/],
    ['offsets reversed', () => one({ dtype: 'F32', shape: [1], data_offsets: [4, 0] }), 'ERR_MALFORMED_DATA', /'t'.*end before they begin/],
    ['offsets past the buffer', () => one({ dtype: 'F32', shape: [2], data_offsets: [0, 8] }), 'ERR_MALFORMED_DATA', /'t'.*\[0, 8\] run past the 4-byte data buffer/],
    ['huge offsets', () => one({ dtype: 'F32', shape: [1], data_offsets: [0, 1e300] }), 'ERR_MALFORMED_DATA', /'t'.*data_offsets/],
    ['unknown dtype', () => one({ dtype: 'Q7', shape: [4], data_offsets: [0, 4] }), 'ERR_NOT_SUPPORTED', /'t'.*"Q7" is not supported/],
    ['prototype-named dtype', () => one({ dtype: 'constructor', shape: [4], data_offsets: [0, 4] }), 'ERR_NOT_SUPPORTED', /'t'.*"constructor"/],
    ['unsupported fp8 dtype', () => one({ dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] }), 'ERR_NOT_SUPPORTED', /'t'.*F8_E4M3/],
    ['shape × size ≠ bytes', () => one({ dtype: 'F32', shape: [2], data_offsets: [0, 4] }), 'ERR_MALFORMED_DATA', /'t'.*shape \[2\] of F32 \(4 bytes each\) does not fill data_offsets \[0, 4\]/],
    ['shape overflowing', () => one({ dtype: 'F32', shape: [2 ** 40, 2 ** 40, 0.5 + 0.5], data_offsets: [0, 4] }), 'ERR_MALFORMED_DATA', /'t'.*does not fill/],
    ['overlapping tensors', () => handMade({ a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] }, b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }, [1, 2, 3, 4]), 'ERR_MALFORMED_DATA', /'b'.*overlaps tensor 'a'/],
    ['a gap', () => handMade({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] }, b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }, [1, 2, 3, 4]), 'ERR_MALFORMED_DATA', /1 bytes before tensor 'b'/],
    ['uncovered tail', () => handMade({ a: { dtype: 'U8', shape: [3], data_offsets: [0, 3] } }, [1, 2, 3, 4]), 'ERR_MALFORMED_DATA', /last 1 bytes.*belong to no tensor/],
    ['metadata not an object', () => handMade({ __metadata__: [] }), 'ERR_MALFORMED_DATA', /__metadata__ is not an object/],
    ['metadata value not a string', () => handMade({ __metadata__: { k: 1 } }), 'ERR_MALFORMED_DATA', /__metadata__\["k"\]/],
  ]
  for (const [name, make, code, message] of cases) {
    it(name, () => {
      expectSluiceError(() => readSafetensors(make()), code, message)
    })
  }
})

describe('fuzz: damaged safetensors files', () => {
  it('random mutations and truncations only ever throw SluiceError', () => {
    const random = seededRandom(20261126)
    const valid = writeSafetensors({
      'lstm.weight_ih_l0': { shape: [8, 3], data: Float32Array.from({ length: 24 }, (_, i) => i / 7) },
      half: { shape: [4], data: Uint16Array.of(1, 2, 3, 4), dtype: 'F16' },
      ids: { shape: [2], data: BigInt64Array.of(1n, 2n) },
    }, { k: 'v' })
    const headerEnd = 8 + new DataView(valid.buffer).getUint32(0, true)
    const damaged = inTurn(valid, [
      (bytes) => truncated(bytes, random),
      (bytes) => overwritten(bytes, random, 4),
      (bytes) => {
        bytes[8 + Math.floor(random() * (headerEnd - 8))] = ' {}[],:"0123456789-.eE'.charCodeAt(Math.floor(random() * 23))
        return bytes
      },
      (bytes) => {
        new DataView(bytes.buffer).setUint32(0, Math.floor(random() * (headerEnd + 40)), true)
        return bytes
      },
      (bytes) => inserted(bytes, random, 8),
    ])
    const codes = fuzzParser('safetensors fuzz', 4000, damaged, (bytes) => {
      for (const tensor of readSafetensors(bytes).values()) expect(tensor.data.length).toBe(tensor.shape.reduce((a, b) => a * b, 1))
    })
    expect(codes.get('ERR_MALFORMED_DATA')).toBeGreaterThan(1000)
  })
})
