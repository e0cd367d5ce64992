// The one envelope of every sluice snapshot (native/core/base/snapshot.h), for the snapshots whose payload
// TypeScript writes: the pipeline's and the Kafka partition's. Sealing and opening run the core's own code,
// so these snapshots have the native classes' layout, checksum and checks.
//   "SLCE" | u16 format version | u16 kind | u64 payload length | payload | u32 CRC-32 of everything before
import { SluiceError } from './errors'
import { native } from './native'

/** The snapshot kinds whose payload is written in TypeScript (the core's table names every kind). */
export type SnapshotKindName = 'pipeline' | 'keyed-pipeline' | 'kafka-partition'

/** The layouts of 0.1.0 (unpublished), each with its own magic; refused by name rather than as "not a snapshot". */
const LEGACY_LAYOUTS = new Map([
  ['SLPL', 'a pipeline snapshot'],
  ['SLKP', 'a Kafka partition snapshot'],
])

/** `payload` in the envelope, marked as `kind`. */
export function sealSnapshot(kind: SnapshotKindName, payload: Uint8Array): Uint8Array {
  return native().snapshotEnvelope.seal(kind, payload)
}

/**
 * The payload of a snapshot of `kind`. Throws ERR_MALFORMED_DATA for bytes that are truncated, corrupt or of
 * another kind, and ERR_NOT_SUPPORTED for another format version or a 0.1 layout.
 */
export function openSnapshot(bytes: Uint8Array, kind: SnapshotKindName): Uint8Array {
  const magic = bytes.length >= 4 ? String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!) : ''
  const legacy = LEGACY_LAYOUTS.get(magic)
  if (legacy !== undefined) {
    throw new SluiceError(`cannot restore ${legacy} in the 0.1 layout (${magic}); this version reads the common sluice envelope (SLCE); take a new snapshot`, 'ERR_NOT_SUPPORTED')
  }
  return native().snapshotEnvelope.open(bytes, kind)
}
