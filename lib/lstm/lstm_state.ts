// LstmState: per-key (h, c) for streaming, one step per call (step, or stepAsync on a worker thread); its
// snapshot (withSnapshots) holds every key's state, capacity · bytesPerKey bytes roughly.
// Keyed by any kind (docs/keys.md): 64-bit ids and packed bytes are interned natively in the step call itself;
// string[] goes through a JS Map of the live keys first (StringKeys), new ones interned natively in one call.
import { expectKeyColumn, expireColumn, StringKeys, type KeyColumn, type KeyKind, type KeyValues, type PackedKeys } from '../keys/key_column'
import type { NativeKeyColumn, NativeLstmState } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { withSnapshots } from '../runtime/snapshots'
import { expectTypedArray, outputArray } from '../runtime/validate'
import { LstmTable } from './lstm_table'

/** What a state holds now; the key figures for keyed states only. */
export interface LstmStateInfo {
  /** Rows of the table (a keyed state's grows by doubling). */
  capacity: number
  bytesPerKey: number
  /** Native bytes held: the table, and for a keyed state its key dictionary. */
  bytes: number
  /** Keys live now. */
  liveKeys?: number
  /** Keys freed so far by expire(). */
  expiredKeys?: number
  /** The live keys' own bytes (UTF-8 for strings). */
  keyBytes?: number
  /** The key dictionary's bytes (included in `bytes`). */
  dictionaryBytes?: number
}

/**
 * Per-key LSTM state (h and c of every layer) kept in native memory:
 * bytesPerKey = numLayers · 2 · ceil(hiddenSize / 16) · 16 · 4 + 4 bytes, allocated zeroed.
 * step() advances each listed key by one time step, exactly as if its inputs had been one sequence.
 * Dense ids (default): keys 0 … capacity − 1, allocated up front. Keyed (`keys` option of createState):
 * string[], 64-bit ids or packed bytes; the table grows as keys arrive, expire() frees keys.
 */
export class LstmState extends withSnapshots(LstmTable<NativeLstmState>) {
  /** How steps carry keys. */
  readonly keyKind: KeyKind
  readonly #strings: StringKeys | undefined
  #ids = new Uint32Array(64) // string keys' ids for a step (reused)

  /** @internal built by LstmModel.createState */
  constructor(handle: NativeLstmState, inputSize: number, outputSize: number, keyKind: KeyKind = 'dense') {
    super(handle, inputSize, outputSize)
    this.keyKind = keyKind
    this.#strings = keyKind === 'string' ? new StringKeys() : undefined
  }

  /** Rows of the table now (a keyed state's grows as keys arrive). */
  override get capacity(): number {
    return this.keyKind === 'dense' || this.closed ? super.capacity : this.native().info().capacity
  }

  /**
   * keys: dense ids below capacity, or for a keyed state keys of its kind (or ids of live keys, a
   * Uint32Array); each at most once per call (a repeated key is ERR_INVALID_ARGUMENT, an id ≥ capacity or
   * not live ERR_OUT_OF_RANGE, new keys beyond maxKeys ERR_OUT_OF_RANGE; nothing changes then: a refused
   * step adds no key). x: [keys][inputSize]. Returns [keys][outputSize]: each key's head output (or hidden
   * state) after this step. A key seen for the first time (or again after expire()) starts from zero state.
   */
  step(keys: KeyColumn, x: Float32Array, out?: Float32Array): Float32Array {
    const state = this.native()
    const { column, n } = this.#column(keys, x)
    const result = this.#output(n, out)
    if (this.#strings === undefined || column instanceof Uint32Array) {
      state.step(column as Uint32Array | NativeKeyColumn, x, result)
      return result
    }
    const { ids, created } = this.#translate(state, column as readonly string[], n)
    try {
      state.step(ids, x, result)
    } catch (error) {
      this.#undo(state, created)
      throw error
    }
    return result
  }

  /**
   * step() on a native worker thread, so the event loop stays free; resolves with the view step() would
   * return (of `out` when given). Every check (closed, types, lengths, keys) happens before anything is
   * queued: a bad call rejects with step()'s code and changes nothing. keys and x are copied at the call
   * (new keys are interned then, on this thread); the result is copied into out when the step ends, and the
   * promise rejects with ERR_INVALID_STATE if out was detached (transferred) or shrunk meanwhile (the keys'
   * states have still advanced).
   *
   * One step at a time per state: while a stepAsync is in flight, step, stepAsync, reset, expire, snapshot
   * and restore throw ERR_INVALID_STATE ('a stepAsync is in flight'); await it first. close() is allowed: the
   * state is closed at once for later calls, the step in flight still completes and resolves, and the
   * native memory is freed when it ends. Different states (even of one model) may step concurrently; calls
   * on one model take turns inside the native code.
   */
  stepAsync(keys: KeyColumn, x: Float32Array, out?: Float32Array): Promise<Float32Array> {
    try {
      const state = this.native()
      const { column, n } = this.#column(keys, x)
      const result = this.#output(n, out)
      if (this.#strings === undefined || column instanceof Uint32Array) return state.stepAsync(column as Uint32Array | NativeKeyColumn, x, result)
      const { ids, created } = this.#translate(state, column as readonly string[], n)
      try {
        return state.stepAsync(ids, x, result)
      } catch (error) {
        this.#undo(state, created)
        throw error
      }
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** The key column checked against x: dense ids (checkRows), or keys of the state's kind. */
  #column(keys: unknown, x: Float32Array): { column: KeyColumn; n: number } {
    if (this.keyKind === 'dense' || keys instanceof Uint32Array) {
      return { column: keys as Uint32Array, n: this.checkRows(keys as Uint32Array, x) }
    }
    expectTypedArray(x, 'x', Float32Array)
    const n = x.length / this.inputSize
    if (!Number.isInteger(n)) {
      throw new SluiceError(`x.length (${x.length}) must be a multiple of inputSize (${this.inputSize})`, 'ERR_INVALID_LENGTH')
    }
    return { column: expectKeyColumn(keys, this.keyKind, n), n }
  }

  /** The output view of exactly n · outputSize floats. */
  #output(n: number, out: Float32Array | undefined): Float32Array {
    const length = n * this.outputSize
    const array = outputArray(out, Float32Array, length)
    return array.length === length ? array : array.subarray(0, length)
  }

  /** String keys → ids: known ones from the Map, new ones interned natively (the table grows) in one call. */
  #translate(state: NativeLstmState, strings: readonly string[], n: number): { ids: Uint32Array; created: Uint32Array } {
    if (this.#ids.length < n) this.#ids = new Uint32Array(Math.max(n, 2 * this.#ids.length))
    const ids = this.#ids.subarray(0, n)
    const created = this.#strings!.translate(strings, ids, (packed, into) => state.intern(packed, into))
    return { ids, created }
  }

  /** A refused step: the keys it created are forgotten, natively and in the Map. */
  #undo(state: NativeLstmState, created: Uint32Array): void {
    if (created.length === 0) return
    state.undoIntern()
    this.#strings!.forget(created)
  }

  /** Zeroes the state of the given ids (all checked first), or of every key. */
  reset(keys?: Uint32Array): void {
    const state = this.native()
    if (keys === undefined) return state.reset()
    state.reset(expectTypedArray(keys, 'keys', Uint32Array))
  }

  /**
   * Keyed states: frees keys now, their (h, c) zeroed and their ids reused; a key that comes back starts
   * from zero state. `keys` of the state's kind (unknown ones are skipped) or ids (each live, else
   * ERR_OUT_OF_RANGE and nothing freed). Returns how many were freed.
   */
  expire(keys: KeyColumn): number {
    const state = this.native()
    const column = expireColumn(keys, this.keyKind, this.#strings)
    const freed = state.expire(column)
    if (column instanceof Uint32Array) this.#strings?.forget(column)
    return freed
  }

  /** Keyed states: the keys of live ids, in the state's kind (ERR_OUT_OF_RANGE for an id not live). */
  keysOf(ids: Uint32Array): KeyValues {
    const state = this.native()
    if (this.keyKind === 'dense') throw new SluiceError("keysOf() needs interned keys (the `keys` option)", 'ERR_INVALID_ARGUMENT')
    expectTypedArray(ids, 'ids', Uint32Array)
    return this.#strings ? this.#strings.stringsOf(ids) : (state.keysOf(ids) as KeyValues)
  }

  /** Keyed states: every live key's id, ascending. */
  liveIds(): Uint32Array {
    return this.native().liveIds()
  }

  /** The table's size and, for a keyed state, its keys (live, expired, their bytes). */
  info(): LstmStateInfo {
    return this.native().info()
  }

  /** Replaces the state with a snapshot's (a keyed state's key dictionary included); see Snapshots.restore. */
  override restore(bytes: Uint8Array): void {
    super.restore(bytes)
    if (this.#strings !== undefined) {
      const state = this.native()
      const ids = state.liveIds()
      this.#strings.reset(ids, state.keysOf(ids) as PackedKeys)
    }
  }
}
