// Snapshot bytes in the tests: the common envelope's frame checked field by field against an independent
// CRC-32 (node:zlib), and bytes resealed after a field was changed on purpose, so that they are refused for
// that field (version, kind, magic), not as corrupt.
import { crc32 } from 'node:zlib'
import { expect } from 'vitest'

/** The envelope's header: "SLCE" | u16 format version | u16 kind | u64 payload length. */
export const ENVELOPE_HEADER = 16

/** Checks `bytes` is a sealed envelope of kind number `kind`, format version `version`, with `payload` if given. */
export function expectEnvelope(bytes: Uint8Array, kind: number, { version = 2, payload }: { version?: number; payload?: Uint8Array } = {}): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = bytes.length - 4
  expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('SLCE')
  expect(view.getUint16(4, true)).toBe(version)
  expect(view.getUint16(6, true)).toBe(kind)
  expect(view.getBigUint64(8, true)).toBe(BigInt(end - ENVELOPE_HEADER))
  if (payload) expect(Array.from(bytes.subarray(ENVELOPE_HEADER, end))).toEqual(Array.from(payload))
  expect(view.getUint32(end, true)).toBe(crc32(bytes.subarray(0, end)))
}

/** `bytes` with its last 4 bytes set to the CRC-32 of everything before them (in place; returns `bytes`). */
export function withValidCrc<T extends Uint8Array>(bytes: T): T {
  const end = bytes.length - 4
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(end, crc32(bytes.subarray(0, end)), true)
  return bytes
}
