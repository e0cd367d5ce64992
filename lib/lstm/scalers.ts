// Feature scaling for training: per-channel min-max or z-score, fitted on training data only and saved with
// the model (toSafetensors writes them into the file's __metadata__). Data is row-major [row][channel].
import { SluiceError } from '../runtime/errors'
import { expectInteger, expectOneOf, expectTypedArray } from '../runtime/validate'

export type ScalerKind = 'minmax' | 'zscore'

export interface ScalerJson {
  kind: ScalerKind
  /** Per channel: scaled = (value − offset) / scale. */
  offset: number[]
  scale: number[]
}

export interface ScalerFitOptions {
  /** Values per row of the data. */
  channels: number
  /** Only the first `rows` rows are used (e.g. the training part of a series). Default: all. */
  rows?: number
}

/** A per-channel affine map, scaled = (value − offset) / scale, and its inverse. */
export class Scaler {
  readonly kind: ScalerKind
  readonly offset: Float64Array
  readonly scale: Float64Array

  constructor(kind: ScalerKind, offset: ArrayLike<number>, scale: ArrayLike<number>) {
    this.kind = expectOneOf(kind, 'kind', ['minmax', 'zscore'] as const)
    if (offset.length !== scale.length || offset.length < 1) throw new SluiceError('offset and scale must have the same, positive length', 'ERR_INVALID_LENGTH')
    this.offset = Float64Array.from(offset)
    this.scale = Float64Array.from(scale)
    for (let c = 0; c < this.scale.length; c++) {
      if (!Number.isFinite(this.offset[c]!) || !Number.isFinite(this.scale[c]!) || this.scale[c] === 0) {
        throw new SluiceError(`scaler channel ${c}: offset and scale must be finite and scale non-zero`, 'ERR_INVALID_ARGUMENT')
      }
    }
  }

  get channels(): number {
    return this.scale.length
  }

  /**
   * Fits per-channel statistics. minmax maps [min, max] to [0, 1]; zscore maps the mean to 0 and one
   * (population) standard deviation to 1. A constant channel gets scale 1. NaN in the data: ERR_INVALID_ARGUMENT
   * naming the index.
   */
  static fit(kind: ScalerKind, data: Float32Array | Float64Array, options: ScalerFitOptions): Scaler {
    expectOneOf(kind, 'kind', ['minmax', 'zscore'] as const)
    expectTypedArray<Float32ArrayConstructor | Float64ArrayConstructor>(data, 'data', Float32Array, Float64Array)
    const channels = expectInteger(options?.channels, 'channels', 1)
    if (data.length % channels !== 0) throw new SluiceError(`data.length (${data.length}) must be a multiple of channels (${channels})`, 'ERR_INVALID_LENGTH')
    const rows = options.rows === undefined ? data.length / channels : expectInteger(options.rows, 'rows', 1, data.length / channels)
    if (rows < 1) throw new SluiceError('cannot fit a scaler on empty data', 'ERR_INVALID_ARGUMENT')
    const offset = new Float64Array(channels), scale = new Float64Array(channels)
    for (let c = 0; c < channels; c++) {
      let min = Infinity, max = -Infinity, sum = 0
      for (let r = 0; r < rows; r++) {
        const v = data[r * channels + c]!
        if (!Number.isFinite(v)) throw new SluiceError(`data[${r * channels + c}] (row ${r}, channel ${c}) is ${v}`, 'ERR_INVALID_ARGUMENT')
        if (v < min) min = v
        if (v > max) max = v
        sum += v
      }
      if (kind === 'minmax') {
        offset[c] = min
        scale[c] = max > min ? max - min : 1
      } else {
        const mean = sum / rows
        let squares = 0
        for (let r = 0; r < rows; r++) squares += (data[r * channels + c]! - mean) ** 2
        const sd = Math.sqrt(squares / rows)
        offset[c] = mean
        scale[c] = sd > 0 ? sd : 1
      }
    }
    return new Scaler(kind, offset, scale)
  }

  static fromJSON(json: ScalerJson): Scaler {
    if (typeof json !== 'object' || json === null || !Array.isArray(json.offset) || !Array.isArray(json.scale)) {
      throw new SluiceError('a scaler needs { kind, offset: number[], scale: number[] }', 'ERR_MALFORMED_DATA')
    }
    return new Scaler(json.kind, json.offset, json.scale)
  }

  toJSON(): ScalerJson {
    return { kind: this.kind, offset: Array.from(this.offset), scale: Array.from(this.scale) }
  }

  /** A scaler of some of this one's channels, in the given order (e.g. the target channels). */
  select(channels: readonly number[]): Scaler {
    const pick = channels.map((c) => expectInteger(c, 'channel', 0, this.channels - 1))
    return new Scaler(this.kind, pick.map((c) => this.offset[c]!), pick.map((c) => this.scale[c]!))
  }

  /** (value − offset) / scale per channel, into out (default a new Float32Array). */
  transform(data: Float32Array | Float64Array, out?: Float32Array | Float64Array): Float32Array | Float64Array {
    return this.#map(data, out, false)
  }

  /** value · scale + offset per channel: back to the original units. */
  inverse(data: Float32Array | Float64Array, out?: Float32Array | Float64Array): Float32Array | Float64Array {
    return this.#map(data, out, true)
  }

  #map(data: Float32Array | Float64Array, out: Float32Array | Float64Array | undefined, inverse: boolean) {
    expectTypedArray<Float32ArrayConstructor | Float64ArrayConstructor>(data, 'data', Float32Array, Float64Array)
    const C = this.channels
    if (data.length % C !== 0) throw new SluiceError(`data.length (${data.length}) must be a multiple of the scaler's channels (${C})`, 'ERR_INVALID_LENGTH')
    const result = out ?? new Float32Array(data.length)
    expectTypedArray<Float32ArrayConstructor | Float64ArrayConstructor>(result, 'out', Float32Array, Float64Array)
    if (result.length < data.length) throw new SluiceError(`out must hold at least ${data.length} elements`, 'ERR_INVALID_LENGTH')
    for (let i = 0; i < data.length; i++) {
      const c = i % C
      result[i] = inverse ? data[i]! * this.scale[c]! + this.offset[c]! : (data[i]! - this.offset[c]!) / this.scale[c]!
    }
    return result.length === data.length ? result : result.subarray(0, data.length)
  }
}
