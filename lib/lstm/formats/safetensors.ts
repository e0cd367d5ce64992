// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?:
// {string: string}}, then the tensors' bytes, little-endian, row-major. The bytes are untrusted: every
// length and offset is checked before use, and every failure is a SluiceError naming the problem.
import { SluiceError } from '../../runtime/errors'
import { elementCount } from './element_count'
import { modelBytes } from './model_bytes'

/** The float dtypes; readSafetensors returns all of them as Float32Array. */
export type SafetensorsFloatDtype = 'F32' | 'F16' | 'BF16' | 'F64'

/** The typed array of each integer dtype (BOOL as Uint8Array). @inline */
interface IntegerDataTypes {
  BOOL: Uint8Array
  U8: Uint8Array
  I8: Int8Array
  U16: Uint16Array
  I16: Int16Array
  U32: Uint32Array
  I32: Int32Array
  U64: BigUint64Array
  I64: BigInt64Array
}
export type SafetensorsIntegerDtype = keyof IntegerDataTypes
export type SafetensorsDtype = SafetensorsFloatDtype | SafetensorsIntegerDtype

/**
 * One tensor read from a file. Float tensors come as Float32Array (F32 without a copy when its bytes are
 * 4-byte aligned, so it aliases the input; F16, BF16 and F64 converted), integer and BOOL tensors as the
 * typed array of their type (BOOL as Uint8Array). `dtype` is the file's.
 */
export type SafetensorsTensor =
  | { dtype: SafetensorsFloatDtype; shape: number[]; data: Float32Array }
  | { [D in SafetensorsIntegerDtype]: { dtype: D; shape: number[]; data: IntegerDataTypes[D] } }[SafetensorsIntegerDtype]

/** The typed arrays a tensor to write may hold. @inline */
type WritableData = Float32Array | Float64Array | IntegerDataTypes[SafetensorsIntegerDtype]

/** A tensor to write: `dtype` defaults from the array type; Uint16Array data may carry raw F16 / BF16 bits. */
export interface SafetensorsTensorInput {
  shape: readonly number[]
  data: WritableData
  dtype?: SafetensorsDtype
}

/** The safetensors reference implementation's limit on the JSON header. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000

const elementBytes: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, U16: 2, I16: 2, F16: 2, BF16: 2, U32: 4, I32: 4, F32: 4, U64: 8, I64: 8, F64: 8,
}
/** Dtypes the format defines that sluice does not read (the element size lets the file still be checked). */
const unreadableDtypes: Record<string, number> = { F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, C64: 8 }

const integerArrayTypes = {
  BOOL: Uint8Array, U8: Uint8Array, I8: Int8Array, U16: Uint16Array, I16: Int16Array,
  U32: Uint32Array, I32: Int32Array, U64: BigUint64Array, I64: BigInt64Array,
} as const

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

interface HeaderEntry {
  name: string
  dtype: string
  shape: number[]
  begin: number
  end: number
}

interface ParsedHeader {
  entries: HeaderEntry[]
  metadata: Record<string, string>
  /** Offset of the byte buffer in the file. */
  dataStart: number
}

function malformed(message: string): SluiceError {
  return new SluiceError(`safetensors: ${message}`, 'ERR_MALFORMED_DATA')
}

function parseHeader(bytes: Uint8Array): ParsedHeader {
  if (bytes.length < 8) throw malformed(`the file is ${bytes.length} bytes, shorter than its 8-byte header length`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const low = view.getUint32(0, true)
  const high = view.getUint32(4, true)
  const headerLength = high * 2 ** 32 + low // exact for every value that passes the next check
  if (high !== 0 || headerLength > SAFETENSORS_MAX_HEADER_BYTES) {
    throw malformed(`the header length ${high === 0 ? headerLength : 'above 2^32'} exceeds the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`)
  }
  if (8 + headerLength > bytes.length) {
    throw malformed(`the header length ${headerLength} runs past the end of the ${bytes.length}-byte file`)
  }
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength))
  } catch {
    throw malformed('the header is not valid UTF-8')
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw malformed(`the header is not valid JSON (${error instanceof Error ? error.message : String(error)})`)
  }
  if (!isPlainObject(json)) throw malformed('the header is not a JSON object')

  const dataStart = 8 + headerLength
  const bufferLength = bytes.length - dataStart
  const entries: HeaderEntry[] = []
  let metadata: Record<string, string> = {}
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(info)
      continue
    }
    const where = `tensor '${name}'`
    if (!isPlainObject(info)) throw malformed(`${where}: its header entry is not an object`)
    const { dtype, shape, data_offsets: offsets } = info
    if (typeof dtype !== 'string') throw malformed(`${where}: dtype is missing or not a string`)
    if (!Array.isArray(shape) || !shape.every(isSize)) {
      throw malformed(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`)
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
      throw malformed(`${where}: data_offsets must be [begin, end] non-negative integers, got ${JSON.stringify(offsets)}`)
    }
    const [begin, end] = offsets as [number, number]
    if (begin > end) throw malformed(`${where}: data_offsets [${begin}, ${end}] end before they begin`)
    if (end > bufferLength) {
      throw malformed(`${where}: data_offsets [${begin}, ${end}] run past the ${bufferLength}-byte data buffer`)
    }
    const size = Object.hasOwn(elementBytes, dtype) ? elementBytes[dtype as SafetensorsDtype]
      : Object.hasOwn(unreadableDtypes, dtype) ? unreadableDtypes[dtype] : undefined
    if (size === undefined) {
      throw new SluiceError(`safetensors: ${where}: dtype ${JSON.stringify(dtype)} is not supported (${Object.keys(elementBytes).join(', ')})`, 'ERR_NOT_SUPPORTED')
    }
    const elements = elementCount(shape as number[], end - begin)
    if (elements === undefined || elements * size !== end - begin) {
      throw malformed(`${where}: shape [${shape.join(', ')}] of ${dtype} (${size} bytes each) does not fill data_offsets [${begin}, ${end}] (${end - begin} bytes)`)
    }
    entries.push({ name, dtype, shape: shape as number[], begin, end })
  }

  // The tensors must tile the buffer exactly, in offset order, with no gap and no overlap.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end)
  let position = 0
  let previous: HeaderEntry | undefined
  for (const entry of byOffset) {
    if (entry.begin < position) {
      throw malformed(`tensor '${entry.name}' (bytes ${entry.begin}–${entry.end}) overlaps tensor '${previous!.name}' (bytes ${previous!.begin}–${previous!.end})`)
    }
    if (entry.begin > position) {
      throw malformed(`${entry.begin - position} bytes before tensor '${entry.name}' (from offset ${position}) belong to no tensor`)
    }
    position = entry.end
    previous = entry
  }
  if (position !== bufferLength) {
    throw malformed(`the last ${bufferLength - position} bytes of the data buffer (from offset ${position}) belong to no tensor`)
  }
  return { entries, metadata, dataStart }
}

function parseMetadata(info: unknown): Record<string, string> {
  if (!isPlainObject(info)) throw malformed('__metadata__ is not an object')
  const metadata: Record<string, string> = {}
  for (const [key, value] of Object.entries(info)) {
    if (typeof value !== 'string') throw malformed(`__metadata__[${JSON.stringify(key)}] is not a string`)
    Object.defineProperty(metadata, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return metadata
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/**
 * Parses a safetensors file (a path or its bytes). Returns the tensors by name, in the header's order.
 * F32 data aliases `bytes` when aligned; copy it before changing either. Throws SluiceError:
 * ERR_MALFORMED_DATA for bytes that break the format, ERR_NOT_SUPPORTED for a dtype sluice does not read.
 */
export function readSafetensors(pathOrBytes: Uint8Array | string): Map<string, SafetensorsTensor> {
  const bytes = modelBytes(pathOrBytes, 'readSafetensors')
  const { entries, dataStart } = parseHeader(bytes)
  for (const entry of entries) {
    if (Object.hasOwn(unreadableDtypes, entry.dtype)) {
      throw new SluiceError(`safetensors: tensor '${entry.name}': dtype ${entry.dtype} is not supported`, 'ERR_NOT_SUPPORTED')
    }
  }
  const tensors = new Map<string, SafetensorsTensor>()
  for (const entry of entries) {
    const raw = bytes.subarray(dataStart + entry.begin, dataStart + entry.end)
    tensors.set(entry.name, decodeTensor(entry.dtype as SafetensorsDtype, [...entry.shape], raw))
  }
  return tensors
}

/** The `__metadata__` of a safetensors file ({} when absent); checks the whole header like readSafetensors. */
export function readSafetensorsMetadata(pathOrBytes: Uint8Array | string): Record<string, string> {
  return parseHeader(modelBytes(pathOrBytes, 'readSafetensorsMetadata')).metadata
}

function decodeTensor(dtype: SafetensorsDtype, shape: number[], raw: Uint8Array): SafetensorsTensor {
  const count = raw.length / elementBytes[dtype]
  switch (dtype) {
    case 'F32':
      return { dtype, shape, data: littleEndianView(Float32Array, raw, count, (v, i) => v.getFloat32(i * 4, true)) }
    case 'F64': {
      const data = new Float32Array(count)
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(i * 8, true)
      return { dtype, shape, data }
    }
    case 'F16':
    case 'BF16': {
      const data = new Float32Array(count)
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
      if (dtype === 'F16') {
        const table = halfTable()
        for (let i = 0; i < count; i++) data[i] = table[view.getUint16(i * 2, true)]!
      } else {
        for (let i = 0; i < count; i++) data[i] = bfloat16ToFloat(view.getUint16(i * 2, true))
      }
      return { dtype, shape, data }
    }
    default: {
      const Type = integerArrayTypes[dtype]
      const size = Type.BYTES_PER_ELEMENT
      const read = (v: DataView, i: number): number | bigint => {
        switch (dtype) {
          case 'I8': return v.getInt8(i)
          case 'U16': return v.getUint16(i * size, true)
          case 'I16': return v.getInt16(i * size, true)
          case 'U32': return v.getUint32(i * size, true)
          case 'I32': return v.getInt32(i * size, true)
          case 'U64': return v.getBigUint64(i * size, true)
          case 'I64': return v.getBigInt64(i * size, true)
          default: return v.getUint8(i)
        }
      }
      const data = littleEndianView(Type as unknown as TypedArrayType<IntegerDataTypes[typeof dtype]>, raw, count, read)
      return { dtype, shape, data } as SafetensorsTensor
    }
  }
}

type TypedArrayType<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T
  new (length: number): T
  BYTES_PER_ELEMENT: number
}

/** A typed view of little-endian bytes: zero-copy when aligned on a little-endian host, else a copy. */
function littleEndianView<T extends { [index: number]: number | bigint }>(
  Type: TypedArrayType<T>, raw: Uint8Array, count: number, read: (view: DataView, index: number) => number | bigint,
): T {
  if (littleEndianHost && raw.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(raw.buffer, raw.byteOffset, count)
  if (littleEndianHost) return new Type(new Uint8Array(raw).buffer, 0, count) // a copy (Buffer#slice would not be)
  const data = new Type(count)
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  for (let i = 0; i < count; i++) data[i] = read(view, i) as T[number]
  return data
}

/** IEEE 754 binary16 → number (exact). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const exponent = (bits >> 10) & 0x1f
  const mantissa = bits & 0x3ff
  if (exponent === 0) return sign * mantissa * 2 ** -24
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
}

let halfValues: Float32Array | undefined
/** Every binary16 value as float32 (256 KB, built on first use): conversion becomes a lookup. */
function halfTable(): Float32Array {
  if (halfValues === undefined) {
    halfValues = new Float32Array(65536)
    for (let bits = 0; bits < 65536; bits++) halfValues[bits] = halfToFloat(bits)
  }
  return halfValues
}

const bfloatScratch = new Uint32Array(1)
const bfloatAsFloat = new Float32Array(bfloatScratch.buffer)
/** bfloat16 (the top half of a binary32) → number (exact). */
export function bfloat16ToFloat(bits: number): number {
  bfloatScratch[0] = bits << 16
  return bfloatAsFloat[0]!
}

const dtypeOfArray = new Map<unknown, SafetensorsDtype>([
  [Float32Array, 'F32'], [Float64Array, 'F64'], [Uint8Array, 'U8'], [Int8Array, 'I8'], [Uint16Array, 'U16'],
  [Int16Array, 'I16'], [Uint32Array, 'U32'], [Int32Array, 'I32'], [BigUint64Array, 'U64'], [BigInt64Array, 'I64'],
])
/** dtypes that may be written from an array of another type holding their raw bits. */
const rawBitsDtypes: Partial<Record<SafetensorsDtype, SafetensorsDtype>> = { F16: 'U16', BF16: 'U16', BOOL: 'U8' }

/**
 * Writes tensors (a Map or a plain object, name → {shape, data, dtype?}) and optional string metadata as a
 * safetensors file. Tensors are laid out by descending element size, so every tensor is aligned to its
 * element size and reads back without a copy. Throws SluiceError for an inconsistent tensor.
 */
export function writeSafetensors(
  tensors: Map<string, SafetensorsTensorInput> | Record<string, SafetensorsTensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors)
  const planned = list.map(([name, tensor]) => planTensor(name, tensor))
  planned.sort((a, b) => elementBytes[b.dtype] - elementBytes[a.dtype]) // stable: same size keeps its order

  const parts: string[] = []
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) throw new SluiceError('writeSafetensors: metadata must be an object of strings', 'ERR_INVALID_TYPE')
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new SluiceError(`writeSafetensors: metadata[${JSON.stringify(key)}] must be a string`, 'ERR_INVALID_TYPE')
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`)
  }
  let offset = 0
  for (const tensor of planned) {
    const end = offset + tensor.data.byteLength
    parts.push(`${JSON.stringify(tensor.name)}:${JSON.stringify({ dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, end] })}`)
    offset = end
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`)
  const headerLength = Math.ceil((8 + json.length) / 8) * 8 - 8 // pad with spaces so the data starts 8-aligned
  if (headerLength > SAFETENSORS_MAX_HEADER_BYTES) {
    throw new SluiceError(`writeSafetensors: the header would be ${headerLength} bytes, above the format's limit`, 'ERR_OUT_OF_RANGE')
  }
  const out = new Uint8Array(8 + headerLength + offset)
  const view = new DataView(out.buffer)
  view.setUint32(0, headerLength, true)
  out.set(json, 8)
  out.fill(0x20, 8 + json.length, 8 + headerLength)
  let position = 8 + headerLength
  for (const tensor of planned) {
    writeLittleEndian(out, position, tensor.data)
    position += tensor.data.byteLength
  }
  return out
}

interface PlannedTensor {
  name: string
  dtype: SafetensorsDtype
  shape: number[]
  data: WritableData
}

function planTensor(name: string, tensor: SafetensorsTensorInput): PlannedTensor {
  const where = `writeSafetensors: tensor '${name}'`
  if (name === '__metadata__' || name.length === 0) throw new SluiceError(`${where}: this name is reserved or empty`, 'ERR_INVALID_ARGUMENT')
  if (!isPlainObject(tensor)) throw new SluiceError(`${where} must be {shape, data, dtype?}`, 'ERR_INVALID_TYPE')
  const arrayDtype = ArrayBuffer.isView(tensor.data) ? dtypeOfArray.get(tensor.data.constructor) : undefined
  if (arrayDtype === undefined) {
    throw new SluiceError(`${where}: data must be a Float32Array, Float64Array or integer typed array`, 'ERR_INVALID_TYPE')
  }
  const dtype = tensor.dtype ?? arrayDtype
  if (dtype !== arrayDtype && rawBitsDtypes[dtype] !== arrayDtype) {
    throw new SluiceError(`${where}: dtype ${dtype} cannot be written from a ${tensor.data.constructor.name}`, 'ERR_INVALID_TYPE')
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every(isSize)) {
    throw new SluiceError(`${where}: shape must be an array of non-negative integers`, 'ERR_INVALID_ARGUMENT')
  }
  const elements = tensor.shape.reduce((a, b) => a * b, 1)
  if (elements !== tensor.data.length) {
    throw new SluiceError(`${where}: shape [${tensor.shape.join(', ')}] holds ${elements} elements, data has ${tensor.data.length}`, 'ERR_INVALID_LENGTH')
  }
  return { name, dtype, shape: [...tensor.shape], data: tensor.data }
}

function writeLittleEndian(out: Uint8Array, position: number, data: WritableData): void {
  const source = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  out.set(source, position)
  if (littleEndianHost || data.BYTES_PER_ELEMENT === 1) return
  const size = data.BYTES_PER_ELEMENT // big-endian host: swap each element's bytes
  for (let i = position; i < position + data.byteLength; i += size) out.subarray(i, i + size).reverse()
}
