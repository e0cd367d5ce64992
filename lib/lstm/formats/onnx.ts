// A minimal ONNX reader: a bounds-checked protobuf wire-format decoder (no dependency) and the parts of
// ModelProto / GraphProto / NodeProto / AttributeProto / TensorProto that an LSTM model needs. The bytes
// are untrusted: every varint, length and count is checked against the bytes left before use, and every
// failure is a SluiceError (ERR_MALFORMED_DATA, or ERR_NOT_SUPPORTED for valid features sluice lacks).
import { SluiceError } from '../../runtime/errors'
import { elementCount } from './element_count'

/** TensorProto.DataType values used here. */
export const OnnxDataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, STRING: 8, FLOAT16: 10, DOUBLE: 11 } as const
const dataTypeNames: Record<number, string> = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16', 6: 'INT32', 7: 'INT64', 8: 'STRING',
  9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
}
export function onnxDataTypeName(type: number): string {
  return dataTypeNames[type] ?? `data type ${type}`
}

export interface OnnxTensor {
  name: string
  dims: number[]
  dataType: number
  /** Where the values are: raw_data, the typed repeated fields, or an external file (unsupported). */
  rawData: Uint8Array | undefined
  /** float_data as little-endian float32 bytes (packed runs and single values alike). */
  floatData: Uint8Array[]
  int32Data: number[]
  int64Data: number[]
  doubleData: Uint8Array[]
  external: boolean
  segmented: boolean
}

export interface OnnxAttribute {
  name: string
  type: number
  f: number | undefined
  i: number | undefined
  s: Uint8Array | undefined
  t: OnnxTensor | undefined
  floats: number[]
  ints: number[]
  strings: Uint8Array[]
  /** A subgraph, tensors, graphs or sparse tensors are present (not decoded). */
  hasOther: boolean
  refAttrName: string | undefined
}

export interface OnnxNode {
  name: string
  opType: string
  domain: string
  inputs: string[]
  outputs: string[]
  attributes: Map<string, OnnxAttribute>
  /** Position in the graph, for messages. */
  index: number
}

export interface OnnxGraph {
  name: string
  nodes: OnnxNode[]
  initializers: Map<string, OnnxTensor>
  sparseInitializers: Set<string>
  inputs: string[]
  outputs: string[]
}

export interface OnnxModel {
  irVersion: number
  /** domain ('' is the default ai.onnx domain) → opset version. */
  opsets: Map<string, number>
  graph: OnnxGraph
}

const WIRE_VARINT = 0
const WIRE_FIXED64 = 1
const WIRE_LENGTH = 2
const WIRE_FIXED32 = 5

function malformed(where: string, message: string): SluiceError {
  return new SluiceError(`ONNX: ${where}: ${message}`, 'ERR_MALFORMED_DATA')
}

/** Reads protobuf fields from bytes[start, end); each read checks that it stays inside. */
export class ProtoReader {
  private position: number
  private readonly view: DataView

  constructor(private readonly bytes: Uint8Array, private readonly where: string, start = 0, private readonly end = bytes.length) {
    this.position = start
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get done(): boolean {
    return this.position >= this.end
  }

  /** The next field's number and wire type. */
  tag(): { field: number; wire: number } {
    const key = this.uint()
    const field = Math.floor(key / 8)
    const wire = key % 8
    if (field === 0 || field > 0x1fffffff) throw malformed(this.where, `invalid field number ${field} at byte ${this.position}`)
    return { field, wire }
  }

  /** An unsigned varint that must fit a safe integer (lengths, tags, enums, sizes). */
  uint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw malformed(this.where, 'truncated varint')
      const byte = this.bytes[this.position++]!
      value += (byte & 0x7f) * scale
      if (byte < 0x80) {
        if (!Number.isSafeInteger(value)) throw malformed(this.where, `varint ${value} too large`)
        return value
      }
      scale *= 128
    }
    throw malformed(this.where, 'varint longer than 10 bytes')
  }

  /** A varint read as a two's-complement int64, returned as a number (exact up to 2^53, approximate beyond). */
  int64(): number {
    let value = 0n
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw malformed(this.where, 'truncated varint')
      const byte = this.bytes[this.position++]!
      value |= BigInt(byte & 0x7f) << BigInt(7 * i)
      if (byte < 0x80) return Number(BigInt.asIntN(64, value))
    }
    throw malformed(this.where, 'varint longer than 10 bytes')
  }

  float32(): number {
    this.need(4)
    const value = this.view.getFloat32(this.position, true)
    this.position += 4
    return value
  }

  /** A fixed32 or fixed64 field's bytes (a view). */
  fixed(size: 4 | 8): Uint8Array {
    this.need(size)
    const value = this.bytes.subarray(this.position, this.position + size)
    this.position += size
    return value
  }

  /** A length-delimited field's bytes (a view, not a copy). */
  lengthDelimited(): Uint8Array {
    const length = this.uint()
    this.need(length)
    const value = this.bytes.subarray(this.position, this.position + length)
    this.position += length
    return value
  }

  string(): string {
    try {
      return utf8.decode(this.lengthDelimited())
    } catch (error) {
      if (error instanceof SluiceError) throw error
      throw malformed(this.where, 'a string is not valid UTF-8')
    }
  }

  /** A message field: a reader over its bytes. */
  message(where: string): ProtoReader {
    const bytes = this.lengthDelimited()
    return new ProtoReader(bytes, where)
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT: this.uint64Skip(); return
      case WIRE_FIXED64: this.need(8); this.position += 8; return
      case WIRE_LENGTH: this.lengthDelimited(); return
      case WIRE_FIXED32: this.need(4); this.position += 4; return
      default: throw malformed(this.where, `unsupported wire type ${wire}`)
    }
  }

  /** Throws unless the field has the wire type its schema gives. */
  expectWire(actual: number, expected: number, field: string): void {
    if (actual !== expected) throw malformed(this.where, `field ${field} has wire type ${actual}, expected ${expected}`)
  }

  private uint64Skip(): void {
    for (let i = 0; i < 10; i++) {
      if (this.position >= this.end) throw malformed(this.where, 'truncated varint')
      if (this.bytes[this.position++]! < 0x80) return
    }
    throw malformed(this.where, 'varint longer than 10 bytes')
  }

  private need(length: number): void {
    if (length > this.end - this.position) {
      throw malformed(this.where, `a field of ${length} bytes runs past the end (${this.end - this.position} bytes left)`)
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** Repeated varint fields: packed (one length-delimited run) or one value per tag. */
function readInt64s(reader: ProtoReader, wire: number, into: number[], where: string): void {
  if (wire === WIRE_VARINT) {
    into.push(reader.int64())
    return
  }
  reader.expectWire(wire, WIRE_LENGTH, 'packed int64')
  const packed = new ProtoReader(reader.lengthDelimited(), where)
  while (!packed.done) into.push(packed.int64())
}

/** Repeated fixed-size fields (float, double): packed runs or single values, kept as little-endian bytes. */
function readFixed(reader: ProtoReader, wire: number, size: 4 | 8, into: Uint8Array[], where: string): void {
  if (wire === WIRE_LENGTH) {
    const run = reader.lengthDelimited()
    if (run.length % size !== 0) throw malformed(where, `a packed run of ${run.length} bytes is not a whole number of ${size}-byte values`)
    into.push(run)
    return
  }
  reader.expectWire(wire, size === 4 ? WIRE_FIXED32 : WIRE_FIXED64, 'fixed-size value')
  into.push(reader.fixed(size))
}

export function parseTensor(reader: ProtoReader, where: string): OnnxTensor {
  const tensor: OnnxTensor = {
    name: '', dims: [], dataType: 0, rawData: undefined, floatData: [], int32Data: [], int64Data: [], doubleData: [],
    external: false, segmented: false,
  }
  while (!reader.done) {
    const { field, wire } = reader.tag()
    switch (field) {
      case 1: readInt64s(reader, wire, tensor.dims, where); break
      case 2: reader.expectWire(wire, WIRE_VARINT, 'data_type'); tensor.dataType = reader.int64(); break
      case 3: reader.skip(wire); tensor.segmented = true; break
      case 4: readFixed(reader, wire, 4, tensor.floatData, where); break
      case 5: readInt64s(reader, wire, tensor.int32Data, where); break
      case 7: readInt64s(reader, wire, tensor.int64Data, where); break
      case 8: reader.expectWire(wire, WIRE_LENGTH, 'name'); tensor.name = reader.string(); break
      case 9: reader.expectWire(wire, WIRE_LENGTH, 'raw_data'); tensor.rawData = reader.lengthDelimited(); break
      case 10: readFixed(reader, wire, 8, tensor.doubleData, where); break
      case 13: reader.skip(wire); tensor.external = true; break
      case 14: reader.expectWire(wire, WIRE_VARINT, 'data_location'); if (reader.int64() === 1) tensor.external = true; break
      default: reader.skip(wire)
    }
  }
  for (const dim of tensor.dims) {
    if (!Number.isSafeInteger(dim) || dim < 0) throw malformed(where, `tensor '${tensor.name}' has dimension ${dim}`)
  }
  return tensor
}

function parseAttribute(reader: ProtoReader, where: string): OnnxAttribute {
  const attribute: OnnxAttribute = {
    name: '', type: 0, f: undefined, i: undefined, s: undefined, t: undefined, floats: [], ints: [], strings: [],
    hasOther: false, refAttrName: undefined,
  }
  while (!reader.done) {
    const { field, wire } = reader.tag()
    switch (field) {
      case 1: reader.expectWire(wire, WIRE_LENGTH, 'name'); attribute.name = reader.string(); break
      case 2: reader.expectWire(wire, WIRE_FIXED32, 'f'); attribute.f = reader.float32(); break
      case 3: reader.expectWire(wire, WIRE_VARINT, 'i'); attribute.i = reader.int64(); break
      case 4: reader.expectWire(wire, WIRE_LENGTH, 's'); attribute.s = reader.lengthDelimited(); break
      case 5: reader.expectWire(wire, WIRE_LENGTH, 't'); attribute.t = parseTensor(reader.message(`${where}.t`), `${where}.t`); break
      case 7: {
        const bytes: Uint8Array[] = []
        readFixed(reader, wire, 4, bytes, where)
        for (const run of bytes) {
          const view = new DataView(run.buffer, run.byteOffset, run.byteLength)
          for (let k = 0; k < run.length; k += 4) attribute.floats.push(view.getFloat32(k, true))
        }
        break
      }
      case 8: readInt64s(reader, wire, attribute.ints, where); break
      case 9: reader.expectWire(wire, WIRE_LENGTH, 'strings'); attribute.strings.push(reader.lengthDelimited()); break
      case 20: reader.expectWire(wire, WIRE_VARINT, 'type'); attribute.type = reader.int64(); break
      case 21: reader.expectWire(wire, WIRE_LENGTH, 'ref_attr_name'); attribute.refAttrName = reader.string(); break
      case 6: case 10: case 11: case 22: case 23: reader.skip(wire); attribute.hasOther = true; break
      default: reader.skip(wire)
    }
  }
  return attribute
}

function parseNode(reader: ProtoReader, index: number): OnnxNode {
  const where = `graph.node[${index}]`
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map(), index }
  while (!reader.done) {
    const { field, wire } = reader.tag()
    switch (field) {
      case 1: reader.expectWire(wire, WIRE_LENGTH, 'input'); node.inputs.push(reader.string()); break
      case 2: reader.expectWire(wire, WIRE_LENGTH, 'output'); node.outputs.push(reader.string()); break
      case 3: reader.expectWire(wire, WIRE_LENGTH, 'name'); node.name = reader.string(); break
      case 4: reader.expectWire(wire, WIRE_LENGTH, 'op_type'); node.opType = reader.string(); break
      case 7: reader.expectWire(wire, WIRE_LENGTH, 'domain'); node.domain = reader.string(); break
      case 5: {
        reader.expectWire(wire, WIRE_LENGTH, 'attribute')
        const attributeWhere = `${where}.attribute[${node.attributes.size}]`
        const attribute = parseAttribute(reader.message(attributeWhere), attributeWhere)
        if (node.attributes.has(attribute.name)) throw malformed(where, `attribute '${attribute.name}' appears twice`)
        node.attributes.set(attribute.name, attribute)
        break
      }
      default: reader.skip(wire)
    }
  }
  return node
}

/** ValueInfoProto: only its name matters here. */
function parseValueName(reader: ProtoReader): string {
  let name = ''
  while (!reader.done) {
    const { field, wire } = reader.tag()
    if (field === 1) {
      reader.expectWire(wire, WIRE_LENGTH, 'name')
      name = reader.string()
    } else {
      reader.skip(wire)
    }
  }
  return name
}

function parseGraph(reader: ProtoReader): OnnxGraph {
  const graph: OnnxGraph = { name: '', nodes: [], initializers: new Map(), sparseInitializers: new Set(), inputs: [], outputs: [] }
  while (!reader.done) {
    const { field, wire } = reader.tag()
    switch (field) {
      case 1: reader.expectWire(wire, WIRE_LENGTH, 'node'); graph.nodes.push(parseNode(reader.message(`graph.node[${graph.nodes.length}]`), graph.nodes.length)); break
      case 2: reader.expectWire(wire, WIRE_LENGTH, 'name'); graph.name = reader.string(); break
      case 5: {
        reader.expectWire(wire, WIRE_LENGTH, 'initializer')
        const where = `graph.initializer[${graph.initializers.size}]`
        const tensor = parseTensor(reader.message(where), where)
        if (graph.initializers.has(tensor.name)) throw malformed('graph', `initializer '${tensor.name}' appears twice`)
        graph.initializers.set(tensor.name, tensor)
        break
      }
      case 11: reader.expectWire(wire, WIRE_LENGTH, 'input'); graph.inputs.push(parseValueName(reader.message('graph.input'))); break
      case 12: reader.expectWire(wire, WIRE_LENGTH, 'output'); graph.outputs.push(parseValueName(reader.message('graph.output'))); break
      case 15: {
        reader.expectWire(wire, WIRE_LENGTH, 'sparse_initializer')
        // SparseTensorProto: values (field 1) is a TensorProto whose name is the initializer's name.
        const sparse = reader.message('graph.sparse_initializer')
        while (!sparse.done) {
          const inner = sparse.tag()
          if (inner.field === 1 && inner.wire === WIRE_LENGTH) {
            graph.sparseInitializers.add(parseTensor(sparse.message('graph.sparse_initializer.values'), 'graph.sparse_initializer.values').name)
          } else {
            sparse.skip(inner.wire)
          }
        }
        break
      }
      default: reader.skip(wire)
    }
  }
  return graph
}

/** Parses an ONNX ModelProto's graph, opsets and IR version. */
export function readOnnxModel(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) throw new SluiceError('readOnnxModel: bytes must be a Uint8Array', 'ERR_INVALID_TYPE')
  if (bytes.length === 0) throw malformed('model', 'the file is empty')
  const reader = new ProtoReader(bytes, 'model')
  let graph: OnnxGraph | undefined
  let irVersion = 0
  const opsets = new Map<string, number>()
  while (!reader.done) {
    const { field, wire } = reader.tag()
    switch (field) {
      case 1: reader.expectWire(wire, WIRE_VARINT, 'ir_version'); irVersion = reader.int64(); break
      case 7: reader.expectWire(wire, WIRE_LENGTH, 'graph'); graph = parseGraph(reader.message('graph')); break
      case 8: {
        reader.expectWire(wire, WIRE_LENGTH, 'opset_import')
        const opset = reader.message('model.opset_import')
        let domain = ''
        let version = 0
        while (!opset.done) {
          const inner = opset.tag()
          if (inner.field === 1 && inner.wire === WIRE_LENGTH) domain = opset.string()
          else if (inner.field === 2 && inner.wire === WIRE_VARINT) version = opset.int64()
          else opset.skip(inner.wire)
        }
        opsets.set(domain === 'ai.onnx' ? '' : domain, version)
        break
      }
      default: reader.skip(wire)
    }
  }
  if (graph === undefined) throw malformed('model', 'no graph (is this an ONNX model file?)')
  return { irVersion, opsets, graph }
}

/**
 * A FLOAT tensor's values as little-endian float32 bytes (count·4 of them, checked against its dims; a view
 * of the model's bytes when stored as one run). ERR_NOT_SUPPORTED for other types or external data.
 */
export function tensorFloatBytes(tensor: OnnxTensor, what: string): Uint8Array {
  checkStorable(tensor, what)
  if (tensor.dataType !== OnnxDataType.FLOAT) {
    throw new SluiceError(`ONNX: ${what} is ${onnxDataTypeName(tensor.dataType)}; only float32 tensors are supported`, 'ERR_NOT_SUPPORTED')
  }
  const floatBytes = tensor.floatData.reduce((sum, run) => sum + run.length, 0)
  const available = tensor.rawData !== undefined ? tensor.rawData.length : floatBytes
  const count = elementCount(tensor.dims, available / 4)
  if (count === undefined || count * 4 !== available) {
    throw malformed(what, `dims [${tensor.dims.join(', ')}] do not match its ${available / 4} float values`)
  }
  return tensor.rawData ?? concat(tensor.floatData, floatBytes)
}

/** Little-endian float32 bytes → Float32Array: a view when aligned on a little-endian host, else a copy. */
export function floatsOfBytes(bytes: Uint8Array): Float32Array {
  const count = bytes.length / 4
  if (littleEndianHost && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count)
  if (littleEndianHost) return new Float32Array(new Uint8Array(bytes).buffer) // a copy (Buffer#slice would not be)
  const values = new Float32Array(count)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true)
  return values
}

/** A FLOAT tensor's values: a view of the model's bytes when aligned, else a copy (callers that keep them copy). */
export function tensorFloats(tensor: OnnxTensor, what: string): Float32Array {
  return floatsOfBytes(tensorFloatBytes(tensor, what))
}

/** An INT64 or INT32 tensor's values as numbers (int64 beyond 2^53 approximated). */
export function tensorIntegers(tensor: OnnxTensor, what: string): number[] {
  checkStorable(tensor, what)
  const size = tensor.dataType === OnnxDataType.INT64 ? 8 : tensor.dataType === OnnxDataType.INT32 ? 4 : 0
  if (size === 0) {
    throw new SluiceError(`ONNX: ${what} is ${onnxDataTypeName(tensor.dataType)}; expected INT64 or INT32`, 'ERR_NOT_SUPPORTED')
  }
  const fieldValues = size === 8 ? tensor.int64Data : tensor.int32Data
  const available = tensor.rawData !== undefined ? tensor.rawData.length / size : fieldValues.length
  const count = elementCount(tensor.dims, available)
  if (count === undefined || count !== available) {
    throw malformed(what, `dims [${tensor.dims.join(', ')}] do not match its ${available} integer values`)
  }
  if (tensor.rawData === undefined) return fieldValues.slice(0, count)
  const view = new DataView(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength)
  const values: number[] = []
  for (let i = 0; i < count; i++) values.push(size === 8 ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true))
  return values
}

function checkStorable(tensor: OnnxTensor, what: string): void {
  if (tensor.external) throw new SluiceError(`ONNX: ${what} keeps its data in an external file; save the model with its weights inside`, 'ERR_NOT_SUPPORTED')
  if (tensor.segmented) throw new SluiceError(`ONNX: ${what} is a segmented tensor`, 'ERR_NOT_SUPPORTED')
}

function concat(runs: Uint8Array[], length: number): Uint8Array {
  if (runs.length === 1) return runs[0]!
  const out = new Uint8Array(length)
  let position = 0
  for (const run of runs) {
    out.set(run, position)
    position += run.length
  }
  return out
}
