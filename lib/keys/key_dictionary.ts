// KeyDictionary: keys of one kind (strings, 64-bit ids, bytes) ↔ dense ids, interned by native code in one
// call per batch. The keyed classes (EventTimeWindows with `keys`) hold one inside; this class is for callers
// that keep their own per-key arrays. See docs/keys.md.
import type { NativeKeyDictionary } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { native } from '../runtime/native'
import { NativeObject } from '../runtime/native_object'
import { withSnapshots } from '../runtime/snapshots'
import { expectInteger, expectTypedArray } from '../runtime/validate'
import { expectKeyColumn, expectKeyKind, packStrings, unpackStrings, type KeyColumn, type KeyKind, type KeyValues, type PackedKeys } from './key_column'

export interface KeyDictionaryOptions {
  /** 'string' | 'bigint' (given back as BigUint64Array) | 'bigint64' (BigInt64Array) | 'bytes'. */
  kind: Exclude<KeyKind, 'dense'>
  /** Live keys at most; a batch with new keys beyond is ERR_OUT_OF_RANGE and adds none. Default 2^28. */
  maxKeys?: number
}

/** The id find() gives a key the dictionary does not hold. */
export const NO_KEY = 0xffffffff

export class KeyDictionary extends withSnapshots(NativeObject<NativeKeyDictionary>) {
  readonly kind: Exclude<KeyKind, 'dense'>

  constructor(options: KeyDictionaryOptions) {
    super()
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    const kind = expectKeyKind(options.kind, 'kind')
    if (kind === 'dense') throw new SluiceError("a KeyDictionary holds keys of a kind other than 'dense'", 'ERR_INVALID_ARGUMENT')
    this.kind = kind
    const maxKeys = options.maxKeys === undefined ? undefined : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    this.attach(new (native().KeyDictionary)(kind, maxKeys))
  }

  private column(keys: KeyColumn | undefined, length: number): BigInt64Array | BigUint64Array | PackedKeys {
    const column = expectKeyColumn(keys, this.kind, length)
    return this.kind === 'string' ? packStrings(column as readonly string[]) : (column as BigInt64Array | PackedKeys)
  }

  private static lengthOf(keys: unknown): number {
    if (Array.isArray(keys) || ArrayBuffer.isView(keys)) return (keys as ArrayLike<unknown>).length
    const offsets = (keys as PackedKeys | null)?.offsets
    return offsets instanceof Uint32Array ? offsets.length - 1 : -1
  }

  /** The ids of `keys`, adding those not held yet (all or nothing). */
  intern(keys: KeyColumn, out?: Uint32Array): Uint32Array {
    const handle = this.native()
    const n = KeyDictionary.lengthOf(keys)
    const column = this.column(keys, n)
    const ids = out === undefined ? new Uint32Array(n) : expectTypedArray(out, 'out', Uint32Array)
    if (ids.length < n) throw new SluiceError(`out must hold ${n} ids`, 'ERR_INVALID_LENGTH')
    handle.intern(column, ids)
    return ids.subarray(0, n)
  }

  /** The ids of `keys`, NO_KEY for those not held; adds nothing. */
  find(keys: KeyColumn): Uint32Array {
    const handle = this.native()
    const n = KeyDictionary.lengthOf(keys)
    const ids = new Uint32Array(n)
    handle.find(this.column(keys, n), ids)
    return ids
  }

  /** The keys of live ids, in the dictionary's kind. */
  keysOf(ids: Uint32Array): KeyValues {
    const keys = this.native().keysOf(expectTypedArray(ids, 'ids', Uint32Array))
    return this.kind === 'string' ? unpackStrings(keys as PackedKeys) : keys
  }

  /** Frees live ids (ERR_OUT_OF_RANGE, nothing freed, if one is not live); their ids are handed out again. */
  release(ids: Uint32Array): void {
    this.native().release(expectTypedArray(ids, 'ids', Uint32Array))
  }

  /** Live keys. */
  get size(): number {
    return this.native().info().size
  }

  /** Live keys, ids below idCapacity, the keys' own bytes and the native bytes held (keys included). */
  info(): { size: number; idCapacity: number; keyBytes: number; memoryBytes: number } {
    return this.native().info()
  }
}
