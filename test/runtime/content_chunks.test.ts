// The content-chunking binding (native/core/base/content_chunks.h through lib/runtime/content_chunks.ts):
// chunks cover the input, stay put around an edit, their hashes are the content hash of their bytes, and
// bad arguments are SluiceErrors. The core's own tests (native/core/tests/base/content_chunks_test.cc) check
// the chunker and the hash in depth.
import { describe, expect, it } from 'vitest'
import { DEFAULT_CHUNK_SIZES, contentHash, cutContentChunks, hashContentChunks } from '../../lib/runtime/content_chunks'
import { mulberry32 } from '../../lib/runtime/random'
import { expectSluiceError } from '../helpers'

function randomBytes(size: number, seed: number): Uint8Array {
  const rnd = mulberry32(seed)
  return Uint8Array.from({ length: size }, () => Math.floor(rnd() * 256))
}

describe('content chunks', () => {
  it('cover the input in chunks within the sizes, each hash the content hash of its bytes, and the same hashes again from hashContentChunks', () => {
    const bytes = randomBytes(300_000, 1)
    const { lengths, hashes } = cutContentChunks(bytes)
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(bytes.length)
    expect(hashes.length).toBe(16 * lengths.length)
    expect(lengths.length).toBeGreaterThan(300_000 / DEFAULT_CHUNK_SIZES.averageSize / 2)
    let start = 0
    for (let i = 0; i < lengths.length; i++) {
      if (i < lengths.length - 1) expect(lengths[i]).toBeGreaterThanOrEqual(DEFAULT_CHUNK_SIZES.minSize)
      expect(lengths[i]).toBeLessThanOrEqual(DEFAULT_CHUNK_SIZES.maxSize)
      expect(contentHash(bytes.subarray(start, start + lengths[i]!))).toEqual(hashes.subarray(16 * i, 16 * i + 16))
      start += lengths[i]!
    }
    expect(hashContentChunks(bytes, lengths)).toEqual(hashes)
    // Another view of the same bytes (a byteOffset) gives the same chunks.
    const shifted = new Uint8Array(bytes.length + 5)
    shifted.set(bytes, 5)
    expect(cutContentChunks(shifted.subarray(5))).toEqual({ lengths, hashes })
  })

  it('keep their boundaries and hashes away from an insertion', () => {
    const bytes = randomBytes(200_000, 2)
    const edited = new Uint8Array(bytes.length + 10)
    edited.set(bytes.subarray(0, 100_000))
    edited.set(randomBytes(10, 3), 100_000)
    edited.set(bytes.subarray(100_000), 100_010)
    const key = (h: Uint8Array, i: number) => Buffer.from(h.subarray(16 * i, 16 * i + 16)).toString('hex')
    const a = cutContentChunks(bytes)
    const b = cutContentChunks(edited)
    const before = new Set(Array.from({ length: a.lengths.length }, (_, i) => key(a.hashes, i)))
    const kept = Array.from({ length: b.lengths.length }, (_, i) => key(b.hashes, i)).filter((k) => before.has(k)).length
    expect(kept).toBeGreaterThanOrEqual(b.lengths.length - 3)
    expect(kept).toBeLessThan(b.lengths.length)
  })

  it('refuse bad arguments', () => {
    const bytes = randomBytes(1000, 4)
    expectSluiceError(() => cutContentChunks([1, 2] as unknown as Uint8Array), 'ERR_INVALID_TYPE')
    expectSluiceError(() => cutContentChunks(bytes, { averageSize: 1000 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => cutContentChunks(bytes, { minSize: 32, averageSize: 64, maxSize: 128 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => cutContentChunks(bytes, { maxSize: 2 ** 25 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => cutContentChunks(bytes, { minSize: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => hashContentChunks(bytes, Uint32Array.of(500, 499)), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => hashContentChunks(bytes, [1000] as unknown as Uint32Array), 'ERR_INVALID_TYPE')
    expectSluiceError(() => contentHash(new Float64Array(2) as unknown as Uint8Array), 'ERR_INVALID_TYPE')
  })
})
