// Training windows of several series (one per key) as one training set. Kept inside the CLI, not public API:
// the demo and examples/sensor-anomalies.js (through dist/cli/) use it.
import { SluiceError } from '../runtime/errors'
import type { SeriesWindows } from '../lstm/series_windows'

/** x [steps][Σ batch][inputs] and y [Σ batch][targets]: the parts' windows side by side, in order. */
export function stackWindows(parts: readonly SeriesWindows[]): SeriesWindows {
  const first = parts[0]
  if (first === undefined) throw new SluiceError('stackWindows needs at least one part', 'ERR_INVALID_ARGUMENT')
  const { steps, inputSize: I, outputSize: O } = first
  if (parts.some((p) => p.steps !== steps || p.inputSize !== I || p.outputSize !== O)) {
    throw new SluiceError('the parts must have the same steps, inputSize and outputSize', 'ERR_INVALID_ARGUMENT')
  }
  const batch = parts.reduce((n, p) => n + p.batch, 0)
  const x = new Float32Array(steps * batch * I), y = new Float32Array(batch * O)
  let offset = 0
  for (const p of parts) {
    for (let t = 0; t < steps; t++) x.set(p.x.subarray(t * p.batch * I, (t + 1) * p.batch * I), (t * batch + offset) * I)
    y.set(p.y, offset * O)
    offset += p.batch
  }
  return { x, y, steps, batch, inputSize: I, outputSize: O }
}
