// LstmWindows: keyed count windows feeding an LstmModel (see LstmModel.createWindows). On a CUDA model the
// windows live in device memory: a batch of events is copied to the GPU once, the windows and the LSTM
// input are built there and only the results come back.
import type { NativeLstmWindows } from '../runtime/addon_types'
import { outputArray } from '../runtime/validate'
import { LstmTable } from './lstm_table'

export interface LstmWindowsOptions {
  /** Keys 0 … capacity − 1. Memory is allocated up front: capacity · bytesPerKey. */
  capacity: number
  /** Rows per window (the LSTM's time steps). */
  steps: number
}

export interface LstmWindowsResult {
  /** The distinct keys of the batch, in order of first appearance. */
  keys: Uint32Array
  /** [keys.length][outputSize]: the model's output over each key's window. */
  output: Float32Array
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

  /** @internal use LstmModel.createWindows */
  constructor(nativeWindows: NativeLstmWindows, inputSize: number, outputSize: number) {
    super(nativeWindows, inputSize, outputSize)
    const info = nativeWindows.info()
    this.steps = info.steps
    this.backend = info.backend
  }

  /**
   * keys [n] (each < capacity, else ERR_OUT_OF_RANGE and nothing changes; repeats allowed, in order),
   * x [n][inputSize]. `out` may supply `keys` (≥ n) and `output` (≥ n · outputSize) arrays to fill;
   * views of exactly the filled lengths come back.
   */
  push(keys: Uint32Array, x: Float32Array, out: { keys?: Uint32Array; output?: Float32Array } = {}): LstmWindowsResult {
    const windows = this.native()
    const n = this.checkRows(keys, x)
    const outKeys = outputArray(out.keys, Uint32Array, n, 'out.keys')
    const output = outputArray(out.output, Float32Array, n * this.outputSize, 'out.output')
    const k = windows.push(keys, x, outKeys, output)
    return { keys: outKeys.subarray(0, k), output: output.subarray(0, k * this.outputSize) }
  }

  /** Empties every window. */
  reset(): void {
    this.native().reset()
  }
}
