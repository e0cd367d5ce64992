// Keyed event-time windows and watermarks, sluice against a plain-JS implementation in the same run.
//  1. Keyed sliding time windows, 10,000 keys, 60 s / 10 s, 4 aggregates (count, sum, min, max), in order:
//     sluice EventTimeWindows vs a pane-based plain-JS engine (typed arrays, same firing rule).
//  2. The same stream with 5% of events out of order within the bound (2 s): throughput kept vs in order.
//  3. WatermarkTracker.observe on batches of 10^4 timestamps vs a plain-JS max loop.
// Engines are long-running: each op pushes the next 10^6 events in 10^4-event batches and advances the
// watermark (max timestamp − bound − 1) after each batch.
'use strict'
const { runSuite } = require('./harness')
const { EventTimeWindows, WatermarkTracker } = require('../dist')
const { mulberry32 } = require('../dist/runtime/random')

const KEYS = 10_000
const SIZE = 60_000
const SLIDE = 10_000
const BOUND = 2_000
const EVENTS = 1_000_000
const BATCH = 10_000
const STEP = 0.1 // ms between events: 10 events per ms, each key about once a second

function makeStream(outOfOrderFraction, seed = 1) {
  const random = mulberry32(seed) // every key equally likely (a double-precision LCG here repeats early)
  const timestamps = new Float64Array(EVENTS)
  const keys = new Uint32Array(EVENTS)
  const values = new Float64Array(EVENTS)
  for (let i = 0; i < EVENTS; i++) {
    const t = Math.floor(i * STEP)
    timestamps[i] = random() < outOfOrderFraction ? Math.max(0, t - Math.floor(random() * BOUND)) : t
    keys[i] = Math.floor(random() * KEYS)
    values[i] = Math.round((random() - 0.5) * 2000) / 8
  }
  const batches = []
  for (let s = 0; s < EVENTS; s += BATCH) {
    const ts = timestamps.subarray(s, s + BATCH)
    let max = -Infinity
    for (let i = 0; i < ts.length; i++) max = ts[i] > max ? ts[i] : max
    batches.push({ timestamps: ts, keys: keys.subarray(s, s + BATCH), values: values.subarray(s, s + BATCH), watermark: max - BOUND - 1 })
  }
  return batches
}

// A long-running engine, as in a service: each op pushes the next 10^6 events (the stream shifted by its
// span, which costs both peers the same 1M additions) and advances the watermark after every batch.
const SPAN = EVENTS * STEP

function shift(batches) {
  for (const b of batches) {
    const ts = b.timestamps
    for (let i = 0; i < ts.length; i++) ts[i] += SPAN
    b.watermark += SPAN
  }
}

// withOut: the caller passes its own `out` arrays, which EventTimeWindows sizes with a native count of what
// the advance would fire before firing (the price of refusing too-small arrays before any state changes).
function sluiceRunner(batches, withOut = false) {
  const w = new EventTimeWindows({ type: 'sliding', size: SIZE, slide: SLIDE, keyCount: KEYS, aggregates: ['count', 'sum', 'min', 'max'] })
  const room = 4 * KEYS // a batch closes at most one window per key; room to spare
  const out = withOut
    ? { key: new Uint32Array(room), start: new Float64Array(room), end: new Float64Array(room), count: new Float64Array(room), updated: new Uint8Array(room), values: new Float64Array(room * 4) }
    : undefined
  return () => {
    let fired = 0
    for (const b of batches) {
      w.push(b)
      fired += w.advanceWatermark(b.watermark, out).length
    }
    shift(batches)
    return fired
  }
}

// A good plain-JS engine: panes of gcd(size, slide) per key in typed arrays (count, sum, min, max), a
// ring of panes, per-pane key lists, and a window = merge of its panes at firing, keys in order.
class PlainJsSlidingWindows {
  constructor(keyCount, size, slide, ringPanes) {
    const gcd = (x, y) => (y ? gcd(y, x % y) : x)
    this.keyCount = keyCount
    this.pane = gcd(size, slide)
    this.perWindow = size / this.pane
    this.perSlide = slide / this.pane
    this.ring = ringPanes
    const cells = keyCount * ringPanes
    this.stamp = new Float64Array(cells).fill(-1)
    this.count = new Float64Array(cells)
    this.sum = new Float64Array(cells)
    this.min = new Float64Array(cells)
    this.max = new Float64Array(cells)
    this.paneKeys = Array.from({ length: ringPanes }, () => [])
    this.firedThrough = -Infinity // last window index fired
    this.low = Infinity
    this.high = -Infinity
    this.out = { key: new Uint32Array(1024), end: new Float64Array(1024), values: new Float64Array(4096), length: 0 }
    this.seen = new Int32Array(keyCount).fill(-1)
    this.late = []
  }
  push(timestamps, keys, values) {
    const { ring, keyCount, stamp, count, sum, min, max, pane } = this
    const lateBelow = (this.firedThrough + 1) * this.perSlide
    for (let i = 0; i < timestamps.length; i++) {
      const p = Math.floor(timestamps[i] / pane)
      if (p < lateBelow) { this.late.push(i); continue }
      const key = keys[i]
      const slot = (p % ring) * keyCount + key
      if (stamp[slot] !== p) {
        stamp[slot] = p; count[slot] = 0; sum[slot] = 0; min[slot] = Infinity; max[slot] = -Infinity
        this.paneKeys[p % ring].push(key)
      }
      const v = values[i]
      count[slot]++; sum[slot] += v
      if (v < min[slot]) min[slot] = v
      if (v > max[slot]) max[slot] = v
      if (p < this.low) this.low = p
      if (p > this.high) this.high = p
    }
  }
  advance(watermark) {
    const { ring, keyCount, stamp, count, sum, min, max, perWindow, perSlide, pane } = this
    this.out.length = 0
    const last = Math.floor((watermark + 1 - perWindow * pane) / (perSlide * pane))
    if (this.low > this.high) { this.firedThrough = Math.max(this.firedThrough, last); return this.out }
    const from = Math.max(this.firedThrough + 1, Math.ceil((this.low - perWindow + 1) / perSlide))
    const to = Math.min(last, Math.floor(this.high / perSlide))
    for (let k = from; k <= to; k++) {
      const keysInWindow = []
      for (let p = Math.max(k * perSlide, this.low); p < k * perSlide + perWindow && p <= this.high; p++) {
        for (const key of this.paneKeys[p % ring]) if (this.seen[key] !== k) { this.seen[key] = k; keysInWindow.push(key) }
      }
      keysInWindow.sort((a, b) => a - b)
      for (const key of keysInWindow) {
        let c = 0, s = 0, lo = Infinity, hi = -Infinity
        for (let p = k * perSlide; p < k * perSlide + perWindow; p++) {
          const slot = (p % ring) * keyCount + key
          if (stamp[slot] !== p) continue
          c += count[slot]; s += sum[slot]
          if (min[slot] < lo) lo = min[slot]
          if (max[slot] > hi) hi = max[slot]
        }
        this.emit(key, (k * perSlide + perWindow) * pane, c, s, lo, hi)
      }
    }
    this.firedThrough = Math.max(this.firedThrough, last)
    const purgeBelow = (this.firedThrough + 1) * perSlide
    for (let p = this.low; p < purgeBelow && p <= this.high; p++) this.paneKeys[p % ring].length = 0
    this.low = Math.max(this.low, purgeBelow)
    if (this.low > this.high) { this.low = Infinity; this.high = -Infinity }
    return this.out
  }
  emit(key, end, c, s, lo, hi) {
    const o = this.out
    if (o.length === o.key.length) {
      const grow = (a) => { const b = new a.constructor(a.length * 2); b.set(a); return b }
      o.key = grow(o.key); o.end = grow(o.end); o.values = grow(o.values)
    }
    const n = o.length++
    o.key[n] = key; o.end[n] = end
    o.values[4 * n] = c; o.values[4 * n + 1] = s; o.values[4 * n + 2] = lo; o.values[4 * n + 3] = hi
  }
}

function plainJsRunner(batches) {
  const w = new PlainJsSlidingWindows(KEYS, SIZE, SLIDE, 32)
  return () => {
    let fired = 0
    for (const b of batches) {
      w.push(b.timestamps, b.keys, b.values)
      fired += w.advance(b.watermark).length
    }
    shift(batches)
    return fired
  }
}

async function main() {
  // Each peer gets its own copy of the stream (they shift it as they go); a first op checks they agree.
  const runners = {
    js: plainJsRunner(makeStream(0)),
    sluice: sluiceRunner(makeStream(0)),
    sluiceShuffled: sluiceRunner(makeStream(0.05)),
    sluiceOut: sluiceRunner(makeStream(0), true),
  }
  for (let op = 0; op < 2; op++) {
    const js = runners.js(), native = runners.sluice(), withOut = runners.sluiceOut()
    if (js !== native || withOut !== native) throw new Error(`op ${op}: sluice fired ${native} (${withOut} into out arrays) windows, plain JS ${js}`)
  }
  runners.sluiceShuffled()
  await runSuite(`keyed sliding time windows: ${KEYS} keys, 60 s / 10 s, count+sum+min+max, ${EVENTS} events per op, long-running`, [
    { name: 'plain JS panes (typed arrays)', fn: runners.js, events: EVENTS, baseline: true },
    { name: 'sluice EventTimeWindows, in order', fn: runners.sluice, events: EVENTS },
    { name: 'sluice EventTimeWindows, 5% out of order', fn: runners.sluiceShuffled, events: EVENTS },
    { name: 'sluice EventTimeWindows, in order, out arrays', fn: runners.sluiceOut, events: EVENTS },
  ])

  const observeBatch = new Float64Array(10_000)
  for (let i = 0; i < observeBatch.length; i++) observeBatch[i] = 1_700_000_000_000 + i * 3 - (i % 7)
  const tracker = new WatermarkTracker({ inputs: 4, bound: 100, clock: () => 0 })
  let jsMax = -Infinity
  await runSuite('WatermarkTracker.observe, batches of 10^4 timestamps', [
    {
      name: 'plain JS max loop',
      fn: () => {
        let m = -Infinity
        for (let i = 0; i < observeBatch.length; i++) { const x = observeBatch[i]; if (!Number.isFinite(x)) throw new Error('bad'); if (x > m) m = x }
        jsMax = Math.max(jsMax, m - 101)
        return jsMax
      },
      events: observeBatch.length,
      baseline: true,
    },
    { name: 'sluice observe (one native call)', fn: () => tracker.observe(1, observeBatch, 0), events: observeBatch.length },
  ])
}

if (require.main === module) main()
module.exports = main
