// node bench/keys-memory.bench.js: native memory per key of the keyed classes whose figures were a formula,
// measured from their own counters (info().bytes, metrics().memoryBytes) after N distinct keys each stepped
// or pushed once: LstmState (I 4, H 32, 1 layer), LstmWindows (16 steps, I 4) and the Pipeline (state-mode
// forecaster H 32, one channel, z-score window 60), keyed by host-like strings (about 30 bytes) and by
// 64-bit ids, at N = 10^4 and 10^5. Then the Pipeline again after all but 1 % of its keys expired, and after
// the next batch of the keys left, next to a fresh Pipeline that only held that 1 %. Memory,
// not time: one run is enough (the figures are capacities, the same every run).
const { LstmModel, Pipeline } = require('../dist')
const I = 4, H = 32, STEPS = 16, B = 10000
const model = LstmModel.create({ inputSize: I, hiddenSize: H, outputSize: 1, seed: 1 })
const host = (i) => `host-${String(i).padStart(6, '0')}.rack-${i % 40}.example.com`
const columns = (kind, from, to) => kind === 'string'
  ? Array.from({ length: to - from }, (_, i) => host(from + i))
  : BigUint64Array.from({ length: to - from }, (_, i) => BigInt(from + i) * 0x9E3779B97F4A7C15n & 0xffffffffffffffffn)
const x = new Float32Array(B * I).fill(0.5)

function lstmState(kind, n) {
  const state = model.createState({ keys: kind })
  for (let at = 0; at < n; at += B) state.step(columns(kind, at, Math.min(n, at + B)), x.subarray(0, (Math.min(n, at + B) - at) * I))
  const info = state.info()
  state.close()
  return { bytes: info.bytes, capacity: info.capacity, dictionary: info.dictionaryBytes, keyBytes: info.keyBytes }
}

function lstmWindows(kind, n) {
  const windows = model.createWindows({ keys: kind, steps: STEPS })
  for (let at = 0; at < n; at += B) windows.push(columns(kind, at, Math.min(n, at + B)), x.subarray(0, (Math.min(n, at + B) - at) * I))
  const info = windows.info()
  windows.close()
  return { bytes: info.bytes, capacity: info.capacity }
}

const forecaster = LstmModel.create({ inputSize: 1, hiddenSize: H, outputSize: 1, seed: 2 })
function pipeline(kind, n) {
  const p = new Pipeline({ keys: kind, window: { size: 10 }, clock: () => 0, forecaster: { model: forecaster, mode: 'state' } })
  for (let at = 0; at < n; at += B) {
    const m = Math.min(n, at + B) - at
    p.process({ timestamps: new Float64Array(m).fill(1), keys: columns(kind, at, at + m), values: new Float64Array(m).fill(1) })
  }
  p.process({ timestamps: Float64Array.of(30), keys: columns(kind, 0, 1), values: Float64Array.of(1) }) // every key's first row
  const full = p.metrics().memoryBytes
  const kept = Math.ceil(n / 100)
  p.expire(columns(kind, kept, n))
  const after = p.metrics().memoryBytes
  // One more batch of the keys left (the windows give back their fired-window columns then), against a fresh
  // pipeline that only ever held those keys, fed alike.
  const fresh = new Pipeline({ keys: kind, window: { size: 10 }, clock: () => 0, forecaster: { model: forecaster, mode: 'state' } })
  fresh.process({ timestamps: new Float64Array(kept).fill(1), keys: columns(kind, 0, kept), values: new Float64Array(kept).fill(1) })
  fresh.process({ timestamps: Float64Array.of(30), keys: columns(kind, 0, 1), values: Float64Array.of(1) })
  for (const q of [p, fresh]) q.process({ timestamps: new Float64Array(kept).fill(40), keys: columns(kind, 0, kept), values: new Float64Array(kept).fill(1) })
  const next = p.metrics().memoryBytes, freshBytes = fresh.metrics().memoryBytes
  p.close()
  fresh.close()
  return { bytes: full, after, next, fresh: freshBytes }
}

const rows = []
for (const n of [1e4, 1e5]) {
  for (const kind of ['string', 'bigint']) {
    const s = lstmState(kind, n), w = lstmWindows(kind, n), p = pipeline(kind, n)
    rows.push({ n, kind, stateB: s.bytes / n, stateCapacity: s.capacity, dictionaryB: s.dictionary / n, keyB: s.keyBytes / n, windowsB: w.bytes / n, windowsCapacity: w.capacity, pipelineB: p.bytes / n, pipelineAfterExpiryMB: p.after / 2 ** 20, pipelineFullMB: p.bytes / 2 ** 20, pipelineNextMB: p.next / 2 ** 20, pipelineFreshMB: p.fresh / 2 ** 20 })
  }
}
console.log('| keys | kind | LstmState B/key (capacity) | of which dictionary (key bytes) | LstmWindows B/key (capacity) | Pipeline B/key | Pipeline MiB: all keys → 1 % left → after its next batch | a fresh Pipeline of the 1 %, MiB |')
console.log('|---:|---|---:|---:|---:|---:|---:|---:|')
for (const r of rows) {
  console.log(`| ${r.n} | ${r.kind} | ${r.stateB.toFixed(1)} (${r.stateCapacity}) | ${r.dictionaryB.toFixed(1)} (${r.keyB.toFixed(1)}) | ${r.windowsB.toFixed(1)} (${r.windowsCapacity}) | ${r.pipelineB.toFixed(1)} | ${r.pipelineFullMB.toFixed(2)} → ${r.pipelineAfterExpiryMB.toFixed(2)} → ${r.pipelineNextMB.toFixed(2)} | ${r.pipelineFreshMB.toFixed(2)} |`)
}
