// LstmState: per-key (h, c) for streaming, one step per call (step, or stepAsync on a worker thread); its
// snapshot (withSnapshots) holds every key's state, capacity · bytesPerKey bytes roughly.
import type { NativeLstmState } from '../runtime/addon_types'
import { withSnapshots } from '../runtime/snapshots'
import { expectTypedArray, outputArray } from '../runtime/validate'
import { LstmTable } from './lstm_table'

/**
 * Per-key LSTM state (h and c of every layer) for up to `capacity` keys, kept in native memory:
 * bytesPerKey = numLayers · 2 · ceil(hiddenSize / 16) · 16 · 4 + 4 bytes, allocated zeroed up front.
 * step() advances each listed key by one time step, exactly as if its inputs had been one sequence.
 */
export class LstmState extends withSnapshots(LstmTable<NativeLstmState>) {
  /**
   * keys: distinct keys below capacity (a repeated key is ERR_INVALID_ARGUMENT, a key ≥ capacity
   * ERR_OUT_OF_RANGE; nothing changes then); x: [keys.length][inputSize]. Returns [keys.length][outputSize]:
   * each key's head output (or hidden state) after this step.
   */
  step(keys: Uint32Array, x: Float32Array, out?: Float32Array): Float32Array {
    const state = this.native()
    const result = this.#prepare(keys, x, out)
    state.step(keys, x, result)
    return result
  }

  /**
   * step() on a native worker thread, so the event loop stays free; resolves with the view step() would
   * return (of `out` when given). Every check (closed, types, lengths, keys) happens before anything is
   * queued: a bad call rejects with step()'s code and changes nothing. keys and x are copied at the call;
   * the result is copied into out when the step ends, and the promise rejects with ERR_INVALID_STATE if out
   * was detached (transferred) or shrunk meanwhile (the keys' states have still advanced).
   *
   * One step at a time per state: while a stepAsync is in flight, step, stepAsync, reset, snapshot and
   * restore throw ERR_INVALID_STATE ('a stepAsync is in flight'); await it first. close() is allowed: the
   * state is closed at once for later calls, the step in flight still completes and resolves, and the
   * native memory is freed when it ends. Different states (even of one model) may step concurrently; calls
   * on one model take turns inside the native code.
   */
  stepAsync(keys: Uint32Array, x: Float32Array, out?: Float32Array): Promise<Float32Array> {
    try {
      const state = this.native()
      const result = this.#prepare(keys, x, out)
      return state.stepAsync(keys, x, result)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /** step()'s argument checks; the output view of exactly keys.length · outputSize floats. */
  #prepare(keys: Uint32Array, x: Float32Array, out: Float32Array | undefined): Float32Array {
    const length = this.checkRows(keys, x) * this.outputSize
    const array = outputArray(out, Float32Array, length)
    return array.length === length ? array : array.subarray(0, length)
  }

  /** Zeroes the state of the given keys (all checked first), or of every key. */
  reset(keys?: Uint32Array): void {
    const state = this.native()
    if (keys === undefined) return state.reset()
    state.reset(expectTypedArray(keys, 'keys', Uint32Array))
  }
}
