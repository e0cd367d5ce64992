// Training windows from a series: [time][channel] values → x [steps][batch][inputs] (the layout LstmModel's
// fit and predict take) and y [batch][targets], the value `horizon` steps after each window's last step.
import { SluiceError } from '../runtime/errors'
import { allocate, expectInteger, expectOneOf, expectTypedArray } from '../runtime/validate'

export interface SeriesWindowOptions {
  /** Channels per time step of the series. */
  channels: number
  /** Time steps per window. */
  steps: number
  /** How far after a window's last step its target lies (1: the next step). Default 1. */
  horizon?: number
  /** Time steps between the starts of consecutive windows. Default 1. */
  stride?: number
  /** Channels fed to the model, in order. Default: all. */
  inputs?: readonly number[]
  /** Channels to forecast, in order. Default: all. */
  targets?: readonly number[]
  /** NaN / ±Infinity in the series: 'error' (default: ERR_INVALID_ARGUMENT naming the first bad index) or
   * 'forward-fill' (the channel's last finite value; a gap at the very start takes the first finite value). */
  nan?: 'error' | 'forward-fill'
}

export interface SeriesWindows {
  /** [steps][batch][inputs.length] */
  x: Float32Array
  /** [batch][targets.length] */
  y: Float32Array
  steps: number
  batch: number
  inputSize: number
  outputSize: number
}

function channelList(list: readonly number[] | undefined, channels: number, name: string): number[] {
  if (list === undefined) return Array.from({ length: channels }, (_, c) => c)
  if (!Array.isArray(list) || list.length < 1) throw new SluiceError(`${name} must be a non-empty array of channel indices`, 'ERR_INVALID_ARGUMENT')
  return list.map((c, i) => expectInteger(c, `${name}[${i}]`, 0, channels - 1))
}

/** Windows of a [time][channel] series; batch = floor((time − steps − horizon) / stride) + 1. */
export function windows(series: Float32Array | Float64Array, options: SeriesWindowOptions): SeriesWindows {
  expectTypedArray<Float32ArrayConstructor | Float64ArrayConstructor>(series, 'series', Float32Array, Float64Array)
  if (typeof options !== 'object' || options === null) throw new SluiceError('options must be { channels, steps }', 'ERR_INVALID_TYPE')
  const C = expectInteger(options.channels, 'channels', 1)
  const steps = expectInteger(options.steps, 'steps', 1)
  const horizon = expectInteger(options.horizon ?? 1, 'horizon', 1)
  const stride = expectInteger(options.stride ?? 1, 'stride', 1)
  const nan = expectOneOf(options.nan ?? 'error', 'nan', ['error', 'forward-fill'] as const)
  const inputs = channelList(options.inputs, C, 'inputs')
  const targets = channelList(options.targets, C, 'targets')
  if (series.length % C !== 0) throw new SluiceError(`series.length (${series.length}) must be a multiple of channels (${C})`, 'ERR_INVALID_LENGTH')
  const time = series.length / C
  if (time < steps + horizon) {
    throw new SluiceError(`a series of ${time} steps has no window of ${steps} steps with a target ${horizon} after it`, 'ERR_INVALID_ARGUMENT')
  }
  let values: Float32Array | Float64Array = series
  for (let i = 0; i < series.length; i++) {
    if (Number.isFinite(series[i]!)) continue
    if (nan === 'error') throw new SluiceError(`series[${i}] (time ${Math.floor(i / C)}, channel ${i % C}) is ${series[i]}`, 'ERR_INVALID_ARGUMENT')
    values = forwardFill(series, C)
    break
  }
  const batch = Math.floor((time - steps - horizon) / stride) + 1
  const I = inputs.length, O = targets.length
  const x = allocate(Float32Array, steps * batch * I, 'x')
  const y = allocate(Float32Array, batch * O, 'y')
  for (let b = 0; b < batch; b++) {
    const start = b * stride
    for (let t = 0; t < steps; t++) {
      const row = (start + t) * C, at = (t * batch + b) * I
      for (let k = 0; k < I; k++) x[at + k] = values[row + inputs[k]!]!
    }
    const row = (start + steps - 1 + horizon) * C
    for (let k = 0; k < O; k++) y[b * O + k] = values[row + targets[k]!]!
  }
  return { x, y, steps, batch, inputSize: I, outputSize: O }
}

function forwardFill(series: Float32Array | Float64Array, C: number): Float64Array {
  const out = Float64Array.from(series)
  const time = series.length / C
  for (let c = 0; c < C; c++) {
    let last = NaN
    for (let t = 0; t < time; t++) {
      const v = out[t * C + c]!
      if (Number.isFinite(v)) last = v
      else out[t * C + c] = last
    }
    let first = NaN
    for (let t = 0; t < time && !Number.isFinite(first); t++) first = out[t * C + c]!
    if (!Number.isFinite(first)) throw new SluiceError(`channel ${c} has no finite value to fill from`, 'ERR_INVALID_ARGUMENT')
    for (let t = 0; t < time && !Number.isFinite(out[t * C + c]!); t++) out[t * C + c] = first
  }
  return out
}
