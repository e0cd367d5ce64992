// Key columns of every kind a stream carries, checked and normalised for the native key dictionaries:
// dense Uint32Array ids (the fast path), string[] (UTF-8), BigInt64Array / BigUint64Array (64-bit ids) and
// packed bytes { bytes, offsets } (Kafka message keys without making JS strings).
//
// string[] is translated in JS first (StringKeys): reading JS strings one at a time from native code costs
// more than a JS Map lookup, so a Map of the live keys → ids sits in front of the native dictionary and only
// keys it has not seen are encoded (TextEncoder into one reused buffer) and interned natively, in one call.
import { SluiceError } from '../runtime/errors'

/** How keys are given: dense ids, or keys interned into ids by a native dictionary. */
export type KeyKind = 'dense' | 'string' | 'bigint' | 'bigint64' | 'bytes'
/** Keys as bytes: key i is bytes[offsets[i] … offsets[i + 1]); offsets has one entry more than keys. */
export interface PackedKeys {
  bytes: Uint8Array
  offsets: Uint32Array
}
export type KeyColumn = Uint32Array | readonly string[] | BigInt64Array | BigUint64Array | PackedKeys
/** Keys given back in their kind. */
export type KeyValues = Uint32Array | string[] | BigInt64Array | BigUint64Array | PackedKeys

/** Longest key in bytes (UTF-8 for strings). */
export const MAX_KEY_BYTES = 65536

const KEY_KINDS: readonly KeyKind[] = ['dense', 'string', 'bigint', 'bigint64', 'bytes']

export function expectKeyKind(value: unknown, name = 'keys'): KeyKind {
  if (typeof value === 'string' && (KEY_KINDS as readonly string[]).includes(value)) return value as KeyKind
  throw new SluiceError(`${name} must be one of ${KEY_KINDS.join(', ')}, got ${String(value)}`, 'ERR_INVALID_ARGUMENT')
}

function isPacked(value: unknown): value is PackedKeys {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Array.isArray(value) &&
    (value as PackedKeys).bytes instanceof Uint8Array && (value as PackedKeys).offsets instanceof Uint32Array
}

/**
 * Checks that `keys` is a column of `kind` with `length` keys (ERR_INVALID_TYPE for another kind,
 * ERR_INVALID_LENGTH for another length); string[] entries are checked where they are translated.
 */
export function expectKeyColumn(keys: unknown, kind: KeyKind, length: number, name = 'keys'): KeyColumn {
  const fail = (what: string): never => {
    throw new SluiceError(`${name} must be ${what} for keys: '${kind}'`, 'ERR_INVALID_TYPE')
  }
  let count: number
  switch (kind) {
    case 'dense':
      if (!(keys instanceof Uint32Array)) fail('a Uint32Array of ids')
      count = (keys as Uint32Array).length
      break
    case 'string':
      if (!Array.isArray(keys)) fail('an array of strings')
      count = (keys as string[]).length
      break
    case 'bigint':
    case 'bigint64':
      if (!(keys instanceof BigInt64Array || keys instanceof BigUint64Array)) fail('a BigInt64Array or BigUint64Array')
      count = (keys as BigInt64Array).length
      break
    case 'bytes':
      if (!isPacked(keys)) fail('{ bytes: Uint8Array, offsets: Uint32Array }')
      count = (keys as PackedKeys).offsets.length - 1
      if ((keys as PackedKeys).offsets.length === 0) {
        throw new SluiceError(`${name}.offsets must have one entry more than keys`, 'ERR_INVALID_LENGTH')
      }
      break
  }
  if (count! !== length) throw new SluiceError(`${name} must hold ${length} keys, got ${count!}`, 'ERR_INVALID_LENGTH')
  return keys as KeyColumn
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** A string key checked: a string (not null or another type) that is well-formed UTF-16 (no lone surrogate). */
function expectStringKey(value: unknown, index: number, name: string): string {
  if (typeof value !== 'string') {
    throw new SluiceError(`${name}[${index}] must be a string, got ${value === null ? 'null' : typeof value}`, 'ERR_INVALID_TYPE')
  }
  if (!(value as string & { isWellFormed(): boolean }).isWellFormed()) {
    // A lone surrogate has no UTF-8 form; TextEncoder would turn it into U+FFFD and merge it with that key.
    throw new SluiceError(`${name}[${index}] is not well-formed Unicode (a lone surrogate)`, 'ERR_INVALID_ARGUMENT')
  }
  return value
}

/** Packs strings as UTF-8 into { bytes, offsets } (into `scratch` when it is large enough). */
export function packStrings(strings: readonly string[], name = 'keys', scratch?: { bytes: Uint8Array }): PackedKeys {
  const offsets = new Uint32Array(strings.length + 1)
  let bytes = scratch?.bytes ?? new Uint8Array(64)
  let at = 0
  for (let i = 0; i < strings.length; i++) {
    const s = expectStringKey(strings[i], i, name)
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    if (bytes.length - at < s.length * 3) {
      const grown = new Uint8Array(Math.max(bytes.length * 2, at + s.length * 3))
      grown.set(bytes.subarray(0, at))
      bytes = grown
    }
    at += encoder.encodeInto(s, bytes.subarray(at)).written
    if (at - offsets[i]! > MAX_KEY_BYTES) {
      throw new SluiceError(`${name}[${i}] is longer than ${MAX_KEY_BYTES} bytes in UTF-8`, 'ERR_OUT_OF_RANGE')
    }
    offsets[i + 1] = at
  }
  if (scratch) scratch.bytes = bytes
  return { bytes: bytes.subarray(0, at), offsets }
}

/** The strings of packed UTF-8 keys. */
export function unpackStrings(packed: PackedKeys): string[] {
  const out = new Array<string>(packed.offsets.length - 1)
  for (let i = 0; i < out.length; i++) out[i] = decoder.decode(packed.bytes.subarray(packed.offsets[i], packed.offsets[i + 1]))
  return out
}

/** translate()'s answer when a batch brings no new key (the common case: no allocation per batch). */
const NO_IDS = new Uint32Array(0)

/**
 * The JS side of a string-keyed object: live string → id (a Map in front of the native dictionary) and
 * id → string (to give keys back without native calls). `intern` adds the keys it has not seen natively.
 */
export class StringKeys {
  private readonly ids = new Map<string, number>()
  private names: (string | undefined)[] = []
  /** Bumped whenever an id loses its string (forget, reset, replace): a lazy column made before cannot resolve. */
  private epoch = 0
  /** The newest lazy column, resolved before its ids can lose their strings. */
  private pending: (() => string[]) | undefined
  private readonly scratch = { bytes: new Uint8Array(1024) }
  private missIds = new Uint32Array(64)

  /**
   * ids[i] = the id of strings[i]. New keys are packed and given to `intern` (one native call), which
   * writes their ids; returns the ids created (for undo), empty when none. All or nothing.
   */
  translate(strings: readonly string[], ids: Uint32Array, intern: (packed: PackedKeys, ids: Uint32Array) => void, name = 'keys'): Uint32Array {
    const n = strings.length
    let misses: string[] | undefined
    let missAt: Map<string, number> | undefined
    for (let i = 0; i < n; i++) {
      const s = strings[i]!
      const id = this.ids.get(s)
      if (id !== undefined) {
        ids[i] = id
        continue
      }
      expectStringKey(s, i, name)
      misses ??= []
      missAt ??= new Map()
      let m = missAt.get(s)
      if (m === undefined) {
        m = misses.length
        misses.push(s)
        missAt.set(s, m)
      }
    }
    if (!misses) return NO_IDS
    const packed = packStrings(misses, name, this.scratch)
    if (this.missIds.length < misses.length) this.missIds = new Uint32Array(Math.max(misses.length, 2 * this.missIds.length))
    const created = this.missIds.subarray(0, misses.length)
    intern(packed, created)
    for (let i = 0; i < n; i++) {
      if (this.ids.get(strings[i]!) === undefined) ids[i] = created[missAt!.get(strings[i]!)!]!
    }
    for (let m = 0; m < misses.length; m++) this.add(misses[m]!, created[m]!)
    return created.slice()
  }

  private add(s: string, id: number): void {
    this.ids.set(s, id)
    this.names[id] = s
  }

  /** Forgets ids (expired or undone). */
  forget(ids: ArrayLike<number>): void {
    if (ids.length === 0) return
    this.beforeIdsChange()
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      const s = this.names[id]
      if (s === undefined) continue
      this.ids.delete(s)
      this.names[id] = undefined
    }
  }

  /** Forgets the ids `changed`, then adds the keys of `live` (after an incremental restore: the delta's keys). */
  replace(changed: ArrayLike<number>, live: Uint32Array, packed: PackedKeys): void {
    this.beforeIdsChange()
    this.forget(changed)
    const strings = unpackStrings(packed)
    for (let i = 0; i < live.length; i++) this.add(strings[i]!, live[i]!)
  }

  /** Replaces everything with the keys of `ids` (after a restore). */
  reset(ids: Uint32Array, packed: PackedKeys): void {
    this.beforeIdsChange()
    this.ids.clear()
    this.names = []
    const strings = unpackStrings(packed)
    for (let i = 0; i < ids.length; i++) this.add(strings[i]!, ids[i]!)
  }

  idOf(s: string): number | undefined {
    return this.ids.get(s)
  }

  /**
   * The strings of `ids`, read when first asked for: a consumer of fired windows often reads only ids (or
   * nothing), and resolving every row's string costs about as much as the lookups that made the ids. The
   * newest lazy column is resolved before any id loses its string; an older one read after that throws
   * ERR_INVALID_STATE rather than give another key's string. `ids` must not change before it is read.
   */
  lazyStringsOf(ids: Uint32Array): () => string[] {
    const epoch = this.epoch
    let strings: string[] | undefined
    let error: unknown
    const get = (): string[] => {
      if (strings !== undefined) return strings
      if (error === undefined) {
        try {
          if (this.epoch !== epoch) {
            throw new SluiceError('these keys were read after their ids were freed or reused (expiry, expire(), restore()); read them before that', 'ERR_INVALID_STATE')
          }
          strings = this.stringsOf(ids)
          return strings
        } catch (failure) {
          error = failure
        }
      }
      throw error
    }
    this.pending = get
    return get
  }

  private beforeIdsChange(): void {
    try {
      this.pending?.()
    } catch {
      // ids that were not live (a caller's own out.key, rewritten): the column keeps its error for its reader
    }
    this.pending = undefined
    this.epoch++
  }

  /** The strings of live ids. */
  stringsOf(ids: Uint32Array): string[] {
    const out = new Array<string>(ids.length)
    for (let i = 0; i < ids.length; i++) {
      const s = this.names[ids[i]!]
      if (s === undefined) throw new SluiceError(`id ${ids[i]} is not a live key`, 'ERR_OUT_OF_RANGE')
      out[i] = s
    }
    return out
  }

  get size(): number {
    return this.ids.size
  }
}

/**
 * What an expire(keys) call of a keyed object hands its native side: ids as given; string keys as the ids
 * `strings` holds for them (unknown ones skipped); keys of the other kinds checked against `kind`.
 * ERR_INVALID_ARGUMENT for an object with dense ids.
 */
export function expireColumn(keys: unknown, kind: KeyKind, strings: StringKeys | undefined): Uint32Array | BigInt64Array | BigUint64Array | PackedKeys {
  if (kind === 'dense') throw new SluiceError("expire() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
  if (keys instanceof Uint32Array) return keys
  if (strings !== undefined) {
    const names = expectKeyColumn(keys, 'string', Array.isArray(keys) ? keys.length : -1) as readonly string[]
    const ids: number[] = []
    for (const s of names) {
      const id = typeof s === 'string' ? strings.idOf(s) : undefined
      if (id !== undefined) ids.push(id)
    }
    return Uint32Array.from(ids)
  }
  const n = keys instanceof BigInt64Array || keys instanceof BigUint64Array ? keys.length : ((keys as PackedKeys | null)?.offsets?.length ?? 0) - 1
  return expectKeyColumn(keys, kind, n) as BigInt64Array | BigUint64Array | PackedKeys
}

/** held(keys) of the keyed classes: 1 for each key the object holds now (a live key), else 0; adds nothing.
 * String keys are looked up in the JS map in front of the dictionary, the other kinds by `nativeHeld`. */
export function heldKeys(keys: KeyColumn, kind: KeyKind, strings: StringKeys | undefined,
  nativeHeld: (column: BigInt64Array | BigUint64Array | PackedKeys, out: Uint8Array) => void): Uint8Array {
  if (kind === 'dense') throw new SluiceError('held() needs interned keys (the `keys` option)', 'ERR_INVALID_ARGUMENT')
  const n = Array.isArray(keys) || ArrayBuffer.isView(keys) ? (keys as ArrayLike<unknown>).length : ((keys as PackedKeys | null)?.offsets?.length ?? 0) - 1
  const column = expectKeyColumn(keys, kind, n)
  const out = new Uint8Array(n)
  if (strings) {
    const names = column as readonly string[]
    for (let i = 0; i < n; i++) out[i] = strings.idOf(names[i]!) === undefined ? 0 : 1
  } else {
    nativeHeld(column as BigInt64Array | BigUint64Array | PackedKeys, out)
  }
  return out
}
