// Exact sliding quantiles: count window of 1000, slide 1, over 10^6 doubles (normal), one channel, batch push.
// sluice (p50 alone; p50 + p90 + p99) against a good plain-JS sorted array (binary searches, one copyWithin per
// row moving only the values between the leaving and the entering value's places, into a preallocated
// output) and the `tdigest` npm package (approximate, and with no eviction: it cannot slide, so it is timed
// (a) taking the values alone, a lower bound of any sliding use, and (b) rebuilt for each window, on fewer
// windows). pandas 1.5's rolling(1000).quantile(q) (an indexable skiplist) is the published anchor: about
// 480 ns per value on this project's machines (docs/windows.md); it is not run here.
//   npm run build:ts && npm run bench -- quantiles
'use strict'
const { runSuite } = require('./harness')
const { SlidingWindow } = require('../dist')
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

async function main() {
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
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
