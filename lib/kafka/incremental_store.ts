// Incremental checkpoints over any StateStore. A snapshot is cut into content-defined chunks
// (runtime/content_chunks.ts); each put stores one record: the snapshot's manifest (its chunks' hashes and
// lengths in order, its length and 128-bit hash) plus the bytes of only those chunks that no record of its
// chain holds yet. A chain starts with a full record (every chunk) and links each increment to the one
// before it; every `fullEvery` puts start a new chain, and prune() then drops the old chain whole
// (compaction). get() walks back from the record to its full, reassembles the snapshot and checks its hash:
// a missing record or chunk, or any corrupted byte, is ERR_MALFORMED_DATA and nothing is returned.
// Like Flink's RocksDB incremental checkpoints (which upload only SST files not yet stored), the bytes
// written shrink, the work does not: the snapshot is still taken whole, chunked and hashed.
//
// Record layout (little-endian):
//   "SLIC" | u16 version | u8 type (0 full, 1 increment) | u8 0 | f64 offset | f64 base offset (the full's) |
//   f64 previous offset (-1 for a full) | f64 snapshot length | 16 B snapshot hash (the hash of the n chunk
//   hashes) | u32 chunk count n | u32 stored count m | n × 16 B chunk hash | n × u32 chunk length | m × u32
//   index of a stored chunk in the manifest (increasing) | 16 B hash of everything before it | the m chunks'
//   bytes in that order.
// The record's hash covers its header and manifest; chunk bytes are checked where they are used: a restore
// hashes every chunk of the reassembled snapshot against the manifest (one pass over the snapshot, not one
// over every record of the chain).
import { contentHash, cutContentChunks, hashContentChunks, type ChunkSizes } from '../runtime/content_chunks'
import { SluiceError } from '../runtime/errors'
import type { StateStore, StoredSnapshot } from './state_store'

const MAGIC = 'SLIC'
const RECORD_VERSION = 1
const FIXED_HEADER = 4 + 2 + 1 + 1 + 8 * 4 + 16 + 4 + 4
const HASH_BYTES = 16
const FULL = 0
const INCREMENT = 1

export interface IncrementalStateStoreOptions {
  /** Every fullEvery-th put of a partition is a full record (a new chain); ≥ 1, 1 = every put full. Default 16. */
  fullEvery?: number
  /** The chunk sizes (see cutContentChunks); default 256 B / 1 KiB / 8 KiB. */
  chunkSizes?: ChunkSizes
}

export interface IncrementalStoreStats {
  fullPuts: number
  incrementalPuts: number
  /** Bytes of the snapshots given to put(). */
  snapshotBytes: number
  /** Bytes of the records written to the inner store (manifests and new chunks). */
  storedBytes: number
}

interface ParsedRecord {
  type: number
  offset: number
  base: number
  previous: number
  length: number
  hash: Uint8Array
  /** The manifest: the chunks' hashes (16 bytes each) and lengths, in order. */
  hashBlock: Uint8Array
  chunkHashes: string[]
  chunkLengths: Uint32Array
  /** The chunks whose bytes this record carries: their hashes, and their bytes in the same order. */
  storedKeys: string[]
  storedBytes: Uint8Array[]
}

/** What the store knows of a partition's current chain: its records in order and the chunks they hold. */
interface Chain {
  base: number
  records: { offset: number; stored: string[] }[]
  /** Every chunk the records hold; made from `records` when first needed (a restore does not pay for it). */
  known: Set<string> | undefined
}

/** The 16-byte hashes in `block` as strings, for Map and Set keys (one decode, then slices of it). */
function hashKeys(block: Uint8Array): string[] {
  const text = Buffer.from(block.buffer, block.byteOffset, block.byteLength).toString('latin1')
  const keys: string[] = new Array(block.length / HASH_BYTES)
  for (let i = 0; i < keys.length; i++) keys[i] = text.slice(i * HASH_BYTES, (i + 1) * HASH_BYTES)
  return keys
}

function malformed(message: string): SluiceError {
  return new SluiceError(`incremental checkpoint: ${message}`, 'ERR_MALFORMED_DATA')
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

function isRecord(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) === MAGIC
}

/** A record's fields, every length checked before use; ERR_MALFORMED_DATA for anything inconsistent. */
function parseRecord(bytes: Uint8Array): ParsedRecord {
  if (bytes.length < FIXED_HEADER + HASH_BYTES || !isRecord(bytes)) throw malformed('not a checkpoint record')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = view.getUint32(56, true)
  const m = view.getUint32(60, true)
  const manifestEnd = FIXED_HEADER + n * (HASH_BYTES + 4) + m * 4
  if (m > n || manifestEnd + HASH_BYTES > bytes.length) throw malformed('record truncated')
  if (!sameBytes(contentHash(bytes.subarray(0, manifestEnd)), bytes.subarray(manifestEnd, manifestEnd + HASH_BYTES))) throw malformed('record checksum mismatch')
  const version = view.getUint16(4, true)
  if (version !== RECORD_VERSION) throw new SluiceError(`incremental checkpoint: record version ${version} is not supported (this version reads ${RECORD_VERSION})`, 'ERR_NOT_SUPPORTED')
  const type = view.getUint8(6)
  const offset = view.getFloat64(8, true)
  const base = view.getFloat64(16, true)
  const previous = view.getFloat64(24, true)
  const length = view.getFloat64(32, true)
  const integral = [offset, base, length].every((x) => Number.isSafeInteger(x) && x >= 0) && Number.isSafeInteger(previous)
  const linked = type === FULL ? base === offset && previous === -1 : type === INCREMENT && base <= previous && previous < offset && previous >= 0
  if (!integral || !linked) throw malformed('record header out of range')
  let at = FIXED_HEADER
  const hashBlock = bytes.subarray(at, at + n * HASH_BYTES)
  const chunkHashes = hashKeys(hashBlock)
  at += n * HASH_BYTES
  const chunkLengths = new Uint32Array(n)
  let total = 0
  for (let i = 0; i < n; i++) total += chunkLengths[i] = view.getUint32(at + 4 * i, true)
  if (total !== length) throw malformed('chunk lengths do not add up to the snapshot length')
  at += 4 * n
  const storedKeys: string[] = new Array(m)
  const storedBytes: Uint8Array[] = new Array(m)
  let dataAt = manifestEnd + HASH_BYTES
  let last = -1
  for (let j = 0; j < m; j++) {
    const index = view.getUint32(at + 4 * j, true)
    if (index <= last || index >= n) throw malformed('stored chunk index out of range')
    last = index
    const size = chunkLengths[index]!
    if (dataAt + size > bytes.length) throw malformed('record truncated')
    storedKeys[j] = chunkHashes[index]!
    storedBytes[j] = bytes.subarray(dataAt, dataAt + size)
    dataAt += size
  }
  if (dataAt !== bytes.length) throw malformed('record has trailing bytes')
  // (A full record that lacks a chunk is found when a restore looks for it.)
  return { type, offset, base, previous, length, hash: bytes.subarray(40, 56), hashBlock, chunkHashes, chunkLengths, storedKeys, storedBytes }
}

/**
 * A StateStore that writes incremental checkpoints into another one (FileStateStore, KafkaStateStore or any
 * other): pass it to the adapter in place of the inner store. Records of the inner store that are not
 * incremental (written before the switch) are read as they are.
 */
export class IncrementalStateStore implements StateStore {
  readonly inner: StateStore
  readonly fullEvery: number
  private readonly chunkSizes: ChunkSizes
  private readonly chains = new Map<string, Chain>()
  /** Base (full) offset of every record this store wrote or read, per partition: prune() keeps chains whole. */
  private readonly bases = new Map<string, Map<number, number>>()
  private readonly counters: IncrementalStoreStats = { fullPuts: 0, incrementalPuts: 0, snapshotBytes: 0, storedBytes: 0 }

  constructor(inner: StateStore, options: IncrementalStateStoreOptions = {}) {
    if (typeof inner !== 'object' || inner === null || typeof inner.put !== 'function' || typeof inner.get !== 'function' || typeof inner.prune !== 'function') {
      throw new SluiceError('inner must be a StateStore (put, get, prune)', 'ERR_INVALID_TYPE')
    }
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    const fullEvery = options.fullEvery ?? 16
    if (typeof fullEvery !== 'number') throw new SluiceError('fullEvery must be a number', 'ERR_INVALID_TYPE')
    if (!Number.isSafeInteger(fullEvery) || fullEvery < 1) throw new SluiceError('fullEvery must be an integer >= 1', 'ERR_OUT_OF_RANGE')
    this.inner = inner
    this.fullEvery = fullEvery
    this.chunkSizes = { ...options.chunkSizes }
    cutContentChunks(new Uint8Array(0), this.chunkSizes) // checks the sizes now, not at the first checkpoint
  }

  /** Puts and bytes since this store was made. */
  stats(): IncrementalStoreStats {
    return { ...this.counters }
  }

  async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) throw new SluiceError('bytes must be a Uint8Array', 'ERR_INVALID_TYPE')
    if (!Number.isSafeInteger(offset) || offset < 0) throw new SluiceError('offset must be a non-negative integer', 'ERR_OUT_OF_RANGE')
    const id = `${topic}/${partition}`
    const chain = this.chains.get(id)
    // A second checkpoint at the same offset (an idle partition whose watermark moved) replaces the record
    // there: the new one links to the record before it, and the replaced record's chunks are not relied on.
    let records = chain?.records ?? []
    if (records.length > 0 && records[records.length - 1]!.offset === offset) records = records.slice(0, -1)
    const previous = records[records.length - 1]
    const full = chain === undefined || previous === undefined || previous.offset > offset || records.length >= this.fullEvery
    // The chunks already stored in the chain (rebuilt only when a record was replaced); not changed until the put succeeded.
    const known = full ? new Set<string>() : records === chain!.records ? (chain!.known ??= new Set(records.flatMap((r) => r.stored))) : new Set(records.flatMap((r) => r.stored))
    const fresh = new Set<string>()
    const { lengths, hashes } = cutContentChunks(bytes, this.chunkSizes)
    const n = lengths.length
    const keys = hashKeys(hashes)
    const storedIndices: number[] = []
    let storedBytes = 0
    for (let i = 0; i < n; i++) {
      if (known.has(keys[i]!) || fresh.has(keys[i]!)) continue
      fresh.add(keys[i]!)
      storedIndices.push(i)
      storedBytes += lengths[i]!
    }
    const base = full ? offset : chain!.base
    const manifestEnd = FIXED_HEADER + n * (HASH_BYTES + 4) + storedIndices.length * 4
    const size = manifestEnd + HASH_BYTES + storedBytes
    const record = new Uint8Array(size)
    const view = new DataView(record.buffer)
    record.set([0x53, 0x4c, 0x49, 0x43]) // "SLIC"
    view.setUint16(4, RECORD_VERSION, true)
    view.setUint8(6, full ? FULL : INCREMENT)
    view.setFloat64(8, offset, true)
    view.setFloat64(16, base, true)
    view.setFloat64(24, full ? -1 : previous!.offset, true)
    view.setFloat64(32, bytes.length, true)
    record.set(contentHash(hashes), 40)
    view.setUint32(56, n, true)
    view.setUint32(60, storedIndices.length, true)
    let at = FIXED_HEADER
    record.set(hashes, at)
    at += n * HASH_BYTES
    for (let i = 0; i < n; i++, at += 4) view.setUint32(at, lengths[i]!, true)
    for (const index of storedIndices) {
      view.setUint32(at, index, true)
      at += 4
    }
    record.set(contentHash(record.subarray(0, manifestEnd)), manifestEnd)
    at += HASH_BYTES
    const starts = new Float64Array(n)
    for (let i = 1; i < n; i++) starts[i] = starts[i - 1]! + lengths[i - 1]!
    for (const index of storedIndices) {
      record.set(bytes.subarray(starts[index]!, starts[index]! + lengths[index]!), at)
      at += lengths[index]!
    }
    await this.inner.put(topic, partition, offset, record)
    const stored = storedIndices.map((i) => keys[i]!)
    for (const key of stored) known.add(key)
    this.chains.set(id, { base, records: full ? [{ offset, stored }] : [...records, { offset, stored }], known })
    this.baseMap(id).set(offset, base)
    if (full) this.counters.fullPuts++
    else this.counters.incrementalPuts++
    this.counters.snapshotBytes += bytes.length
    this.counters.storedBytes += record.length
  }

  async get(topic: string, partition: number, atOrBefore: number): Promise<StoredSnapshot | undefined> {
    const id = `${topic}/${partition}`
    const found = await this.inner.get(topic, partition, atOrBefore)
    this.chains.delete(id) // the next put starts a new chain unless this get reads a whole one
    if (!found || !isRecord(found.bytes)) return found
    const newest = parseRecord(found.bytes)
    if (newest.offset !== found.offset) throw malformed(`record at offset ${found.offset} says it is at ${newest.offset}`)
    const walked = [newest]
    for (let record = newest; record.type !== FULL; ) {
      const before = await this.inner.get(topic, partition, record.previous)
      if (!before || before.offset !== record.previous) throw malformed(`record at offset ${record.previous}, which the record at ${record.offset} builds on, is missing`)
      const parsed = parseRecord(before.bytes)
      if (parsed.offset !== before.offset || parsed.base !== newest.base) throw malformed(`record at offset ${before.offset} belongs to another chain`)
      walked.push(parsed)
      record = parsed
    }
    // The bytes of each chunk the snapshot needs, from the newest record that holds it.
    const needed = new Map<string, Uint8Array | undefined>()
    for (const key of newest.chunkHashes) needed.set(key, undefined)
    for (const record of walked) {
      for (let j = 0; j < record.storedKeys.length; j++) {
        const key = record.storedKeys[j]!
        if (needed.has(key) && needed.get(key) === undefined) needed.set(key, record.storedBytes[j])
      }
    }
    const snapshot = new Uint8Array(newest.length)
    let at = 0
    for (let i = 0; i < newest.chunkHashes.length; i++) {
      const chunk = needed.get(newest.chunkHashes[i]!)
      if (!chunk || chunk.length !== newest.chunkLengths[i]) throw malformed(`chunk ${i} of the snapshot at offset ${newest.offset} is missing`)
      snapshot.set(chunk, at)
      at += chunk.length
    }
    // Every chunk against its hash in the manifest, and the manifest against the snapshot's hash.
    if (!sameBytes(hashContentChunks(snapshot, newest.chunkLengths), newest.hashBlock) || !sameBytes(contentHash(newest.hashBlock), newest.hash)) {
      throw malformed(`reassembled snapshot at offset ${newest.offset} fails its checksum`)
    }
    walked.reverse()
    this.chains.set(id, { base: newest.base, records: walked.map((r) => ({ offset: r.offset, stored: r.storedKeys })), known: undefined })
    for (const r of walked) this.baseMap(id).set(r.offset, r.base)
    return { offset: found.offset, bytes: snapshot }
  }

  /**
   * Forgets what a restore at or after `keepFrom` cannot need: the records below the full record that the
   * record at `keepFrom` builds on (so a chain is dropped only whole, once a newer full exists).
   */
  async prune(topic: string, partition: number, keepFrom: number): Promise<void> {
    const id = `${topic}/${partition}`
    const bases = this.baseMap(id)
    let at: number | undefined
    for (const offset of bases.keys()) if (offset <= keepFrom && (at === undefined || offset > at)) at = offset
    let base = at === undefined ? undefined : bases.get(at)
    if (base === undefined) {
      const found = await this.inner.get(topic, partition, keepFrom)
      if (!found) return
      base = isRecord(found.bytes) ? parseRecord(found.bytes).base : found.offset
    }
    const from = Math.min(base, keepFrom)
    for (const offset of [...bases.keys()]) if (offset < from) bases.delete(offset)
    await this.inner.prune(topic, partition, from)
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve()
  }

  private baseMap(id: string): Map<number, number> {
    let map = this.bases.get(id)
    if (!map) this.bases.set(id, (map = new Map()))
    return map
  }
}
