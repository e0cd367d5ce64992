// Content-defined chunks of a byte string (native/core/base/content_chunks.h): cut where a rolling hash of
// the content matches a pattern, so an edit changes only the chunks around it and every other chunk keeps
// its bytes and its 128-bit hash. Incremental checkpoints (lib/kafka/incremental_store.ts) store each
// distinct chunk once.
import { SluiceError } from './errors'
import { native } from './native'

export interface ChunkSizes {
  /** No cut before this many bytes (≥ 64). Default 256. */
  minSize?: number
  /** The typical chunk size, a power of two. Default 1 KiB. */
  averageSize?: number
  /** A cut is forced here (≤ 16 MiB). Default 8 KiB. */
  maxSize?: number
}

export interface ContentChunks {
  /** The chunks' lengths in order (they sum to the input's length). */
  lengths: Uint32Array
  /** The chunks' hashes, 16 bytes each, in the same order. */
  hashes: Uint8Array
}

/** As the core's defaults (base/content_chunks.h: small, because a checkpoint's changes are scattered). */
export const DEFAULT_CHUNK_SIZES: Required<ChunkSizes> = { minSize: 256, averageSize: 1024, maxSize: 8192 }

/** `bytes` cut into content-defined chunks. ERR_OUT_OF_RANGE for sizes outside 64 ≤ min < average (a power of two) < max ≤ 16 MiB. */
export function cutContentChunks(bytes: Uint8Array, sizes: ChunkSizes = {}): ContentChunks {
  if (!(bytes instanceof Uint8Array)) throw new SluiceError('bytes must be a Uint8Array', 'ERR_INVALID_TYPE')
  const { minSize, averageSize, maxSize } = { ...DEFAULT_CHUNK_SIZES, ...sizes }
  return native().contentChunks.cut(bytes, minSize, averageSize, maxSize)
}

/** The 128-bit content hash of `bytes`, as 16 bytes (a chunk's hash is this hash of its bytes). */
export function contentHash(bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new SluiceError('bytes must be a Uint8Array', 'ERR_INVALID_TYPE')
  return native().contentChunks.hash(bytes)
}

/** The hashes (16 bytes each) of `bytes` cut at `lengths`, as cutContentChunks gives them. ERR_INVALID_LENGTH unless the lengths add up to `bytes.length`. */
export function hashContentChunks(bytes: Uint8Array, lengths: Uint32Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new SluiceError('bytes must be a Uint8Array', 'ERR_INVALID_TYPE')
  if (!(lengths instanceof Uint32Array)) throw new SluiceError('lengths must be a Uint32Array', 'ERR_INVALID_TYPE')
  return native().contentChunks.hashChunks(bytes, lengths)
}
