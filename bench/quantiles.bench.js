// Exact sliding quantiles: count window of 1000, slide 1, over 10^6 doubles (normal), one channel, batch push.
// sluice (p50 alone; p50 + p90 + p99) against a good plain-JS sorted array (binary searches, one copyWithin per
// row moving only the values between the leaving and the entering value's places, into a preallocated
// output) and the `tdigest` npm package (approximate, and with no eviction: it cannot slide, so it is timed
// (a) taking the values alone, a lower bound of any sliding use, and (b) rebuilt for each window, on fewer
// windows). pandas 1.5's rolling(1000).quantile(q) (an indexable skiplist) is the published anchor: about
// 480 ns per value on this project's machines (docs/windows.md); it is not run here.
// Then event-time sketch quantiles (EventTimeWindows: DDSketch p50 + p99, HyperLogLog distinct) over 10^6
// lognormal latencies, 16 keys, tumbling windows of 1000 time units (≈ 625 events per (key, window)), against
// the plain-JS per-window sort (exact) and one `tdigest` per (key, window), with the sketches' largest
// relative error against the exact order statistic and the measured memory of a sketch cell, in
// EventTimeWindows and as Pipeline features (per (key, window) cell).
//   npm run build:ts && npm run bench -- quantiles
//   QUANTILE_BENCH_ONLY=sketches (or =memory: the memory figures alone) node bench/quantiles.bench.js
'use strict'
const { runSuite } = require('./harness')
const { EventTimeWindows, Pipeline, SlidingWindow } = require('../dist')
const { TDigest } = require('tdigest')

const SIZE = 1000
const N = Number(process.env.QUANTILE_BENCH_EVENTS ?? 1e6)
const REBUILT_WINDOWS = 200
const PANDAS_NS_PER_VALUE = 480

// ---- the plain-JS peer --------------------------------------------------------------------------------------

/** The first index of sorted[0 … n) whose value is ≥ x (strict: > x). */
function lowerBound(sorted, n, x, strict) {
  let lo = 0, hi = n
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (strict ? sorted[mid] <= x : sorted[mid] < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

function quantileOfSorted(sorted, n, q) {
  const h = (n - 1) * q
  const low = Math.floor(h)
  const f = h - low
  if (f === 0 || low + 1 >= n) return sorted[Math.min(low, n - 1)]
  const a = sorted[low], b = sorted[low + 1]
  return a === b ? a : a + (b - a) * f
}

/** Sliding quantiles of finite values over a sorted Float64Array of the window: out[row][q]. */
function jsSortedArray(values, size, qs, out) {
  const sorted = new Float64Array(size)
  let n = 0, k = 0
  for (let i = 0; i < values.length; i++) {
    const x = values[i]
    if (n < size) {
      const at = lowerBound(sorted, n, x, true)
      sorted.copyWithin(at + 1, at, n)
      sorted[at] = x
      n++
    } else {
      const old = values[i - size]
      const from = lowerBound(sorted, n, old, false) // where the leaving value is
      const to = lowerBound(sorted, n, x, true) // where the entering one goes, counting the leaving one
      if (to > from) {
        sorted.copyWithin(from, from + 1, to)
        sorted[to - 1] = x
      } else {
        sorted.copyWithin(to + 1, to, from)
        sorted[to] = x
      }
    }
    if (n === size) for (let j = 0; j < qs.length; j++) out[k++] = quantileOfSorted(sorted, n, qs[j])
  }
  return k
}

// ---- data ---------------------------------------------------------------------------------------------------

function normals(n, seed) {
  let s = seed >>> 0
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const v = new Float64Array(n)
  for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform())
  return v
}

// ---- event-time sketches ----------------------------------------------------------------------------------

const SKETCH_EVENTS = Number(process.env.SKETCH_BENCH_EVENTS ?? 1e6)
const SKETCH_KEYS = 16
const SKETCH_WINDOW = 1000
const SKETCH_BATCH = 10000

function sketchData(n, seed) {
  const z = normals(n, seed)
  const timestamps = new Float64Array(n), keys = new Uint32Array(n), latencies = new Float64Array(n)
  let s = seed
  for (let i = 0; i < n; i++) {
    timestamps[i] = Math.floor(i / 10) // in order: 10 events per time unit
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    keys[i] = s % SKETCH_KEYS
    latencies[i] = Math.exp(3 + 1.5 * z[i]) // lognormal, heavy-tailed
  }
  return { timestamps, keys, latencies }
}

/** Per (key, tumbling window): fn(state) per event, then close(state) when the window ends (events in time order). */
function perWindow(data, open, add, close) {
  const { timestamps, keys, latencies } = data
  let current = -1
  let states = new Array(SKETCH_KEYS).fill(null)
  let out = 0
  const flush = () => {
    for (let k = 0; k < SKETCH_KEYS; k++) if (states[k]) out += close(states[k])
    states = new Array(SKETCH_KEYS).fill(null)
  }
  for (let i = 0; i < timestamps.length; i++) {
    const w = Math.floor(timestamps[i] / SKETCH_WINDOW)
    if (w !== current) {
      flush()
      current = w
    }
    const k = keys[i]
    if (!states[k]) states[k] = open()
    add(states[k], latencies[i])
  }
  flush()
  return out
}

const exactOfSorted = (sorted, q) => sorted[Math.floor(q * (sorted.length - 1))]
const jsSortPerWindow = (data) => perWindow(data, () => [], (a, x) => a.push(x), (a) => {
  a.sort((x, y) => x - y)
  return exactOfSorted(a, 0.5) + exactOfSorted(a, 0.99)
})
const tdigestPerWindow = (data) => perWindow(data, () => new TDigest(), (t, x) => t.push(x), (t) => t.percentile(0.5) + t.percentile(0.99))

function sluiceSketches(data, options) {
  const { timestamps, keys, latencies } = data
  const w = new EventTimeWindows({ keyCount: SKETCH_KEYS, horizon: 4 * SKETCH_WINDOW, ...options })
  let fired = 0
  for (let at = 0; at < timestamps.length; at += SKETCH_BATCH) {
    const end = Math.min(at + SKETCH_BATCH, timestamps.length)
    w.push({ timestamps: timestamps.subarray(at, end), keys: keys.subarray(at, end), values: latencies.subarray(at, end) })
    fired += w.advanceWatermark(timestamps[end - 1] - 1).key.length
  }
  return fired + w.flush().key.length
}

/**
 * Memory of a (key, window) cell with sketch aggregates: the same live cells (16 keys × 4 windows of lognormal
 * latencies, ≈ 625 per cell, none fired) with and without them — EventTimeWindows' info().memoryBytes, and
 * the Pipeline's metrics().memoryBytes with the sketches as features (its windows hold the cells; the bound
 * holds the watermark back so that nothing fires).
 */
function sketchMemory(data) {
  const n = 4 * SKETCH_WINDOW * 10 // four windows of events
  const events = { timestamps: data.timestamps.subarray(0, n), keys: data.keys.subarray(0, n), values: data.latencies.subarray(0, n) }
  const cells = 4 * SKETCH_KEYS
  const windowsMemory = (aggregates) => {
    const w = new EventTimeWindows({ type: 'tumbling', size: SKETCH_WINDOW, keyCount: SKETCH_KEYS, horizon: 4 * SKETCH_WINDOW, aggregates })
    w.push(events)
    const bytes = w.info().memoryBytes
    w.close()
    return bytes
  }
  const plain = windowsMemory(['count', 'max'])
  for (const aggregates of [['count', 'max', 'p50', 'p99'], ['count', 'max', 'distinct']]) {
    console.log(`  memory: ${aggregates.join('+')}: ${((windowsMemory(aggregates) - plain) / cells).toFixed(0)} bytes more per (key, pane) cell than count+max ` +
      `(${cells} cells of lognormal latencies, info().memoryBytes)`)
  }
  const pipelineMemory = (features) => {
    const pipeline = new Pipeline({ keyCount: SKETCH_KEYS, window: { size: SKETCH_WINDOW, horizon: 4 * SKETCH_WINDOW }, bound: 8 * SKETCH_WINDOW, clock: () => 0, features })
    for (let at = 0; at < n; at += SKETCH_BATCH) {
      const end = Math.min(at + SKETCH_BATCH, n)
      pipeline.process({ timestamps: events.timestamps.subarray(at, end), keys: events.keys.subarray(at, end), values: events.values.subarray(at, end), now: 0 })
    }
    if (pipeline.metrics().windowsFired !== 0) throw new Error('a window fired: the cells are not all live')
    const bytes = pipeline.metrics().memoryBytes
    pipeline.close()
    return bytes
  }
  const base = pipelineMemory({ aggregates: ['mean'] })
  console.log(`  Pipeline memory, features ['mean']: ${base} bytes (${SKETCH_KEYS} keys, ${cells} live cells, metrics().memoryBytes)`)
  for (const features of [{ aggregates: ['mean', 'p50', 'p99'] }, { aggregates: ['mean', 'p50', 'p99'], accuracy: 0.05 }, { aggregates: ['mean', 'distinct'] },
    { aggregates: ['mean', 'distinct'], distinctPrecision: 10 }, { aggregates: ['mean', 'p50', 'p99', 'distinct'] }]) {
    const bytes = pipelineMemory(features)
    const options = [features.accuracy && `accuracy ${features.accuracy}`, features.distinctPrecision && `distinctPrecision ${features.distinctPrecision}`].filter(Boolean).join(', ')
    console.log(`  Pipeline memory, features ${JSON.stringify(features.aggregates)}${options ? ` (${options})` : ''}: ${((bytes - base) / cells).toFixed(0)} bytes more per (key, window) cell than ['mean']`)
  }
}

async function sketchSuite() {
  const data = sketchData(SKETCH_EVENTS, 17)
  const tumbling = { type: 'tumbling', size: SKETCH_WINDOW }
  console.log(`\nEvent-time sketch quantiles: ${SKETCH_EVENTS} lognormal latencies, ${SKETCH_KEYS} keys, tumbling windows of ${SKETCH_WINDOW} time units`)

  // Accuracy: every window's p50 and p99 against the exact order statistic of rank ⌊q·(n − 1)⌋.
  const check = new EventTimeWindows({ ...tumbling, keyCount: SKETCH_KEYS, horizon: SKETCH_EVENTS / 10 + SKETCH_WINDOW, aggregates: ['p50', 'p99'] })
  check.push({ timestamps: data.timestamps, keys: data.keys, values: data.latencies })
  const f = check.flush()
  let worst = 0, windows = 0
  const byWindow = new Map()
  {
    // Each window's values, sorted, by (key, start) as the fired windows name them.
    const lists = new Map()
    for (let i = 0; i < data.timestamps.length; i++) {
      const id = `${data.keys[i]}@${Math.floor(data.timestamps[i] / SKETCH_WINDOW) * SKETCH_WINDOW}`
      let list = lists.get(id)
      if (!list) lists.set(id, (list = []))
      list.push(data.latencies[i])
    }
    for (const [id, list] of lists) byWindow.set(id, list.sort((x, y) => x - y))
  }
  for (let i = 0; i < f.key.length; i++) {
    const sorted = byWindow.get(`${f.key[i]}@${f.start[i]}`)
    for (const [j, q] of [0.5, 0.99].entries()) {
      const e = exactOfSorted(sorted, q)
      worst = Math.max(worst, Math.abs(f.values[2 * i + j] - e) / Math.abs(e))
    }
    windows++
  }
  console.log(`  accuracy: ${windows} windows, largest relative error of p50/p99 against the exact order statistic ${(100 * worst).toFixed(3)} % (accuracy option 1 %)`)

  sketchMemory(data)

  const rows = await runSuite(`Event-time quantiles per (key, window), tumbling ${SKETCH_WINDOW} (${SKETCH_EVENTS} events)`, [
    { name: 'plain-JS sort per window, p50+p99 (exact)', events: SKETCH_EVENTS, baseline: true, fn: () => jsSortPerWindow(data) },
    { name: 'tdigest per window, p50+p99', events: SKETCH_EVENTS, fn: () => tdigestPerWindow(data) },
    { name: 'sluice EventTimeWindows count+max (no sketch)', events: SKETCH_EVENTS, fn: () => sluiceSketches(data, { ...tumbling, aggregates: ['count', 'max'] }) },
    { name: 'sluice EventTimeWindows p50+p99 (DDSketch)', events: SKETCH_EVENTS, fn: () => sluiceSketches(data, { ...tumbling, aggregates: ['p50', 'p99'] }) },
    { name: 'sluice EventTimeWindows distinct (HyperLogLog p=14)', events: SKETCH_EVENTS, fn: () => sluiceSketches(data, { ...tumbling, aggregates: ['distinct'] }) },
    { name: 'sluice sliding 1000/250, p50+p99 (4 panes merged)', events: SKETCH_EVENTS, fn: () => sluiceSketches(data, { type: 'sliding', size: SKETCH_WINDOW, slide: 250, aggregates: ['p50', 'p99'] }) },
  ], { unit: 'event', minSamples: 3, maxTime: 2 })
  return rows
}

async function main() {
  if (process.env.QUANTILE_BENCH_ONLY === 'sketches') return sketchSuite()
  if (process.env.QUANTILE_BENCH_ONLY === 'memory') return sketchMemory(sketchData(4 * SKETCH_WINDOW * 10, 17))
  const values = normals(N, 7)
  const windows = N - SIZE + 1
  const one = new Float64Array(windows), three = new Float64Array(3 * windows)
  console.log(`Exact sliding quantiles: window ${SIZE}, slide 1, ${N} normal doubles, one channel`)

  // The peers agree before anything is timed.
  const sluiceOne = new SlidingWindow({ size: SIZE, aggregates: ['p50'] }).push(values)
  jsSortedArray(values, SIZE, [0.5], one)
  const sluiceThree = new SlidingWindow({ size: SIZE, aggregates: ['p50', 'p90', 'p99'] }).push(values)
  jsSortedArray(values, SIZE, [0.5, 0.9, 0.99], three)
  const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i])
  if (!same(sluiceOne, one) || !same(sluiceThree, three)) throw new Error('sluice and the plain-JS sorted array disagree')
  console.log('  check: sluice and the plain-JS sorted array give the same values for every window (p50; p50, p90, p99)')

  const rows = await runSuite(`Sliding quantiles, window ${SIZE}, slide 1 (${N} values)`, [
    { name: 'plain-JS sorted array, p50', events: N, baseline: true, fn: () => jsSortedArray(values, SIZE, [0.5], one) },
    { name: 'sluice SlidingWindow, p50', events: N, fn: () => new SlidingWindow({ size: SIZE, aggregates: ['p50'] }).push(values, one) },
    { name: 'plain-JS sorted array, p50+p90+p99', events: N, fn: () => jsSortedArray(values, SIZE, [0.5, 0.9, 0.99], three) },
    { name: 'sluice SlidingWindow, p50+p90+p99', events: N, fn: () => new SlidingWindow({ size: SIZE, aggregates: ['p50', 'p90', 'p99'] }).push(values, three) },
    {
      name: 'tdigest: push only, no eviction (not windowed)', events: N,
      fn: () => { const t = new TDigest(); for (let i = 0; i < N; i++) t.push(values[i]); return t.percentile(0.5) },
    },
    {
      name: `tdigest rebuilt per window (${REBUILT_WINDOWS} windows)`, events: REBUILT_WINDOWS,
      fn: () => {
        let sum = 0
        for (let w = 0; w < REBUILT_WINDOWS; w++) {
          const t = new TDigest()
          for (let i = w; i < w + SIZE; i++) t.push(values[i])
          sum += t.percentile(0.5)
        }
        return sum
      },
    },
  ], { unit: 'value', minSamples: 3, maxTime: 2 })
  const ns = Object.fromEntries(rows.map((r) => [r.name, r.nsPerEvent]))
  const p50 = ns['sluice SlidingWindow, p50'], p3 = ns['sluice SlidingWindow, p50+p90+p99']
  console.log(`  sluice p50: ${p50.toFixed(1)} ns/value = ${(ns['plain-JS sorted array, p50'] / p50).toFixed(2)}x the plain-JS sorted array, ` +
    `${(PANDAS_NS_PER_VALUE / p50).toFixed(1)}x pandas' published ${PANDAS_NS_PER_VALUE} ns/value (rolling(1000).quantile, not run here)`)
  console.log(`  sluice p50+p90+p99: ${p3.toFixed(1)} ns/value = ${(ns['plain-JS sorted array, p50+p90+p99'] / p3).toFixed(2)}x the plain-JS sorted array`)
  console.log(`  tdigest push alone (no window, approximate): ${ns['tdigest: push only, no eviction (not windowed)'].toFixed(1)} ns/value; ` +
    `rebuilt per window: ${(ns[`tdigest rebuilt per window (${REBUILT_WINDOWS} windows)`] / 1000).toFixed(0)} µs per window (= per value at slide 1)`)
  await sketchSuite()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
