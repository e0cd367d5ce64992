// Decoders turn Kafka message values into event columns (timestamps, keys, values row-major). A decoder
// appends to a ColumnBuilder; the adapter checks what it appended (finite timestamps, keys in range) and
// rolls a bad message back, so one undecodable record never poisons the rest of its batch.
import type { PackedKeys } from '../keys/key_column'
import { SluiceError } from '../runtime/errors'
import { expectInteger, expectOneOf } from '../runtime/validate'

/** How decoded events carry keys: dense ids, strings, or raw bytes (packed). */
export type DecodedKeyKind = 'dense' | 'string' | 'bytes'

/** Growable event columns, reused across batches (no per-event allocation once warm). */
export class ColumnBuilder {
  readonly channels: number
  readonly keyKind: DecodedKeyKind
  /** Keys are strings (`names`), not dense ids (`keys`): decoders with `keys: 'string'`. */
  readonly stringKeys: boolean
  length = 0
  timestamps: Float64Array
  keys: Uint32Array
  /** String keys, one per event (stringKeys only). */
  names: string[] = []
  /** Byte keys (keyKind 'bytes'): event i's key is keyBytes[keyOffsets[i] … keyOffsets[i + 1]). */
  keyBytes: Uint8Array
  keyOffsets: Uint32Array
  values: Float64Array

  constructor(channels: number, capacity = 1024, keys: boolean | DecodedKeyKind = false) {
    this.channels = expectInteger(channels, 'channels', 1, 1024)
    this.keyKind = keys === true ? 'string' : keys === false ? 'dense' : expectOneOf(keys, 'keys', ['dense', 'string', 'bytes'] as const)
    this.stringKeys = this.keyKind === 'string'
    this.timestamps = new Float64Array(capacity)
    this.keys = new Uint32Array(capacity)
    this.values = new Float64Array(capacity * this.channels)
    this.keyOffsets = new Uint32Array(this.keyKind === 'bytes' ? capacity + 1 : 1)
    this.keyBytes = new Uint8Array(this.keyKind === 'bytes' ? capacity * 16 : 0)
  }

  /** Makes room for `bytes` more key bytes (byte keys). */
  reserveKeyBytes(bytes: number): void {
    const need = this.keyOffsets[this.length]! + bytes
    if (need <= this.keyBytes.length) return
    const next = new Uint8Array(Math.max(need, 2 * this.keyBytes.length))
    next.set(this.keyBytes.subarray(0, this.keyOffsets[this.length]!))
    this.keyBytes = next
  }

  /** Makes room for `extra` more events. */
  reserve(extra: number): void {
    const need = this.length + extra
    if (need <= this.timestamps.length) return
    const capacity = Math.max(need, 2 * this.timestamps.length)
    const grow = <T extends Float64Array | Uint32Array>(old: T, make: (n: number) => T, per: number): T => {
      const next = make(capacity * per)
      next.set(old.subarray(0, this.length * per))
      return next
    }
    this.timestamps = grow(this.timestamps, (n) => new Float64Array(n), 1)
    this.keys = grow(this.keys, (n) => new Uint32Array(n), 1)
    this.values = grow(this.values, (n) => new Float64Array(n), this.channels)
    if (this.keyKind === 'bytes') {
      const offsets = new Uint32Array(capacity + 1)
      offsets.set(this.keyOffsets.subarray(0, this.length + 1))
      this.keyOffsets = offsets
    }
  }

  /** Appends one event (used by the JSON decoder; the binary decoder writes the arrays directly). */
  append(timestamp: number, key: number | string, values: ArrayLike<number>): void {
    this.reserve(1)
    const i = this.length
    this.timestamps[i] = timestamp
    if (this.stringKeys) {
      this.names[i] = key as string
      this.keys[i] = 0
    } else {
      this.keys[i] = key as number
    }
    const base = i * this.channels
    for (let c = 0; c < this.channels; c++) this.values[base + c] = values[c] ?? NaN
    this.length = i + 1
  }

  clear(): void {
    this.length = 0
  }

  /** Removes events [from, to), moving the later ones down. */
  drop(from: number, to: number): void {
    const n = this.length, gone = to - from, C = this.channels
    if (gone <= 0) return
    this.timestamps.copyWithin(from, to, n)
    this.keys.copyWithin(from, to, n)
    this.values.copyWithin(from * C, to * C, n * C)
    if (this.keyKind === 'string') this.names.splice(from, gone)
    if (this.keyKind === 'bytes') {
      const o = this.keyOffsets, bytes = o[to]! - o[from]!
      this.keyBytes.copyWithin(o[from]!, o[to]!, o[n]!)
      for (let i = to; i <= n; i++) o[i - gone] = o[i]! - bytes
    }
    this.length = n - gone
  }

  /** Views of the filled part (valid until the next append/reserve); string keys as an array of their own. */
  view(): { timestamps: Float64Array; keys: Uint32Array | string[] | PackedKeys; values: Float64Array } {
    const n = this.length
    return { timestamps: this.timestamps.subarray(0, n), keys: this.keysOf(0, n), values: this.values.subarray(0, n * this.channels) }
  }

  /** The keys of events [from, to) in the builder's kind (views, string keys copied). */
  keysOf(from: number, to: number): Uint32Array | string[] | PackedKeys {
    if (this.keyKind === 'string') return this.names.slice(from, to)
    if (this.keyKind === 'bytes') return { bytes: this.keyBytes.subarray(0, this.keyOffsets[to]!), offsets: this.keyOffsets.subarray(from, to + 1) }
    return this.keys.subarray(from, to)
  }
}

/** The raw message as the client hands it over (kafkajs and @confluentinc/kafka-javascript: Buffer or null). */
export type MessageValue = Uint8Array | null | undefined

export interface RecordDecoder {
  /** Values per event. */
  readonly channels: number
  /** 'string': events carry string keys (out.names), for processors built with `keys: 'string'`; 'bytes':
   * raw byte keys (out.keyBytes / keyOffsets), for processors built with `keys: 'bytes'`. Default dense ids. */
  readonly keys?: DecodedKeyKind
  /**
   * Appends the message's events to `out`. Throws (any error) when the message cannot be decoded.
   * `key` is the Kafka message key (decoders that take it as the entity key).
   */
  decode(value: MessageValue, out: ColumnBuilder, key?: MessageValue): void
}

export interface BinaryDecoderOptions {
  /** Values per event (f64 each). */
  channels: number
  /** 'f64' (default) or 'f32' values. */
  valueType?: 'f64' | 'f32'
  /** 'dense' (default): a u32 key id per record. 'bytes': a length-prefixed byte key per record (u16 length,
   * then that many bytes; 0 … 65,535), for processors built with `keys: 'bytes'` (no JS string is made). */
  keys?: 'dense' | 'bytes'
}

/**
 * Fixed-layout little-endian records: {timestamp f64, key u32, values f64×channels} (12 + 8·channels bytes,
 * or 12 + 4·channels with valueType 'f32'), packed; a message may hold any whole number of records.
 */
export function binaryDecoder(options: BinaryDecoderOptions): RecordDecoder & { recordBytes: number } {
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
  const channels = expectInteger(options.channels, 'channels', 1, 1024)
  const valueType = expectOneOf(options.valueType ?? 'f64', 'valueType', ['f64', 'f32'] as const)
  const valueBytes = valueType === 'f64' ? 8 : 4
  if (expectOneOf(options.keys ?? 'dense', 'keys', ['dense', 'bytes'] as const) === 'bytes') return byteKeyDecoder(channels, valueBytes)
  const recordBytes = 12 + valueBytes * channels
  return {
    channels,
    recordBytes,
    decode(value: MessageValue, out: ColumnBuilder): void {
      if (!(value instanceof Uint8Array)) throw new SluiceError('message has no value', 'ERR_MALFORMED_DATA')
      const bytes = value.length
      if (bytes === 0 || bytes % recordBytes !== 0) {
        throw new SluiceError(`message of ${bytes} bytes is not a whole number of ${recordBytes}-byte records`, 'ERR_MALFORMED_DATA')
      }
      const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      const n = bytes / recordBytes
      out.reserve(n)
      const { timestamps, keys, values } = out
      let row = out.length
      let v = row * channels
      for (let at = 0; at < bytes; at += recordBytes, row++) {
        timestamps[row] = buf.readDoubleLE(at)
        keys[row] = buf.readUInt32LE(at + 8)
        let p = at + 12
        if (valueBytes === 8) for (let c = 0; c < channels; c++, p += 8) values[v++] = buf.readDoubleLE(p)
        else for (let c = 0; c < channels; c++, p += 4) values[v++] = buf.readFloatLE(p)
      }
      out.length = row
    },
  }
}

/**
 * binaryDecoder({ keys: 'bytes' }): little-endian records {timestamp f64, key length u16, key bytes, values
 * f64×channels (or f32)}, packed; a message may hold any whole number of records. recordBytes is the size
 * of a record with an empty key (records vary with their keys).
 */
function byteKeyDecoder(channels: number, valueBytes: number): RecordDecoder & { recordBytes: number } {
  const fixed = 10 + valueBytes * channels
  return {
    channels,
    keys: 'bytes',
    recordBytes: fixed,
    decode(value: MessageValue, out: ColumnBuilder): void {
      if (!(value instanceof Uint8Array)) throw new SluiceError('message has no value', 'ERR_MALFORMED_DATA')
      if (out.keyKind !== 'bytes') throw new SluiceError("a decoder with keys: 'bytes' needs a ColumnBuilder of byte keys", 'ERR_INVALID_ARGUMENT')
      const bytes = value.length
      if (bytes === 0) throw new SluiceError('message is empty', 'ERR_MALFORMED_DATA')
      const buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
      // First the layout (every record whole), so a bad message appends nothing.
      let n = 0
      for (let at = 0; at < bytes; n++) {
        if (at + 10 > bytes) throw new SluiceError(`message of ${bytes} bytes ends inside a record header at byte ${at}`, 'ERR_MALFORMED_DATA')
        at += fixed + buf.readUInt16LE(at + 8)
        if (at > bytes) throw new SluiceError(`message of ${bytes} bytes ends inside record ${n}`, 'ERR_MALFORMED_DATA')
      }
      out.reserve(n)
      out.reserveKeyBytes(bytes - n * fixed)
      const { timestamps, values, keyBytes, keyOffsets } = out
      let row = out.length
      let v = row * channels
      let k = keyOffsets[row]!
      for (let at = 0; at < bytes; row++) {
        timestamps[row] = buf.readDoubleLE(at)
        const length = buf.readUInt16LE(at + 8)
        at += 10
        keyBytes.set(buf.subarray(at, at + length), k)
        k += length
        keyOffsets[row + 1] = k
        at += length
        if (valueBytes === 8) for (let c = 0; c < channels; c++, at += 8) values[v++] = buf.readDoubleLE(at)
        else for (let c = 0; c < channels; c++, at += 4) values[v++] = buf.readFloatLE(at)
      }
      out.length = row
    },
  }
}

/** Encodes events in binaryDecoder({ keys: 'bytes' })'s layout (f64 values): keys as bytes or UTF-8 strings. */
export function encodeByteKeyRecords(timestamps: ArrayLike<number>, keys: ArrayLike<Uint8Array | string>, values: ArrayLike<number>, channels: number): Buffer {
  const n = timestamps.length
  const encoded = Array.from({ length: n }, (_, i) => (typeof keys[i] === 'string' ? Buffer.from(keys[i] as string, 'utf8') : keys[i] as Uint8Array))
  for (const key of encoded) if (key.length > 0xffff) throw new SluiceError('a byte key is longer than 65535 bytes', 'ERR_OUT_OF_RANGE')
  const buf = Buffer.allocUnsafe(encoded.reduce((sum, key) => sum + 10 + key.length + 8 * channels, 0))
  for (let i = 0, at = 0; i < n; i++) {
    buf.writeDoubleLE(timestamps[i]!, at)
    buf.writeUInt16LE(encoded[i]!.length, at + 8)
    buf.set(encoded[i]!, at + 10)
    at += 10 + encoded[i]!.length
    for (let c = 0; c < channels; c++, at += 8) buf.writeDoubleLE(values[i * channels + c]!, at)
  }
  return buf
}

/** Encodes events in binaryDecoder's layout (for producers, tests and benchmarks). */
export function encodeBinaryRecords(timestamps: ArrayLike<number>, keys: ArrayLike<number>, values: ArrayLike<number>, channels: number): Buffer {
  const n = timestamps.length
  const recordBytes = 12 + 8 * channels
  const buf = Buffer.allocUnsafe(n * recordBytes)
  for (let i = 0, at = 0; i < n; i++) {
    buf.writeDoubleLE(timestamps[i]!, at)
    buf.writeUInt32LE(keys[i]!, at + 8)
    at += 12
    for (let c = 0; c < channels; c++, at += 8) buf.writeDoubleLE(values[i * channels + c]!, at)
  }
  return buf
}

export interface JsonDecoderOptions {
  channels: number
  /** Field names. Defaults: 'timestamp', 'key', 'values' (a number or an array of `channels` numbers). */
  timestampField?: string
  keyField?: string
  valuesField?: string
  /**
   * 'dense' (default): the key field is an integer id in [0, 2^32). 'string': it is a string (a number is
   * taken as its decimal string), for processors built with `keys: 'string'`.
   */
  keys?: 'dense' | 'string'
  /** With keys 'string': the Kafka message key (UTF-8) is every record's key; the key field is not read. */
  keyFromMessage?: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A string key the windows take: well-formed (no lone surrogate) and at most 65,536 bytes of UTF-8. */
function checkedStringKey(key: string, what: string): string {
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) throw new SluiceError(`${what} is not well-formed Unicode`, 'ERR_MALFORMED_DATA')
  if (key.length > 21845 && Buffer.byteLength(key, 'utf8') > 65536) throw new SluiceError(`${what} is longer than 65536 bytes`, 'ERR_MALFORMED_DATA')
  return key
}

/** JSON messages: one object or an array of objects, e.g. {"timestamp": 1700000000000, "key": 3, "values": [1.5, 2]}. */
export function jsonDecoder(options: JsonDecoderOptions): RecordDecoder {
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
  const channels = expectInteger(options.channels, 'channels', 1, 1024)
  const tf = options.timestampField ?? 'timestamp'
  const kf = options.keyField ?? 'key'
  const vf = options.valuesField ?? 'values'
  const keys = expectOneOf(options.keys ?? 'dense', 'keys', ['dense', 'string'] as const)
  if (options.keyFromMessage !== undefined && typeof options.keyFromMessage !== 'boolean') throw new SluiceError('keyFromMessage must be a boolean', 'ERR_INVALID_TYPE')
  const keyFromMessage = options.keyFromMessage ?? false
  if (keyFromMessage && keys !== 'string') throw new SluiceError("keyFromMessage needs keys: 'string'", 'ERR_INVALID_ARGUMENT')
  const recordKey = (r: Record<string, unknown>): number | string => {
    const key = r[kf] ?? (keys === 'dense' ? 0 : undefined)
    if (keys === 'string') {
      if (typeof key === 'number' && Number.isFinite(key)) return String(key)
      if (typeof key !== 'string') throw new SluiceError(`record "${kf}" must be a string or a number`, 'ERR_MALFORMED_DATA')
      return checkedStringKey(key, `record "${kf}"`)
    }
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > 0xffffffff) {
      throw new SluiceError(`record "${kf}" must be an integer in [0, 2^32)`, 'ERR_MALFORMED_DATA')
    }
    return key
  }
  const one = (record: unknown, out: ColumnBuilder, messageKey: string | undefined) => {
    if (typeof record !== 'object' || record === null) throw new SluiceError('record is not an object', 'ERR_MALFORMED_DATA')
    const r = record as Record<string, unknown>
    const timestamp = r[tf]
    if (typeof timestamp !== 'number') throw new SluiceError(`record has no numeric "${tf}"`, 'ERR_MALFORMED_DATA')
    const key = messageKey ?? recordKey(r)
    let values = r[vf]
    if (typeof values === 'number') values = [values]
    if (!Array.isArray(values) || values.length !== channels || values.some((x) => typeof x !== 'number' && x !== null)) {
      throw new SluiceError(`record "${vf}" must be ${channels} number(s)`, 'ERR_MALFORMED_DATA')
    }
    // null stands for a missing reading (JSON has no NaN).
    out.append(timestamp, key, values.map((x: number | null) => (x === null ? NaN : x)))
  }
  return {
    channels,
    keys,
    decode(value: MessageValue, out: ColumnBuilder, key?: MessageValue): void {
      if (!(value instanceof Uint8Array)) throw new SluiceError('message has no value', 'ERR_MALFORMED_DATA')
      if (keys === 'string' && !out.stringKeys) throw new SluiceError("a decoder with keys: 'string' needs a ColumnBuilder of string keys", 'ERR_INVALID_ARGUMENT')
      let messageKey: string | undefined
      if (keyFromMessage) {
        if (!(key instanceof Uint8Array)) throw new SluiceError('message has no key', 'ERR_MALFORMED_DATA')
        try {
          messageKey = checkedStringKey(utf8.decode(key), 'message key')
        } catch (error) {
          throw error instanceof SluiceError ? error : new SluiceError('message key is not valid UTF-8', 'ERR_MALFORMED_DATA')
        }
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8'))
      } catch (error) {
        throw new SluiceError(`invalid JSON: ${(error as Error).message}`, 'ERR_MALFORMED_DATA')
      }
      if (Array.isArray(parsed)) for (const record of parsed) one(record, out, messageKey)
      else one(parsed, out, messageKey)
    },
  }
}
