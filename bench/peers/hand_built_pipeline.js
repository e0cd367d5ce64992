// The Pipeline's hand-built peer: what a user would write without sluice, with the same semantics, so the
// pipeline benchmark compares equal work and test/pipeline/hand_built_peer.test.ts checks the rows agree.
//  - watermarks: per input max timestamp − bound − 1, combined = min over inputs, never going back (no idleness);
//  - keyed tumbling windows of `size` (offset 0): per key a ring of panes holding each channel's sum,
//    non-NaN count and max; a pane fires when the watermark reaches its end − 1, keys in id order; events
//    for a pane that has fired are late (counted);
//  - forward fill of missing rows (gaps up to maxFill rows; a longer gap restarts the key) and NaN channels;
//  - an LSTM forecaster in onnxruntime-node (a model from test/support/onnx_lstm_model.ts): 'state' mode
//    gathers the per-key h/c of a round of distinct keys, one session.run, and scatters them back (model
//    built withState); 'window' mode runs each key's last `steps` rows from zero state; targets 'level' or
//    'change' as the Pipeline's; no scalers;
//  - the rolling z-score of the forecast residual (RollingZScore's rule: previous `window` values per key and
//    channel, sample std floored at minStd, warm-up, excludeFlagged) with running sums.
// Result columns are reused between calls (copy what you keep).
'use strict'

class HandBuiltPipeline {
  /**
   * @param {{ inputs?: number, keyCount: number, channels: number, size: number, bound?: number, maxFill?: number,
   *   panes?: number, anomaly?: { window?: number, warmup?: number, minStd?: number, threshold?: number, excludeFlagged?: boolean },
   *   forecaster?: { ort: any, session: any, hiddenSize: number, mode?: 'window' | 'state', steps?: number, target?: 'level' | 'change' } }} options
   */
  constructor(options) {
    const K = (this.keyCount = options.keyCount)
    const C = (this.channels = options.channels)
    this.size = options.size
    this.bound = options.bound ?? 0
    this.maxFill = options.maxFill ?? 120
    // Watermarks.
    this.inputMax = new Float64Array(options.inputs ?? 1).fill(-Infinity)
    this.watermark = -Infinity
    // Windows: per key a ring of panes; pane index = floor(t / size).
    const R = (this.panes = options.panes ?? Math.ceil(this.bound / this.size) + 3)
    this.paneOf = new Float64Array(K * R).fill(NaN)
    this.paneEvents = new Float64Array(K * R)
    this.paneSum = new Float64Array(K * R * C)
    this.paneN = new Float64Array(K * R * C)
    this.paneMax = new Float64Array(K * R * C)
    this.nextPane = -Infinity // every pane below it has fired
    this.lowestPane = Infinity // the lowest pane with data that has not fired
    this.highestPane = -Infinity
    this.late = 0
    // Forward fill.
    this.lastStart = new Float64Array(K).fill(NaN)
    this.lastValues = new Float64Array(K * C).fill(NaN)
    // Forecaster.
    const f = options.forecaster
    this.mode = f ? f.mode ?? 'window' : 'none'
    this.target = f?.target ?? 'level'
    this.steps = this.mode === 'window' ? f.steps ?? 16 : 1
    this.historyRows = this.mode === 'window' ? this.steps + (this.target === 'change' ? 1 : 0) : this.target === 'change' ? 2 : 1
    this.inputRows = this.target === 'change' ? this.historyRows - 1 : this.historyRows
    this.history = new Float64Array(this.mode === 'none' ? 0 : K * this.historyRows * C)
    this.historyCount = new Uint32Array(K)
    this.pending = new Float64Array(K * C).fill(NaN)
    if (f) {
      this.ort = f.ort
      this.session = f.session
      const H = (this.hiddenSize = f.hiddenSize)
      this.h = new Float32Array(this.mode === 'state' ? K * H : 0)
      this.c = new Float32Array(this.mode === 'state' ? K * H : 0)
      this.x = new Float32Array(K * this.inputRows * C)
      this.h0 = new Float32Array(this.mode === 'state' ? K * H : 0)
      this.c0 = new Float32Array(this.mode === 'state' ? K * H : 0)
    }
    // Z-score of the residual.
    const a = options.anomaly ?? {}
    this.zWindow = a.window ?? 60
    this.zWarmup = a.warmup ?? Math.min(10, this.zWindow)
    this.zMinStd = a.minStd ?? 1e-9
    this.zThreshold = a.threshold ?? 4
    this.zExcludeFlagged = a.excludeFlagged ?? true
    const zSlots = this.mode === 'none' ? 0 : K * C
    this.zRing = new Float64Array(zSlots * this.zWindow)
    this.zHead = new Uint32Array(zSlots)
    this.zFill = new Uint32Array(zSlots)
    this.zSum = new Float64Array(zSlots)
    this.zSumSq = new Float64Array(zSlots)
    this.residual = new Float64Array(C)
    // Fired windows and result rows (grown on demand, reused).
    this.fired = { length: 0, key: new Uint32Array(0), pane: new Float64Array(0), count: new Float64Array(0), missing: new Float64Array(0), mean: new Float64Array(0), max: new Float64Array(0) }
    this.rows = emptyRows(0, C)
    this.roundOf = new Uint32Array(K)
  }

  /** One source batch { input?, timestamps, keys?, values } → the rows its watermark fires. */
  async process(batch) {
    const { timestamps, keys, values } = batch
    const C = this.channels, R = this.panes, size = this.size, n = timestamps.length
    let max = this.inputMax[batch.input ?? 0]
    for (let i = 0; i < n; i++) {
      const t = timestamps[i]
      if (t > max) max = t
      const pane = Math.floor(t / size)
      if (pane < this.nextPane) {
        this.late++
        continue
      }
      const k = keys ? keys[i] : 0
      const slot = k * R + (((pane % R) + R) % R)
      if (this.paneOf[slot] !== pane) {
        if (this.paneOf[slot] === this.paneOf[slot]) throw new Error(`key ${k}: more than ${R} panes open at once`)
        this.paneOf[slot] = pane
        this.paneEvents[slot] = 0
        this.paneSum.fill(0, slot * C, slot * C + C)
        this.paneN.fill(0, slot * C, slot * C + C)
        this.paneMax.fill(-Infinity, slot * C, slot * C + C)
      }
      this.paneEvents[slot]++
      for (let c = 0; c < C; c++) {
        const v = values[i * C + c]
        if (v !== v) continue
        const j = slot * C + c
        this.paneSum[j] += v
        this.paneN[j]++
        if (v > this.paneMax[j]) this.paneMax[j] = v
      }
      if (pane < this.lowestPane) this.lowestPane = pane
      if (pane > this.highestPane) this.highestPane = pane
    }
    this.inputMax[batch.input ?? 0] = max
    let combined = Infinity
    for (const m of this.inputMax) combined = Math.min(combined, m - this.bound - 1)
    if (combined > this.watermark) this.watermark = combined
    // Panes whose end − 1 the watermark reached: pane < floor((watermark + 1) / size).
    this.fire(Math.floor((this.watermark + 1) / size))
    return this.rowsOf(this.watermark)
  }

  /** End of stream: every pane fires. */
  async finish() {
    this.fire(this.highestPane + 1)
    return this.rowsOf(Infinity)
  }

  /** Fires the panes below `upTo` into this.fired, pane by pane, keys in id order. */
  fire(upTo) {
    const K = this.keyCount, C = this.channels, R = this.panes
    const fired = this.fired
    fired.length = 0
    if (upTo <= this.nextPane) return
    for (let pane = this.lowestPane; pane < upTo && pane <= this.highestPane; pane++) {
      const ring = ((pane % R) + R) % R
      for (let k = 0; k < K; k++) {
        const slot = k * R + ring
        if (this.paneOf[slot] !== pane) continue
        this.paneOf[slot] = NaN
        const w = fired.length++
        if (w === fired.key.length) this.growFired()
        fired.key[w] = k
        fired.pane[w] = pane
        fired.count[w] = this.paneEvents[slot]
        for (let c = 0; c < C; c++) {
          const j = slot * C + c
          fired.mean[w * C + c] = this.paneN[j] > 0 ? this.paneSum[j] / this.paneN[j] : NaN
          fired.max[w * C + c] = this.paneN[j] > 0 ? this.paneMax[j] : NaN
        }
      }
    }
    this.nextPane = upTo
    this.lowestPane = Math.max(this.lowestPane, upTo)
  }

  growFired() {
    const C = this.channels, f = this.fired, n = Math.max(64, 2 * f.key.length)
    const grow = (a, length) => {
      const b = new a.constructor(length)
      b.set(a)
      return b
    }
    f.key = grow(f.key, n)
    f.pane = grow(f.pane, n)
    f.count = grow(f.count, n)
    f.missing = grow(f.missing, n)
    f.mean = grow(f.mean, n * C)
    f.max = grow(f.max, n * C)
  }

  /** Fired windows → rows (forward fill), then forecasts and scores in rounds of distinct keys. */
  async rowsOf(watermark) {
    const C = this.channels, size = this.size, maxFill = this.maxFill, fired = this.fired
    // Rows first: each fired window plus the gap rows before it (a key may fire several windows at once).
    let rows = 0
    for (let w = 0; w < fired.length; w++) {
      const k = fired.key[w], start = fired.pane[w] * size, previous = this.lastStart[k]
      const missing = previous === previous ? Math.round((start - previous) / size) - 1 : 0
      fired.missing[w] = missing
      this.lastStart[k] = start
      rows += 1 + (missing > 0 && missing <= maxFill ? missing : 0)
    }
    if (this.rows.key.length < rows) this.rows = emptyRows(Math.max(rows, 2 * this.rows.key.length), C)
    const out = this.rows
    out.length = rows
    out.watermark = watermark
    out.forecast.fill(NaN, 0, rows * C)
    out.score.fill(NaN, 0, rows)
    out.flagged.fill(0, 0, rows)
    out.filled.fill(0, 0, rows)
    let r = 0
    for (let w = 0; w < fired.length; w++) {
      const k = fired.key[w], start = fired.pane[w] * size, missing = fired.missing[w]
      if (missing > maxFill) this.resetKey(k)
      for (let g = missing > 0 && missing <= maxFill ? missing : 0; g > 0; g--) {
        out.key[r] = k
        out.start[r] = start - g * size
        out.count[r] = 0
        out.filled[r] = 1
        for (let c = 0; c < C; c++) out.values[r * C + c] = this.lastValues[k * C + c]
        r++
      }
      out.key[r] = k
      out.start[r] = start
      out.count[r] = fired.count[w]
      for (let c = 0; c < C; c++) {
        let v = fired.mean[w * C + c]
        if (v !== v) {
          v = this.lastValues[k * C + c]
          out.filled[r] = 1
        }
        out.values[r * C + c] = v
        this.lastValues[k * C + c] = v
      }
      r++
    }
    for (let i = 0; i < rows; i++) out.end[i] = out.start[i] + size
    if (this.mode !== 'none') await this.forecastAndScore(out)
    return out
  }

  async forecastAndScore(out) {
    const C = this.channels
    // Round j: each key's j-th row of the batch (distinct keys: one model call per round).
    const rounds = []
    const roundOf = this.roundOf
    for (let r = 0; r < out.length; r++) {
      const j = roundOf[out.key[r]]++
      if (j === rounds.length) rounds.push([])
      rounds[j].push(r)
    }
    for (let r = 0; r < out.length; r++) roundOf[out.key[r]] = 0
    for (const round of rounds) {
      const ready = []
      for (const r of round) {
        const k = out.key[r]
        let known = true
        for (let c = 0; c < C; c++) if (out.values[r * C + c] !== out.values[r * C + c]) known = false
        if (!known) continue
        for (let c = 0; c < C; c++) out.forecast[r * C + c] = this.pending[k * C + c]
        if (!out.filled[r]) {
          for (let c = 0; c < C; c++) this.residual[c] = out.values[r * C + c] - this.pending[k * C + c]
          const score = this.scoreAndUpdate(k, this.residual)
          out.score[r] = score
          if (score > this.zThreshold) out.flagged[r] = 1
        }
        this.appendHistory(k, out.values, r * C)
        if (this.historyCount[k] === this.historyRows) ready.push(k)
        else this.pending.fill(NaN, k * C, k * C + C)
      }
      if (ready.length > 0) await this.forecastNext(ready)
    }
  }

  appendHistory(k, values, at) {
    const C = this.channels, R = this.historyRows, base = k * R * C, n = this.historyCount[k]
    if (n < R) {
      for (let c = 0; c < C; c++) this.history[base + n * C + c] = values[at + c]
      this.historyCount[k] = n + 1
    } else {
      this.history.copyWithin(base, base + C, base + R * C)
      for (let c = 0; c < C; c++) this.history[base + (R - 1) * C + c] = values[at + c]
    }
  }

  /** pending[k] for each key in `ready`: one session.run for all of them. */
  async forecastNext(ready) {
    const C = this.channels, R = this.historyRows, T = this.inputRows, B = ready.length, change = this.target === 'change'
    const ort = this.ort
    // x is time-major [T][B][C] (ONNX's LSTM layout).
    const x = new Float32Array(this.x.buffer, 0, T * B * C)
    for (let b = 0; b < B; b++) {
      const base = ready[b] * R * C
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < C; c++) {
          const i = base + t * C + c
          x[(t * B + b) * C + c] = change ? this.history[i + C] - this.history[i] : this.history[i]
        }
      }
    }
    const feeds = { x: new ort.Tensor('float32', x, [T, B, C]) }
    const H = this.hiddenSize
    if (this.mode === 'state') {
      const h0 = new Float32Array(this.h0.buffer, 0, B * H), c0 = new Float32Array(this.c0.buffer, 0, B * H)
      for (let b = 0; b < B; b++) {
        h0.set(this.h.subarray(ready[b] * H, ready[b] * H + H), b * H)
        c0.set(this.c.subarray(ready[b] * H, ready[b] * H + H), b * H)
      }
      feeds.h0_l0 = new ort.Tensor('float32', h0, [1, B, H])
      feeds.c0_l0 = new ort.Tensor('float32', c0, [1, B, H])
    }
    const result = await this.session.run(feeds)
    const y = result.y.data
    if (this.mode === 'state') {
      const h = result.h_l0.data, c = result.c_l0.data
      for (let b = 0; b < B; b++) {
        this.h.set(h.subarray(b * H, b * H + H), ready[b] * H)
        this.c.set(c.subarray(b * H, b * H + H), ready[b] * H)
      }
    }
    for (let b = 0; b < B; b++) {
      const k = ready[b], last = k * R * C + (R - 1) * C
      for (let c = 0; c < C; c++) this.pending[k * C + c] = y[b * C + c] + (change ? this.history[last + c] : 0)
    }
  }

  /** RollingZScore's rule, with running sums: max over channels of |z|, NaN while warming up. */
  scoreAndUpdate(k, values) {
    const C = this.channels, W = this.zWindow
    let score = -Infinity
    for (let c = 0; c < C; c++) {
      const slot = k * C + c, v = values[c], n = this.zFill[slot]
      if (n < this.zWarmup || v !== v) {
        score = NaN
        continue
      }
      const mean = this.zSum[slot] / n
      const variance = Math.max((this.zSumSq[slot] - this.zSum[slot] * mean) / (n - 1), 0)
      const z = Math.abs(v - mean) / Math.max(Math.sqrt(variance), this.zMinStd)
      if (!(z <= score)) score = score !== score ? score : z
    }
    if (!(score > this.zThreshold && this.zExcludeFlagged)) {
      for (let c = 0; c < C; c++) {
        const v = values[c]
        if (v !== v) continue
        const slot = k * C + c, at = slot * W + this.zHead[slot]
        if (this.zFill[slot] === W) {
          this.zSum[slot] -= this.zRing[at]
          this.zSumSq[slot] -= this.zRing[at] * this.zRing[at]
        } else {
          this.zFill[slot]++
        }
        this.zRing[at] = v
        this.zSum[slot] += v
        this.zSumSq[slot] += v * v
        this.zHead[slot] = (this.zHead[slot] + 1) % W
      }
    }
    return score
  }

  resetKey(k) {
    const C = this.channels
    this.historyCount[k] = 0
    this.pending.fill(NaN, k * C, k * C + C)
    if (this.mode === 'none') return
    for (let c = 0; c < C; c++) {
      const slot = k * C + c
      this.zHead[slot] = this.zFill[slot] = this.zSum[slot] = this.zSumSq[slot] = 0
    }
    if (this.mode === 'state') {
      this.h.fill(0, k * this.hiddenSize, (k + 1) * this.hiddenSize)
      this.c.fill(0, k * this.hiddenSize, (k + 1) * this.hiddenSize)
    }
  }
}

function emptyRows(n, C) {
  return {
    length: 0, watermark: -Infinity, key: new Uint32Array(n), start: new Float64Array(n), end: new Float64Array(n), count: new Float64Array(n),
    filled: new Uint8Array(n), values: new Float64Array(n * C), forecast: new Float64Array(n * C), score: new Float64Array(n), flagged: new Uint8Array(n),
  }
}

module.exports = { HandBuiltPipeline }
