// Key columns for the keyed-class tests: a pool of distinct keys (their identity as strings, with empty and
// unicode ones), each key as a 64-bit word, the pool's keys as a column of any kind, and back to strings.
import type { KeyKind, PackedKeys } from '../../lib/index'

export type InternedKind = Exclude<KeyKind, 'dense'>
export const INTERNED_KINDS: InternedKind[] = ['string', 'bigint', 'bigint64', 'bytes']
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `size` distinct keys: empty, unicode and a NUL among the first, then random ones; `extra` after the first. */
export function keyPool(r: () => number, size: number, extra: string[] = []): string[] {
  const pool = new Set(['', 'é', '日本語', '🙂', 'a\u0000b', 'mote 3', ...extra])
  while (pool.size < size) pool.add(`k${Math.floor(r() * 1e6)}-${'ü'.repeat(Math.floor(r() * 3))}`)
  return [...pool]
}

/** Key k of the pool as a 64-bit word (unsigned for 'bigint', signed for 'bigint64'). */
export function wordOf(kind: InternedKind, pool: string[], k: string): bigint {
  const w = BigInt(pool.indexOf(k) + 1) * 0x9E3779B97F4A7C15n
  return kind === 'bigint' ? BigInt.asUintN(64, w) : BigInt.asIntN(64, w)
}

/**
 * `keys` as a column of `kind` over a `Buffer` (ArrayBuffer or SharedArrayBuffer); packed bytes start at
 * `start` (offsets need not start at 0).
 */
export function keyColumn(kind: InternedKind, keys: string[], pool: string[], { start = 0, Buffer = ArrayBuffer as typeof ArrayBuffer | typeof SharedArrayBuffer } = {}): unknown {
  if (kind === 'string') return keys
  if (kind === 'bigint' || kind === 'bigint64') {
    const words = new (kind === 'bigint' ? BigUint64Array : BigInt64Array)(new Buffer(keys.length * 8))
    keys.forEach((k, i) => { words[i] = wordOf(kind, pool, k) as never })
    return words
  }
  const parts = keys.map((k) => encoder.encode(k))
  const bytes = new Uint8Array(new Buffer(start + parts.reduce((n, p) => n + p.length, 0)))
  const offsets = new Uint32Array(new Buffer((keys.length + 1) * 4))
  let at = start
  offsets[0] = at
  parts.forEach((p, i) => { bytes.set(p, at); at += p.length; offsets[i + 1] = at })
  return { bytes, offsets }
}

/** Keys given back (keysOf, keyValues) as the pool's strings. */
export function keyNames(kind: InternedKind, keys: unknown, pool: string[]): string[] {
  if (kind === 'string') return keys as string[]
  if (kind === 'bytes') {
    const p = keys as PackedKeys
    return Array.from({ length: p.offsets.length - 1 }, (_, i) => decoder.decode(p.bytes.subarray(p.offsets[i], p.offsets[i + 1])))
  }
  const byWord = new Map(pool.map((k) => [wordOf(kind, pool, k), k]))
  return Array.from(keys as BigUint64Array, (w) => byWord.get(w)!)
}
