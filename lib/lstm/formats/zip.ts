// A minimal reader of zip archives (Keras 3's .keras files): the central directory, stored and deflated
// entries, inflated with Node's zlib. The bytes are untrusted: every offset and length is checked against
// the archive before use, inflation stops at the size the directory declares (no zip bombs), and each
// entry's CRC-32 is verified. Failures are SluiceError (ERR_MALFORMED_DATA; ERR_NOT_SUPPORTED for zip64,
// encryption and other compression methods).
import zlib from 'node:zlib'
import { SluiceError } from '../../runtime/errors'

const END_OF_DIRECTORY = 0x06054b50
const DIRECTORY_ENTRY = 0x02014b50
const LOCAL_HEADER = 0x04034b50
/** Largest entry inflated: far above any LSTM's weights, far below what would exhaust memory. */
const MAX_ENTRY_BYTES = 1 << 30

export interface ZipEntry {
  name: string
  method: number
  flags: number
  crc32: number
  compressedSize: number
  size: number
  localHeaderOffset: number
}

function malformed(file: string, message: string): SluiceError {
  return new SluiceError(`${file}: not a valid zip archive: ${message}`, 'ERR_MALFORMED_DATA')
}

const names = new TextDecoder('utf-8', { fatal: false })

/** Whether `bytes` start like a zip archive (a local file header). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04
}

/** The archive's entries, from its central directory. */
export function zipEntries(bytes: Uint8Array, file: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // The end record is the last 22 bytes, or earlier by a comment of up to 65535 bytes.
  let end = -1
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === END_OF_DIRECTORY && at + 22 + view.getUint16(at + 20, true) === bytes.length) {
      end = at
      break
    }
  }
  if (end < 0) throw malformed(file, 'no end-of-central-directory record')
  const disk = view.getUint16(end + 4, true)
  const directoryDisk = view.getUint16(end + 6, true)
  const count = view.getUint16(end + 10, true)
  const directorySize = view.getUint32(end + 12, true)
  const directoryOffset = view.getUint32(end + 16, true)
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    throw new SluiceError(`${file}: zip64 archives are not supported`, 'ERR_NOT_SUPPORTED')
  }
  if (disk !== 0 || directoryDisk !== 0 || view.getUint16(end + 8, true) !== count) throw malformed(file, 'multi-disk archives are not supported')
  if (directoryOffset + directorySize > end) throw malformed(file, 'the central directory runs past its end record')

  const entries = new Map<string, ZipEntry>()
  let at = directoryOffset
  for (let k = 0; k < count; k++) {
    if (at + 46 > directoryOffset + directorySize || view.getUint32(at, true) !== DIRECTORY_ENTRY) throw malformed(file, `central directory entry ${k} is damaged`)
    const nameLength = view.getUint16(at + 28, true)
    const extraLength = view.getUint16(at + 30, true)
    const commentLength = view.getUint16(at + 32, true)
    const next = at + 46 + nameLength + extraLength + commentLength
    if (next > directoryOffset + directorySize) throw malformed(file, `central directory entry ${k} runs past the directory`)
    const entry: ZipEntry = {
      name: names.decode(bytes.subarray(at + 46, at + 46 + nameLength)),
      flags: view.getUint16(at + 8, true),
      method: view.getUint16(at + 10, true),
      crc32: view.getUint32(at + 16, true),
      compressedSize: view.getUint32(at + 20, true),
      size: view.getUint32(at + 24, true),
      localHeaderOffset: view.getUint32(at + 42, true),
    }
    if (entry.compressedSize === 0xffffffff || entry.size === 0xffffffff || entry.localHeaderOffset === 0xffffffff) {
      throw new SluiceError(`${file}: zip64 entry '${entry.name}' is not supported`, 'ERR_NOT_SUPPORTED')
    }
    if (entries.has(entry.name)) throw malformed(file, `'${entry.name}' appears twice`)
    entries.set(entry.name, entry)
    at = next
  }
  return entries
}

/** The uncompressed bytes of `entry`, checked against its size and CRC-32. */
export function zipEntryBytes(bytes: Uint8Array, entry: ZipEntry, file: string): Uint8Array {
  const where = `${file}: '${entry.name}'`
  if ((entry.flags & 1) !== 0) throw new SluiceError(`${where} is encrypted`, 'ERR_NOT_SUPPORTED')
  if (entry.method !== 0 && entry.method !== 8) throw new SluiceError(`${where} uses compression method ${entry.method}; only stored and deflated entries are supported`, 'ERR_NOT_SUPPORTED')
  if (entry.size > MAX_ENTRY_BYTES) throw new SluiceError(`${where} is ${entry.size} bytes; at most ${MAX_ENTRY_BYTES} are read`, 'ERR_NOT_SUPPORTED')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const header = entry.localHeaderOffset
  if (header + 30 > bytes.length || view.getUint32(header, true) !== LOCAL_HEADER) throw malformed(file, `${where}: local header missing`)
  const start = header + 30 + view.getUint16(header + 26, true) + view.getUint16(header + 28, true)
  if (start + entry.compressedSize > bytes.length) throw malformed(file, `${where} runs past the end of the archive`)
  const stored = bytes.subarray(start, start + entry.compressedSize)
  let data: Uint8Array
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) throw malformed(file, `${where} is stored but its sizes differ`)
    data = stored
  } else {
    try {
      // One byte more than declared: a stream that inflates beyond its declared size fails the check below.
      data = zlib.inflateRawSync(stored, { maxOutputLength: entry.size + 1 })
    } catch (error) {
      throw malformed(file, `${where} does not inflate: ${(error as Error).message}`)
    }
    if (data.length !== entry.size) throw malformed(file, `${where} inflates to ${data.length} bytes, the directory says ${entry.size}`)
  }
  if (zlib.crc32(data) !== entry.crc32) throw malformed(file, `${where} fails its CRC-32 check`)
  return data
}
