// A plain-Node smoke suite for a foreign-architecture build (run by scripts/test-arm64.sh: Debian's arm64
// Node 18 under qemu cannot run vitest). It loads sluice from a package folder (dist/ + prebuilds/ or
// build/), runs count windows, event-time windows, the watermark tracker, LSTM predict and a few training
// steps on fixed inputs, and
//   --record FILE   writes the results as JSON (done by the x86-64 Node on the x86-64 build), or
//   --compare FILE  checks them against such a file and against a float64 recomputation; exits 1 on any
//                   difference beyond what the design allows.
// Usage: node test/arm64/smoke.mjs --package DIR (--record FILE | --compare FILE) [--simd LEVEL] [--same-kernels]
// --simd names the SIMD level that `backends().cpu.simd` must report (a wrong dispatch fails the run);
// --same-kernels demands LSTM and training results bit for bit equal to the file's.
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'

const args = process.argv.slice(2)
const option = (name) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const packageDir = path.resolve(option('--package') ?? '.')
const recordFile = option('--record')
const compareFile = option('--compare')
const expectedSimd = option('--simd')
// Both runs used the same kernel definitions (the portable level on both machines, which never fuses a
// multiply-add): LSTM and training results must then agree bit for bit.
const sameKernels = args.includes('--same-kernels')
if (!recordFile === !compareFile) {
  console.error('usage: smoke.mjs --package DIR (--record FILE | --compare FILE) [--simd LEVEL] [--same-kernels]')
  process.exit(2)
}
const load = createRequire(path.join(packageDir, 'package.json'))
const sluice = load(path.join(packageDir, 'dist', 'index.js'))
// A fixed pseudo-random stream, the same on every platform: the package's own mulberry32.
const { mulberry32: random } = load(path.join(packageDir, 'dist', 'runtime', 'random.js'))

// ---- the cases: each returns plain arrays of numbers ----
function slidingWindow() {
  const next = random(1)
  const channels = 2, rows = 6000
  const values = new Float64Array(rows * channels)
  for (let i = 0; i < values.length; i++) values[i] = 1e3 + 50 * (next() - 0.5) + (i % 997 === 0 ? 1e6 : 0)
  const aggregates = ['count', 'sum', 'mean', 'var', 'std', 'min', 'max']
  const w = new sluice.SlidingWindow({ size: 100, slide: 1, channels, aggregates })
  // Pushed in uneven parts: results must not depend on the cuts.
  const parts = []
  for (let at = 0; at < rows;) {
    const n = Math.min(rows - at, 1 + Math.floor(next() * 900))
    parts.push(...w.push(values.subarray(at * channels, (at + n) * channels)))
    at += n
  }
  return { values: Array.from(values), output: parts, aggregates, channels, size: 100 }
}

function eventTimeWindows() {
  const next = random(2)
  const n = 3000
  const timestamps = new Float64Array(n), keys = new Uint32Array(n), values = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    timestamps[i] = Math.max(0, i * 10 - Math.floor(next() * 60)) // out of order by up to 60
    keys[i] = Math.floor(next() * 5)
    values[i] = Math.round(next() * 1e4) / 8
  }
  const results = {}
  for (const type of ['tumbling', 'sliding', 'session']) {
    const w = new sluice.EventTimeWindows({ type, size: 200, slide: 50, gap: 25, keyCount: 5, aggregates: ['count', 'sum', 'min', 'max', 'mean', 'var'] })
    const fired = []
    const late = []
    for (let at = 0; at < n; at += 20) {
      const end = Math.min(n, at + 20)
      late.push(...Array.from(w.push({ timestamps: timestamps.subarray(at, end), keys: keys.subarray(at, end), values: values.subarray(at, end) }).late, (i) => i + at))
      const f = w.advanceWatermark(end * 10 - 100)
      for (let j = 0; j < f.length; j++) fired.push([f.key[j], f.start[j], f.end[j], f.count[j], ...f.values.subarray(j * 6, j * 6 + 6)])
    }
    const f = w.advanceWatermark(1e300)
    for (let j = 0; j < f.length; j++) fired.push([f.key[j], f.start[j], f.end[j], f.count[j], ...f.values.subarray(j * 6, j * 6 + 6)])
    results[type] = { fired, late }
  }
  return { timestamps: Array.from(timestamps), keys: Array.from(keys), values: Array.from(values), results }
}

function watermarks() {
  const next = random(3)
  let now = 0
  const t = new sluice.WatermarkTracker({ inputs: 3, bound: 7, idleTimeout: 40, clock: () => now })
  const seen = []
  for (let step = 0; step < 200; step++) {
    now += 3
    const input = Math.floor(next() * 3)
    if (input === 2 && step > 100) continue // input 2 goes idle
    const batch = new Float64Array(1 + Math.floor(next() * 4)).map(() => step * 5 + Math.floor(next() * 20))
    seen.push(t.observe(input, batch), t.currentWatermark())
  }
  return seen
}

const LSTM = { inputSize: 3, hiddenSize: 20, layers: 2, outputSize: 2, seed: 9 }
function lstmInput(steps, batch, seed) {
  const next = random(seed)
  return Float32Array.from({ length: steps * batch * LSTM.inputSize }, () => 2 * next() - 1)
}

function lstmPredict() {
  const model = sluice.LstmModel.create({ ...LSTM, threads: 1 })
  const steps = 12, batch = 7
  const x = lstmInput(steps, batch, 4)
  const out = model.predict(x, { steps, batch, sequence: true })
  return { weights: serialiseWeights(model.weights()), x: Array.from(x), steps, batch, output: Array.from(out) }
}

function training() {
  const model = sluice.LstmModel.create({ ...LSTM, threads: 1 })
  const steps = 8, examples = 40
  const x = lstmInput(steps, examples, 5)
  const next = random(6)
  const y = Float32Array.from({ length: examples * LSTM.outputSize }, () => next() - 0.5)
  const before = flatWeights(model.weights())
  const history = model.fit(x, y, { epochs: 3, batchSize: 10, learningRate: 1e-2, shuffle: true, seed: 1 })
  return { before, after: flatWeights(model.weights()), losses: history.epochs.map((e) => e.loss), simd: history.simd }
}

function serialiseWeights(w) {
  return {
    inputSize: w.inputSize, hiddenSize: w.hiddenSize,
    layers: w.layers.map((l) => ({ weightIh: Array.from(l.weightIh), weightHh: Array.from(l.weightHh), biasIh: Array.from(l.biasIh ?? []), biasHh: Array.from(l.biasHh ?? []) })),
    head: { weight: Array.from(w.head.weight), bias: Array.from(w.head.bias ?? []) },
  }
}
function flatWeights(w) {
  const s = serialiseWeights(w)
  return [...s.layers.flatMap((l) => [...l.weightIh, ...l.weightHh, ...l.biasIh, ...l.biasHh]), ...s.head.weight, ...s.head.bias]
}

// ---- independent float64 recomputations (so a run fails even where both platforms were wrong alike) ----
function naiveSliding({ values, aggregates, channels, size }) {
  const rows = values.length / channels, out = []
  for (let r = size - 1; r < rows; r++) { // full windows only (emitPartial is off)
    for (let c = 0; c < channels; c++) {
      const win = []
      for (let i = Math.max(0, r - size + 1); i <= r; i++) win.push(values[i * channels + c])
      const n = win.length, sum = win.reduce((a, b) => a + b, 0), mean = sum / n
      const variance = n > 1 ? win.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : NaN
      const byName = { count: n, sum, mean, var: variance, std: Math.sqrt(variance), min: Math.min(...win), max: Math.max(...win) }
      for (const a of aggregates) out.push(byName[a])
    }
  }
  return out
}

function lstmReference({ weights, x, steps, batch }) {
  const { inputSize: I, hiddenSize: H, layers, head } = weights
  const sigmoid = (v) => 1 / (1 + Math.exp(-v))
  const h = layers.map(() => new Float64Array(batch * H)), c = layers.map(() => new Float64Array(batch * H))
  const O = head.weight.length / H, out = []
  for (let t = 0; t < steps; t++) {
    for (let b = 0; b < batch; b++) {
      let input = Array.from(x.slice((t * batch + b) * I, (t * batch + b + 1) * I))
      layers.forEach((l, li) => {
        const K = input.length, hPrev = Array.from(h[li].subarray(b * H, (b + 1) * H))
        const gate = (g, u) => {
          let s = (l.biasIh[g * H + u] ?? 0) + (l.biasHh[g * H + u] ?? 0)
          for (let k = 0; k < K; k++) s += l.weightIh[(g * H + u) * K + k] * input[k]
          for (let k = 0; k < H; k++) s += l.weightHh[(g * H + u) * H + k] * hPrev[k]
          return s
        }
        for (let u = 0; u < H; u++) {
          const i = sigmoid(gate(0, u)), f = sigmoid(gate(1, u)), g = Math.tanh(gate(2, u)), o = sigmoid(gate(3, u))
          const cell = f * c[li][b * H + u] + i * g
          c[li][b * H + u] = cell
          h[li][b * H + u] = o * Math.tanh(cell)
        }
        input = Array.from(h[li].subarray(b * H, (b + 1) * H))
      })
      for (let o = 0; o < O; o++) {
        let s = head.bias[o] ?? 0
        for (let k = 0; k < H; k++) s += head.weight[o * H + k] * input[k]
        out.push(s)
      }
    }
  }
  return out
}

// JSON has no NaN, ±Infinity or −0: they travel as strings.
const special = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity, '-0': -0 }
function encodeNumber(_key, v) {
  return typeof v === 'number' && (!Number.isFinite(v) || Object.is(v, -0)) ? (Object.is(v, -0) ? '-0' : String(v)) : v
}
function decodeNumber(_key, v) {
  return typeof v === 'string' && Object.hasOwn(special, v) ? special[v] : v
}

// ---- checks ----
const failures = []
let checks = 0
function check(name, ok, detail) {
  checks++
  if (!ok) failures.push(`${name}: ${detail}`)
}
const sameBits = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]))
function firstBitDifference(a, b) {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`
  const i = a.findIndex((v, j) => !Object.is(v, b[j]))
  return `first difference at ${i}: ${a[i]} vs ${b[i]}`
}
function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return Number.isNaN(worst) ? Infinity : worst
}
function maxRelDiff(a, b) {
  if (a.length !== b.length) return Infinity
  let worst = 0
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) && Number.isNaN(b[i])) continue
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])))
  }
  return Number.isNaN(worst) ? Infinity : worst
}

const simd = sluice.backends().cpu.simd
const results = { platform: `${process.platform}-${process.arch}`, node: process.version, simd, sliding: slidingWindow(), eventTime: eventTimeWindows(), watermarks: watermarks(), lstm: lstmPredict(), training: training() }

if (recordFile) {
  fs.writeFileSync(recordFile, JSON.stringify(results, encodeNumber))
  console.log(`smoke: recorded ${results.platform} (simd ${simd}) results to ${recordFile}`)
  process.exit(0)
}

const x64 = JSON.parse(fs.readFileSync(compareFile, 'utf8'), decodeNumber)
if (expectedSimd) check('simd level', simd === expectedSimd, `backends().cpu.simd is ${simd}, expected ${expectedSimd}`)
check('training simd level', results.training.simd === simd, `fit ran ${results.training.simd}, inference ${simd}`)

// Count windows: the design promises the same bits on every SIMD level and the portable code.
check('sliding window input', sameBits(results.sliding.values, x64.sliding.values), 'the generated input differs')
check('sliding window = x86-64 bit for bit', sameBits(results.sliding.output, x64.sliding.output), firstBitDifference(results.sliding.output, x64.sliding.output))
// Against a recomputation: count/min/max exact, sum/mean to 1e-12; var/std to 1e-5, since the input's 1e6
// spikes (1000× the data) leave subtract-on-evict sums of squares with ~1e12 · 2^-53 of cancellation error
// until the next resync (docs/windows.md), on every platform alike.
const slidingNaive = naiveSliding(results.sliding)
const tolerance = { count: 0, min: 0, max: 0, sum: 1e-12, mean: 1e-12, var: 1e-5, std: 1e-5 }
results.sliding.aggregates.forEach((a, j) => {
  const stride = results.sliding.aggregates.length
  const ours = results.sliding.output.filter((_, i) => i % stride === j), naive = slidingNaive.filter((_, i) => i % stride === j)
  check(`sliding window ${a} ≈ float64 recomputation`, maxRelDiff(ours, naive) <= tolerance[a], `max relative difference ${maxRelDiff(ours, naive)}`)
})

// Event-time windows and watermarks: exact (sums of eighths in float64 are exact; min/max/count are picks).
for (const type of Object.keys(x64.eventTime.results)) {
  const ours = results.eventTime.results[type], theirs = x64.eventTime.results[type]
  check(`${type} windows fired`, ours.fired.length === theirs.fired.length && ours.fired.length > 10, `${ours.fired.length} vs ${theirs.fired.length} windows`)
  check(`${type} windows = x86-64`, sameBits(ours.fired.flat(), theirs.fired.flat()), firstBitDifference(ours.fired.flat(), theirs.fired.flat()))
  check(`${type} late events = x86-64`, sameBits(ours.late, theirs.late), firstBitDifference(ours.late, theirs.late))
  const counted = ours.fired.reduce((s, row) => s + row[3], 0)
  if (type === 'tumbling') check('tumbling windows count every on-time event once', counted + ours.late.length === results.eventTime.timestamps.length, `${counted} + ${ours.late.length} late of ${results.eventTime.timestamps.length}`)
}
check('watermarks = x86-64', sameBits(results.watermarks, x64.watermarks), firstBitDifference(results.watermarks, x64.watermarks))
check('watermarks never go back', results.watermarks.every((w, i, all) => i < 2 || w >= all[i - 2]), 'a combined watermark decreased')

// LSTM: the same initial weights (seeded in JS); outputs float32-close to x86-64's and to float64.
check('LSTM initial weights = x86-64', sameBits(flatWeights(results.lstm.weights), flatWeights(x64.lstm.weights)), 'LstmModel.create gave other weights')
const reference = lstmReference(results.lstm)
check('LSTM predict ≈ float64 reference', maxAbsDiff(results.lstm.output, reference) <= 1e-5, `max abs difference ${maxAbsDiff(results.lstm.output, reference)}`)
check('LSTM predict ≈ x86-64', maxAbsDiff(results.lstm.output, x64.lstm.output) <= 1e-5, `max abs difference ${maxAbsDiff(results.lstm.output, x64.lstm.output)}`)

// Training: three epochs of Adam from the same weights; float32 rounding differences may grow a little.
check('training starts from x86-64 weights', sameBits(results.training.before, x64.training.before), 'other initial weights')
const moved = maxAbsDiff(results.training.after, results.training.before)
check('training moved the weights', moved > 1e-3, `largest change ${moved}`)
check('trained weights ≈ x86-64', maxAbsDiff(results.training.after, x64.training.after) <= 1e-4, `max abs difference ${maxAbsDiff(results.training.after, x64.training.after)} (largest change ${moved})`)
check('training losses ≈ x86-64', maxRelDiff(results.training.losses, x64.training.losses) <= 1e-5, `${results.training.losses} vs ${x64.training.losses}`)

if (sameKernels) {
  check('LSTM predict = the same kernels on x86-64, bit for bit', sameBits(results.lstm.output, x64.lstm.output), firstBitDifference(results.lstm.output, x64.lstm.output))
  check('trained weights = the same kernels on x86-64, bit for bit', sameBits(results.training.after, x64.training.after), firstBitDifference(results.training.after, x64.training.after))
  check('training losses = the same kernels on x86-64, bit for bit', sameBits(results.training.losses, x64.training.losses), firstBitDifference(results.training.losses, x64.training.losses))
}

console.log(`smoke: ${results.platform} ${results.node} simd ${simd} against ${x64.platform} ${x64.node} simd ${x64.simd}: ${checks - failures.length}/${checks} checks passed`)
console.log(`  LSTM predict: max |Δ| ${maxAbsDiff(results.lstm.output, x64.lstm.output).toExponential(2)} vs x86-64, ${maxAbsDiff(results.lstm.output, reference).toExponential(2)} vs float64; trained weights max |Δ| ${maxAbsDiff(results.training.after, x64.training.after).toExponential(2)} vs x86-64`)
for (const f of failures) console.error(`FAIL ${f}`)
process.exit(failures.length ? 1 : 0)
