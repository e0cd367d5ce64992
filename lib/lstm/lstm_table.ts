// What LstmState and LstmWindows share: a per-key table over an LstmModel, allocated up front for keys
// 0 … capacity − 1, that takes rows of the model's inputSize and gives back rows of its outputSize.
import type { NativeHandle } from '../runtime/addon_types'
import { SluiceError } from '../runtime/errors'
import { expectTypedArray } from '../runtime/validate'
import { NativeObject } from '../runtime/native_object'

/** The native side of a per-key table: its size, as info() reports it. */
export interface NativeLstmTable extends NativeHandle {
  info(): { capacity: number; bytesPerKey: number }
}

export abstract class LstmTable<H extends NativeLstmTable> extends NativeObject<H> {
  /** Keys 0 … capacity − 1 (a keyed LstmState's table grows: see its capacity). */
  #capacity: number
  /** Bytes of memory per key, allocated up front (the formula is the class's). */
  readonly bytesPerKey: number
  /** Floats per input row (the model's). */
  readonly inputSize: number
  /** Floats per output row (the model's). */
  readonly outputSize: number

  /** @internal built by LstmModel (createState, createWindows) */
  constructor(handle: H, inputSize: number, outputSize: number) {
    super()
    this.attach(handle)
    const info = handle.info()
    this.#capacity = info.capacity
    this.bytesPerKey = info.bytesPerKey
    this.inputSize = inputSize
    this.outputSize = outputSize
  }

  /** Rows of the table now: ids 0 … capacity − 1. */
  get capacity(): number {
    return this.#capacity
  }

  /** The rows a call gives: `keys` (Uint32Array) and x [keys.length][inputSize] (Float32Array); their count. */
  protected checkRows(keys: Uint32Array, x: Float32Array): number {
    expectTypedArray(keys, 'keys', Uint32Array)
    expectTypedArray(x, 'x', Float32Array)
    const n = keys.length
    if (x.length !== n * this.inputSize) {
      throw new SluiceError(`x.length (${x.length}) must be keys.length·inputSize = ${n}·${this.inputSize} = ${n * this.inputSize}`, 'ERR_INVALID_LENGTH')
    }
    return n
  }
}
