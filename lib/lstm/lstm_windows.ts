// LstmWindows: keyed count windows feeding an LstmModel (see LstmModel.createWindows). On a CUDA model the
// windows live in device memory: a batch of events is copied to the GPU once, the windows and the LSTM
// input are built there and only the results come back.
// Keyed by any kind (docs/keys.md): CPU windows take string[], 64-bit ids or packed bytes (interned natively
// in the push; strings through lib's Map first), grow as keys arrive and free keys with expire().
import { expectKeyColumn, expireColumn, StringKeys, type KeyColumn, type KeyKind, type KeyValues } from '../keys/key_column'
import type { NativeKeyColumn, NativeLstmWindows } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { expectTypedArray, outputArray } from '../runtime/validate'
import { LstmTable } from './lstm_table'

export interface LstmWindowsOptions {
  /**
   * Dense ids: keys 0 … capacity − 1, allocated up front (capacity · bytesPerKey). With `keys`: the starting
   * capacity (default 64), doubling as keys arrive.
   */
  capacity?: number
  /** Rows per window (the LSTM's time steps). */
  steps: number
  /**
   * How pushes carry keys: 'dense' Uint32Array ids (default), or keys interned natively: 'string',
   * 'bigint' / 'bigint64', 'bytes' (docs/keys.md). CPU models only (CUDA: ERR_NOT_SUPPORTED).
   */
  keys?: KeyKind
  /** With `keys`: the most live keys (new keys beyond are ERR_OUT_OF_RANGE, nothing changed). Default 2^28. */
  maxKeys?: number
}

export interface LstmWindowsResult {
  /** The distinct keys of the batch, in order of first appearance (keyed windows: their ids). */
  keys: Uint32Array
  /** [keys.length][outputSize]: the model's output over each key's window. */
  output: Float32Array
  /** Keyed windows: the same keys in their kind (string[], BigUint64Array, …, { bytes, offsets }). */
  keyValues?: KeyValues
}

/**
 * Each key's last `steps` input rows. push() appends a batch of events in order and runs the model once
 * over the window of every key the batch touched (oldest row first; while a key has fewer than `steps`
 * rows, zero rows fill the front). bytesPerKey = steps · inputSize · 4 (+ 16 bytes of bookkeeping), in
 * device memory on a CUDA model.
 */
export class LstmWindows extends LstmTable<NativeLstmWindows> {
  /** Rows per window (the LSTM's time steps). */
  readonly steps: number
  /** Where the windows live: device memory on a CUDA model. */
  readonly backend: 'cpu' | 'cuda'

  /** How pushes carry keys. */
  readonly keyKind: KeyKind
  readonly #strings: StringKeys | undefined
  #ids = new Uint32Array(64) // string keys' ids for a push (reused)

  /** @internal use LstmModel.createWindows */
  constructor(nativeWindows: NativeLstmWindows, inputSize: number, outputSize: number, keyKind: KeyKind = 'dense') {
    super(nativeWindows, inputSize, outputSize)
    const info = nativeWindows.info()
    this.steps = info.steps
    this.backend = info.backend
    this.keyKind = keyKind
    this.#strings = keyKind === 'string' ? new StringKeys() : undefined
  }

  /** Keys the windows hold room for now (keyed windows grow as keys arrive). */
  override get capacity(): number {
    return this.keyKind === 'dense' || this.closed ? super.capacity : this.native().info().capacity
  }

  /**
   * keys [n] (each < capacity, else ERR_OUT_OF_RANGE and nothing changes; repeats allowed, in order),
   * x [n][inputSize]. `out` may supply `keys` (≥ n) and `output` (≥ n · outputSize) arrays to fill;
   * views of exactly the filled lengths come back.
   */
  push(keys: KeyColumn, x: Float32Array, out: { keys?: Uint32Array; output?: Float32Array } = {}): LstmWindowsResult {
    const windows = this.native()
    let n: number
    let column: KeyColumn = keys
    if (this.keyKind === 'dense' || keys instanceof Uint32Array) {
      n = this.checkRows(keys as Uint32Array, x)
    } else {
      expectTypedArray(x, 'x', Float32Array)
      n = x.length / this.inputSize
      if (!Number.isInteger(n)) throw new SluiceError(`x.length (${x.length}) must be a multiple of inputSize (${this.inputSize})`, 'ERR_INVALID_LENGTH')
      column = expectKeyColumn(keys, this.keyKind, n)
    }
    const outKeys = outputArray(out.keys, Uint32Array, n, 'out.keys')
    const output = outputArray(out.output, Float32Array, n * this.outputSize, 'out.output')
    let k: number
    if (this.#strings === undefined || column instanceof Uint32Array) {
      k = windows.push(column as Uint32Array | NativeKeyColumn, x, outKeys, output)
    } else {
      // string[]: ids from the Map, new keys interned natively in one call; forgotten if the push is refused.
      if (this.#ids.length < n) this.#ids = new Uint32Array(Math.max(n, 2 * this.#ids.length))
      const ids = this.#ids.subarray(0, n)
      const created = this.#strings.translate(column as readonly string[], ids, (packed, into) => windows.intern(packed, into))
      try {
        k = windows.push(ids, x, outKeys, output)
      } catch (error) {
        if (created.length > 0) {
          windows.undoIntern()
          this.#strings.forget(created)
        }
        throw error
      }
    }
    const result: LstmWindowsResult = { keys: outKeys.subarray(0, k), output: output.subarray(0, k * this.outputSize) }
    if (this.keyKind !== 'dense') result.keyValues = this.keysOf(result.keys)
    return result
  }

  /**
   * Keyed windows: frees keys now, their rows forgotten and their ids reused (a key that comes back starts
   * with an empty window). Keys of the windows' kind (unknown ones skipped) or live ids. Returns how many
   * were freed.
   */
  expire(keys: KeyColumn): number {
    const windows = this.native()
    const column = expireColumn(keys, this.keyKind, this.#strings)
    const freed = windows.expire(column)
    if (column instanceof Uint32Array) this.#strings?.forget(column)
    return freed
  }

  /** Keyed windows: the keys of live ids, in their kind (ERR_OUT_OF_RANGE for an id not live). */
  keysOf(ids: Uint32Array): KeyValues {
    const windows = this.native()
    if (this.keyKind === 'dense') throw new SluiceError("keysOf() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    expectTypedArray(ids, 'ids', Uint32Array)
    return this.#strings ? this.#strings.stringsOf(ids) : (windows.keysOf(ids) as KeyValues)
  }

  /** Rows, steps, bytes per key of the rings and, for keyed CPU windows, live and expired keys and the native
   * bytes held (rings and key dictionary; docs/keys.md#memory gives measured figures). */
  info(): { capacity: number; steps: number; bytesPerKey: number; backend: 'cpu' | 'cuda'; liveKeys?: number; expiredKeys?: number; bytes?: number } {
    return this.native().info()
  }

  /** Keyed windows: live keys and keys freed so far by expire(). */
  keyStats(): { liveKeys: number; expiredKeys: number } {
    const info = this.native().info()
    if (info.liveKeys === undefined) throw new SluiceError("keyStats() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    return { liveKeys: info.liveKeys, expiredKeys: info.expiredKeys! }
  }

  /** Empties every window. */
  reset(): void {
    this.native().reset()
  }
}
