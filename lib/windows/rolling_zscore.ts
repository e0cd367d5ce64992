// RollingZScore: per (key, channel) z-score of a value against the mean and standard deviation of the
// previous `window` values of that key and channel. Used for the pipeline's anomaly score (on forecast
// residuals) and for the demo's baseline (on raw readings), so both follow exactly the same rule.
import { SluiceError } from '../runtime/errors'
import { allocate, expectFinite, expectInteger } from '../runtime/validate'

export interface RollingZScoreOptions {
  keyCount: number
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
}

/** Memory: keyCount · channels · (window + 3) · 8 bytes. */
export class RollingZScore {
  readonly keyCount: number
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

  constructor(options: RollingZScoreOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.keyCount = expectInteger(options.keyCount, 'keyCount', 1, 2 ** 24)
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
