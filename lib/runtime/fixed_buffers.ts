// Async native work and the caller's buffers: a worker thread must never see its memory shrink, so arrays
// over a resizable ArrayBuffer or a growable SharedArrayBuffer are worked on as fixed-size copies.

/** Whether `array`'s buffer can be resized (or grown) while a worker thread uses it. */
export function isResizable(array: ArrayBufferView): boolean {
  // ES2024 properties; the ES2022 typings do not know them yet.
  const buffer = array.buffer as ArrayBufferLike & { resizable?: boolean; growable?: boolean }
  return buffer.resizable === true || buffer.growable === true
}

/**
 * Runs `work` (native work on a worker thread that reads `input` and writes `output`, resolving with what it
 * wrote) on the arrays themselves, or on fixed-size copies when either could be resized meanwhile; either way
 * it resolves with `output`.
 */
export function onFixedBuffers(input: Float32Array, output: Float32Array, work: (input: Float32Array, output: Float32Array) => Promise<Float32Array>): Promise<Float32Array> {
  if (!isResizable(input) && !isResizable(output)) return work(input, output)
  return work(input.slice(), new Float32Array(output.length)).then((computed) => {
    output.set(computed)
    return output
  })
}
