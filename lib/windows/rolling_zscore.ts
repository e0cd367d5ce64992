// RollingZScore: per (key, channel) z-score of a value against the mean and standard deviation of the
// previous `window` values of that key and channel. Used for the pipeline's anomaly score (on forecast
// residuals) and for the demo's baseline (on raw readings), so both follow exactly the same rule.
// Keyed by any kind (docs/keys.md): scoreBatch() takes string[], 64-bit ids or packed bytes, turned into
// dense ids by a native key dictionary in one call per batch (KeyTranslator); the per-key arrays grow by
// doubling as keys arrive, and expire() frees a key's history and its id.
import { expectKeyColumn, expectKeyKind, type KeyColumn, type KeyKind, type KeyValues, type PackedKeys } from '../keys/key_column'
import { NO_KEY } from '../keys/key_dictionary'
import { KeyTranslator } from '../keys/key_translator'
import { SluiceError } from '../runtime/errors'
import { allocate, expectFinite, expectInteger, expectTypedArray, outputArray } from '../runtime/validate'

export interface RollingZScoreOptions {
  /** Dense ids 0 … keyCount − 1. With `keys`: the starting capacity (default 64), doubling as keys arrive. */
  keyCount?: number
  channels: number
  /** Previous values per (key, channel) the statistics cover. Default 60. */
  window?: number
  /** Values needed before a score is given (NaN until then). Default 10, at most `window`. */
  warmup?: number
  /** Floor of the standard deviation, so a flat stretch does not turn noise into huge scores. Default 1e-9. */
  minStd?: number
  /** A flagged value does not enter the statistics, so a lasting anomaly keeps being compared with normal data. Default true. */
  excludeFlagged?: boolean
  /** |z| above this flags a value. Default 4. */
  threshold?: number
  /**
   * How scoreBatch() takes keys: 'dense' Uint32Array ids (default), or keys interned by a native dictionary:
   * 'string' (string[]), 'bigint' / 'bigint64' (BigUint64Array or BigInt64Array), 'bytes' ({ bytes, offsets }).
   */
  keys?: KeyKind
  /** With `keys`: the most live keys (a batch with new keys beyond is ERR_OUT_OF_RANGE, nothing changed). Default 2^28. */
  maxKeys?: number
}

/** Memory: keyCount · channels · (window + 3) · 8 bytes (keyCount: the capacity, grown with `keys`). */
export class RollingZScore {
  /** Keys the arrays hold now: ids 0 … keyCount − 1 (grows with `keys`). */
  keyCount: number
  /** How scoreBatch() takes keys. */
  readonly keyKind: KeyKind
  readonly channels: number
  readonly window: number
  readonly warmup: number
  readonly minStd: number
  readonly excludeFlagged: boolean
  readonly threshold: number
  /** @internal ring of past values, [key][channel][window] */
  ring: Float64Array
  /** @internal per (key, channel): next slot, filled slots */
  head: Uint32Array
  fill: Uint32Array
  readonly #keys: KeyTranslator | undefined
  #expired = 0

  constructor(options: RollingZScoreOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.keyKind = expectKeyKind(options.keys ?? 'dense')
    const maxKeys = options.maxKeys === undefined ? 2 ** 28 : expectInteger(options.maxKeys, 'maxKeys', 1, 2 ** 28)
    const keyed = this.keyKind !== 'dense'
    this.keyCount = expectInteger(options.keyCount ?? (keyed ? Math.min(64, maxKeys) : undefined), 'keyCount', 1, 2 ** 24)
    this.channels = expectInteger(options.channels, 'channels', 1, 1024)
    this.window = expectInteger(options.window ?? 60, 'anomaly.window', 2, 1 << 20)
    this.warmup = expectInteger(options.warmup ?? Math.min(10, this.window), 'anomaly.warmup', 2, this.window)
    this.minStd = expectFinite(options.minStd ?? 1e-9, 'anomaly.minStd')
    if (this.minStd < 0) throw new SluiceError(`anomaly.minStd must be >= 0, got ${this.minStd}`, 'ERR_OUT_OF_RANGE')
    this.threshold = expectFinite(options.threshold ?? 4, 'anomaly.threshold')
    if (this.threshold <= 0) throw new SluiceError(`anomaly.threshold must be > 0, got ${this.threshold}`, 'ERR_OUT_OF_RANGE')
    if (options.excludeFlagged !== undefined && typeof options.excludeFlagged !== 'boolean') throw new SluiceError('anomaly.excludeFlagged must be a boolean', 'ERR_INVALID_TYPE')
    this.excludeFlagged = options.excludeFlagged ?? true
    const slots = this.keyCount * this.channels
    this.ring = allocate(Float64Array, slots * this.window, 'the z-score rings')
    this.head = new Uint32Array(slots)
    this.fill = new Uint32Array(slots)
    // Last: a refused option above leaves no native dictionary behind.
    this.#keys = keyed ? new KeyTranslator(this.keyKind as Exclude<KeyKind, 'dense'>, maxKeys) : undefined
  }

  /**
   * Scores a batch: row i is values[i·channels … (i+1)·channels) of keys[i] (dense ids below keyCount, or
   * keys of the `keys` kind, interned in one native call; new keys start with no history). Rows are taken in
   * order, so a key may appear more than once. Returns one score per row (scoreAndUpdate's rule), in `out`
   * when given. Bad input (types, lengths, an id ≥ keyCount, new keys beyond maxKeys, a bad key) throws
   * before anything changes: a refused batch adds no key.
   */
  scoreBatch(keys: KeyColumn, values: Float64Array | Float32Array, out?: Float64Array): Float64Array {
    if (!(values instanceof Float64Array || values instanceof Float32Array)) {
      throw new SluiceError('values must be a Float64Array or Float32Array', 'ERR_INVALID_TYPE')
    }
    const n = values.length / this.channels
    if (!Number.isInteger(n)) throw new SluiceError(`values.length (${values.length}) must be a multiple of channels (${this.channels})`, 'ERR_INVALID_LENGTH')
    let ids: Uint32Array
    if (this.#keys === undefined) {
      ids = expectKeyColumn(keys, 'dense', n) as Uint32Array
      for (let i = 0; i < n; i++) {
        if (ids[i]! >= this.keyCount) throw new SluiceError(`keys[${i}] = ${ids[i]} is beyond keyCount (${this.keyCount})`, 'ERR_OUT_OF_RANGE')
      }
    } else {
      const result = outputArray(out, Float64Array, n) // checked before any key is added
      const translated = this.#keys.translate(keys, n, 'keys')
      ids = translated.ids
      let top = -1
      for (let i = 0; i < n; i++) top = Math.max(top, ids[i]!)
      try {
        this.#growTo(top + 1)
      } catch (error) {
        this.#keys.forget(translated.created) // out of memory: the batch adds no key
        throw error
      }
      return this.#score(ids, values, result)
    }
    return this.#score(ids, values, outputArray(out, Float64Array, n))
  }

  #score(ids: Uint32Array, values: Float64Array | Float32Array, out: Float64Array): Float64Array {
    const n = ids.length
    for (let i = 0; i < n; i++) out[i] = this.scoreAndUpdate(ids[i]!, values, i * this.channels)
    return out.length === n ? out : out.subarray(0, n)
  }

  /** The per-key arrays hold at least `keys` keys (doubling: amortised O(1) per key). */
  #growTo(keys: number): void {
    if (keys <= this.keyCount) return
    const keyCount = Math.max(keys, 2 * this.keyCount)
    const slots = keyCount * this.channels
    const ring = allocate(Float64Array, slots * this.window, 'the z-score rings')
    ring.set(this.ring)
    const head = new Uint32Array(slots)
    head.set(this.head)
    const fill = new Uint32Array(slots)
    fill.set(this.fill)
    this.ring = ring
    this.head = head
    this.fill = fill
    this.keyCount = keyCount
  }

  /**
   * Keyed objects: frees keys now, their history forgotten and their ids reused (a key that comes back
   * starts with no history). Keys of the `keys` kind (unknown ones are skipped) or live ids. Returns how
   * many were freed.
   */
  expire(keys: KeyColumn): number {
    if (this.#keys === undefined) throw new SluiceError("expire() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    let found: Uint32Array
    if (keys instanceof Uint32Array) {
      found = keys
      this.#keys.keysOf(Uint32Array.from(new Set(found))) // ERR_OUT_OF_RANGE unless every id is live
    } else {
      const n = Array.isArray(keys) || ArrayBuffer.isView(keys) ? (keys as ArrayLike<unknown>).length : ((keys as PackedKeys)?.offsets?.length ?? 0) - 1
      found = this.#keys.find(keys, n, 'keys')
    }
    const ids = Uint32Array.from(new Set(Array.from(found).filter((id) => id !== NO_KEY)))
    for (const id of ids) this.resetKey(id)
    this.#keys.forget(ids)
    this.#expired += ids.length
    return ids.length
  }

  /** Keyed objects: the keys of live ids, in their kind (ERR_OUT_OF_RANGE for an id not live). */
  keysOf(ids: Uint32Array): KeyValues {
    if (this.#keys === undefined) throw new SluiceError("keysOf() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    return this.#keys.keysOf(expectTypedArray(ids, 'ids', Uint32Array))
  }

  /** Keyed objects: live keys, and keys freed by expire() so far. */
  keyStats(): { liveKeys: number; expiredKeys: number } {
    if (this.#keys === undefined) throw new SluiceError("keyStats() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    return { liveKeys: this.#keys.size, expiredKeys: this.#expired }
  }

  /** Frees the native key dictionary (keyed objects); idempotent. */
  close(): void {
    this.#keys?.close()
  }

  /**
   * Scores `values[offset … offset+channels)` of `key` (max |z| over channels; NaN while warming up or when
   * a value is NaN), then records the values unless flagged (and excludeFlagged). Returns the score.
   */
  scoreAndUpdate(key: number, values: ArrayLike<number>, offset: number): number {
    const C = this.channels, W = this.window
    let score = -Infinity
    for (let c = 0; c < C; c++) {
      const slot = key * C + c
      const v = values[offset + c]!
      const n = this.fill[slot]!
      if (n < this.warmup || Number.isNaN(v)) {
        score = NaN
        continue
      }
      // Two passes over at most `window` values: exact, and no drift from running sums.
      const base = slot * W
      let sum = 0
      for (let i = 0; i < n; i++) sum += this.ring[base + i]!
      const mean = sum / n
      let ss = 0
      for (let i = 0; i < n; i++) {
        const d = this.ring[base + i]! - mean
        ss += d * d
      }
      const std = Math.max(Math.sqrt(ss / (n - 1)), this.minStd)
      const z = Math.abs(v - mean) / std
      if (!(z <= score)) score = Number.isNaN(score) ? score : z
    }
    const flagged = score > this.threshold
    if (!(flagged && this.excludeFlagged)) {
      for (let c = 0; c < C; c++) {
        const v = values[offset + c]!
        if (Number.isNaN(v)) continue
        const slot = key * C + c
        this.ring[slot * W + this.head[slot]!] = v
        this.head[slot] = (this.head[slot]! + 1) % W
        if (this.fill[slot]! < W) this.fill[slot]!++
      }
    }
    return score
  }

  /** Forgets the history of one key. */
  resetKey(key: number): void {
    const C = this.channels
    this.head.fill(0, key * C, (key + 1) * C)
    this.fill.fill(0, key * C, (key + 1) * C)
  }
}
