// The bytes a state store holds for one partition: where it stands (topic, partition, next offset, max
// event time) and the processor's own snapshot, behind a magic, a version and a CRC-32 of everything.
import zlib from 'node:zlib'
import { SluiceError } from '../runtime/errors'

const MAGIC = 0x504b4c53 // "SLKP" little-endian
export const PARTITION_SNAPSHOT_VERSION = 1

export interface PartitionSnapshotHeader {
  topic: string
  partition: number
  /** The next offset to consume: every message below it is in the processor state, emitted, or dead-lettered. */
  offset: number
  /** Greatest event time seen in the partition (−Infinity before its first event). */
  maxTimestamp: number
}

export function encodePartitionSnapshot(header: PartitionSnapshotHeader, processorBytes: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify({ ...header, maxTimestamp: Number.isFinite(header.maxTimestamp) ? header.maxTimestamp : null }), 'utf8')
  const out = Buffer.alloc(10 + json.length + processorBytes.length + 4)
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt16LE(PARTITION_SNAPSHOT_VERSION, 4)
  out.writeUInt32LE(json.length, 6)
  json.copy(out, 10)
  out.set(processorBytes, 10 + json.length)
  const end = out.length - 4
  out.writeUInt32LE(zlib.crc32(out.subarray(0, end)), end)
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
}

/** Parses and checks a partition snapshot; throws ERR_MALFORMED_DATA / ERR_NOT_SUPPORTED with the reason. */
export function decodePartitionSnapshot(bytes: Uint8Array): { header: PartitionSnapshotHeader; processorBytes: Uint8Array } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < 14 || buf.readUInt32LE(0) !== MAGIC) throw new SluiceError('not a sluice partition snapshot (bad magic or too short)', 'ERR_MALFORMED_DATA')
  const version = buf.readUInt16LE(4)
  if (version !== PARTITION_SNAPSHOT_VERSION) {
    throw new SluiceError(`partition snapshot version ${version} is not supported (this build reads version ${PARTITION_SNAPSHOT_VERSION})`, 'ERR_NOT_SUPPORTED')
  }
  const end = buf.length - 4
  if (zlib.crc32(buf.subarray(0, end)) !== buf.readUInt32LE(end)) throw new SluiceError('partition snapshot checksum mismatch (corrupt bytes)', 'ERR_MALFORMED_DATA')
  const headerLength = buf.readUInt32LE(6)
  if (10 + headerLength > end) throw new SluiceError('partition snapshot header overruns the bytes', 'ERR_MALFORMED_DATA')
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(buf.subarray(10, 10 + headerLength).toString('utf8'))
  } catch {
    throw new SluiceError('partition snapshot header is not JSON', 'ERR_MALFORMED_DATA')
  }
  const { topic, partition, offset, maxTimestamp } = parsed
  if (typeof topic !== 'string' || !Number.isSafeInteger(partition) || !Number.isSafeInteger(offset) || (maxTimestamp !== null && typeof maxTimestamp !== 'number')) {
    throw new SluiceError('partition snapshot header has missing or invalid fields', 'ERR_MALFORMED_DATA')
  }
  return {
    header: { topic, partition: partition as number, offset: offset as number, maxTimestamp: maxTimestamp === null ? -Infinity : (maxTimestamp as number) },
    processorBytes: new Uint8Array(buf.buffer, buf.byteOffset + 10 + headerLength, end - 10 - headerLength),
  }
}
