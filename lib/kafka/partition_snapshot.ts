// The bytes a state store holds for one partition: where it stands (topic, partition, next offset, max
// event time) and the processor's own snapshot, in the common sluice snapshot envelope (kind
// 'kafka-partition'). Payload: u32 header length | JSON header | processor bytes.
import { SluiceError } from '../runtime/errors'
import { openSnapshot, sealSnapshot } from '../runtime/snapshot_envelope'

/**
 * The format version of the snapshot envelope that partition snapshots are written in (the common sluice
 * envelope, "SLCE", shared with every other snapshot). Snapshots of versions 1 to this one are read (the
 * partition payload is the same in each); another version is refused with ERR_NOT_SUPPORTED, as is one in the
 * 0.1 partition layout ("SLKP").
 */
export const PARTITION_SNAPSHOT_VERSION = 2

export interface PartitionSnapshotHeader {
  topic: string
  partition: number
  /** The next offset to consume: every message below it is in the processor state, emitted, or dead-lettered. */
  offset: number
  /** Greatest event time seen in the partition (−Infinity before its first event). */
  maxTimestamp: number
  /**
   * Absent in a full record. In an incremental one (the processor's snapshotDelta()): the offset of the
   * record it builds on (`previous`, whose state it changes) and of its chain's full record (`base`).
   */
  delta?: { base: number; previous: number }
}

export function encodePartitionSnapshot(header: PartitionSnapshotHeader, processorBytes: Uint8Array): Uint8Array {
  const json = Buffer.from(JSON.stringify({ ...header, maxTimestamp: Number.isFinite(header.maxTimestamp) ? header.maxTimestamp : null }), 'utf8')
  const payload = Buffer.alloc(4 + json.length + processorBytes.length)
  payload.writeUInt32LE(json.length, 0)
  json.copy(payload, 4)
  payload.set(processorBytes, 4 + json.length)
  return sealSnapshot('kafka-partition', payload)
}

/** Parses and checks a partition snapshot; throws ERR_MALFORMED_DATA / ERR_NOT_SUPPORTED with the reason. */
export function decodePartitionSnapshot(bytes: Uint8Array): { header: PartitionSnapshotHeader; processorBytes: Uint8Array } {
  const payload = openSnapshot(bytes, 'kafka-partition')
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
  if (buf.length < 4) throw new SluiceError('partition snapshot has no header', 'ERR_MALFORMED_DATA')
  const headerLength = buf.readUInt32LE(0)
  if (4 + headerLength > buf.length) throw new SluiceError('partition snapshot header overruns the bytes', 'ERR_MALFORMED_DATA')
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(buf.subarray(4, 4 + headerLength).toString('utf8'))
  } catch {
    throw new SluiceError('partition snapshot header is not JSON', 'ERR_MALFORMED_DATA')
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SluiceError('partition snapshot header is not a JSON object', 'ERR_MALFORMED_DATA')
  }
  const { topic, partition, offset, maxTimestamp, delta } = parsed
  if (typeof topic !== 'string' || !Number.isSafeInteger(partition) || !Number.isSafeInteger(offset) || (maxTimestamp !== null && typeof maxTimestamp !== 'number')) {
    throw new SluiceError('partition snapshot header has missing or invalid fields', 'ERR_MALFORMED_DATA')
  }
  let link: PartitionSnapshotHeader['delta']
  if (delta !== undefined) {
    const { base, previous } = (typeof delta === 'object' && delta !== null ? delta : {}) as Record<string, unknown>
    if (!Number.isSafeInteger(base) || !Number.isSafeInteger(previous) || !((base as number) <= (previous as number) && (previous as number) < (offset as number))) {
      throw new SluiceError('partition snapshot header has an invalid delta link', 'ERR_MALFORMED_DATA')
    }
    link = { base: base as number, previous: previous as number }
  }
  return {
    header: { topic, partition: partition as number, offset: offset as number, maxTimestamp: maxTimestamp === null ? -Infinity : (maxTimestamp as number), ...(link ? { delta: link } : {}) },
    processorBytes: payload.subarray(4 + headerLength),
  }
}
