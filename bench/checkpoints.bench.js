#!/usr/bin/env node
// Checkpoint cost for a WindowProcessor holding state for every key (10^4 and 10^6 dense keys, 2 channels,
// count/sum/min/max, one long tumbling window so the state lives across checkpoints), where 1 % or 10 % of the
// keys get an event between two checkpoints; and for a PipelineProcessor (10^4 dense keys, 2 channels, windows
// of 100 events so about the changed keys' windows fire between checkpoints, an LSTM state step and z-scores). Three ways, same run, into FileStateStores (write + fsync):
//  - full: snapshot() and put it whole;
//  - chunks: the same snapshot put through IncrementalStateStore (content-defined chunks, fullEvery 16);
//  - deltas: snapshotDelta() (the changed keys only, a twin processor fed the same events) put as it is,
//    after one full snapshot (the adapter's fullEvery).
// Reports bytes written and milliseconds per checkpoint (taking + putting), and the restore of the newest
// checkpoint (read + restore into a fresh processor; deltas: the full record, then every delta applied).
// Needs `npm run build:ts` and a built addon.
//   npm run bench -- checkpoints            node bench/checkpoints.bench.js [--keys 10000,1000000] [--pipeline-keys 10000] [--checkpoints 8]
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { FileStateStore, IncrementalStateStore, PipelineProcessor, WindowProcessor } = require('../dist/kafka/index.js')
const { LstmModel } = require('../dist/index.js')
const { mulberry32 } = require('../dist/runtime/random.js')

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const keyCounts = arg('keys', '10000,1000000').split(',').map(Number)
const pipelineKeyCounts = arg('pipeline-keys', '10000').split(',').filter(Boolean).map(Number)
const checkpoints = Number(arg('checkpoints', 8))
const fractions = [0.01, 0.1]
const CHANNELS = 2

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`

const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 16, outputSize: CHANNELS, seed: 1 })
const makers = {
  windows: (keyCount) => () => new WindowProcessor({ type: 'tumbling', size: 1e9, keyCount, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }),
  pipeline: (keyCount) => () => new PipelineProcessor({
    keyCount, channels: CHANNELS, window: { size: 100, horizon: 2 * keyCount }, forecaster: { model, mode: 'state' }, anomaly: { window: 8, warmup: 3 },
  }),
}

async function measure(kind, keyCount, fraction) {
  const rnd = mulberry32(keyCount + Math.round(fraction * 1000))
  const make = makers[kind](keyCount)
  const processor = make() // full and chunks
  const twin = make() // deltas
  let time = 0
  const push = (keys) => {
    const timestamps = new Float64Array(keys.length)
    const values = new Float64Array(keys.length * CHANNELS)
    for (let i = 0; i < keys.length; i++) {
      timestamps[i] = time++
      values[2 * i] = rnd() * 100
      values[2 * i + 1] = rnd() * 100
    }
    for (const p of [processor, twin]) {
      p.push({ timestamps, keys, values })
      p.advanceWatermark(time - 1000)
    }
  }
  // Every key holds state (in key order first, then shuffled a little by the random updates).
  for (let start = 0; start < keyCount; start += 100_000) push(Uint32Array.from({ length: Math.min(100_000, keyCount - start) }, (_, i) => start + i))
  const dirs = ['full', 'chunks', 'deltas'].map((name) => fs.mkdtempSync(path.join(os.tmpdir(), `sluice-ckpt-${name}-`)))
  const full = new FileStateStore(dirs[0])
  const chunks = new IncrementalStateStore(new FileStateStore(dirs[1]), { fullEvery: 16 })
  const deltas = new FileStateStore(dirs[2])
  const rows = { snapshotMs: [], fullMs: [], fullBytes: [], chunkMs: [], chunkBytes: [], deltaMs: [], deltaTakeMs: [], deltaBytes: [] }
  for (let c = 0; c <= checkpoints; c++) {
    if (c > 0) push(Uint32Array.from({ length: Math.round(keyCount * fraction) }, () => Math.floor(rnd() * keyCount)))
    let t = performance.now()
    const bytes = processor.snapshot()
    const snapshotMs = performance.now() - t
    t = performance.now()
    await full.put('in', 0, c, bytes)
    const fullMs = performance.now() - t
    const before = chunks.stats().storedBytes
    t = performance.now()
    await chunks.put('in', 0, c, bytes)
    const chunkMs = performance.now() - t
    const chunkBytes = chunks.stats().storedBytes - before
    t = performance.now()
    const delta = c === 0 ? twin.snapshot() : twin.snapshotDelta()
    const deltaTakeMs = performance.now() - t
    await deltas.put('in', 0, c, delta)
    const deltaMs = performance.now() - t
    if (c === 0) continue // every chain's first record is a full one
    rows.snapshotMs.push(snapshotMs)
    rows.fullMs.push(snapshotMs + fullMs)
    rows.fullBytes.push(bytes.length)
    rows.chunkMs.push(snapshotMs + chunkMs)
    rows.chunkBytes.push(chunkBytes)
    rows.deltaTakeMs.push(deltaTakeMs)
    rows.deltaMs.push(deltaMs)
    rows.deltaBytes.push(delta.length)
  }
  // Read (and for chunks reassemble) the newest checkpoint's records, restore the full one into a fresh
  // processor, then apply the deltas: milliseconds of each phase.
  const restoreMs = async (read) => {
    let t = performance.now()
    const [first, ...rest] = await read()
    const readMs = performance.now() - t
    const target = make()
    t = performance.now()
    target.restore(first)
    const fullMs = performance.now() - t
    t = performance.now()
    for (const bytes of rest) target.applyDelta(bytes)
    const applyMs = performance.now() - t
    target.close()
    return { total: readMs + fullMs + applyMs, text: `${(readMs + fullMs + applyMs).toFixed(1)} ms (read ${readMs.toFixed(1)}, restore ${fullMs.toFixed(1)}${rest.length ? `, apply ${applyMs.toFixed(1)}` : ''})` }
  }
  const fullRestore = await restoreMs(async () => [(await full.get('in', 0, checkpoints)).bytes])
  const chunkRestore = await restoreMs(async () => [(await new IncrementalStateStore(new FileStateStore(dirs[1])).get('in', 0, checkpoints)).bytes])
  const deltaRestore = await restoreMs(async () => {
    const reader = new FileStateStore(dirs[2])
    const out = []
    for (let c = 0; c <= checkpoints; c++) out.push((await reader.get('in', 0, c)).bytes)
    return out
  })
  processor.close()
  twin.close()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  const fullBytes = mean(rows.fullBytes)
  const pct = (x) => `${((100 * x) / fullBytes).toFixed(2)} %`
  console.log(
    `${kind.padEnd(8)} ${String(keyCount).padStart(8)} keys ${String(fraction * 100).padStart(3)} % changed | full ${mb(fullBytes)} ${mean(rows.fullMs).toFixed(1)} ms (snapshot ${mean(rows.snapshotMs).toFixed(1)})` +
      ` | chunks ${mb(mean(rows.chunkBytes))} (${pct(mean(rows.chunkBytes))}) ${mean(rows.chunkMs).toFixed(1)} ms` +
      ` | deltas ${mb(mean(rows.deltaBytes))} (${pct(mean(rows.deltaBytes))}) ${mean(rows.deltaMs).toFixed(1)} ms (taking ${mean(rows.deltaTakeMs).toFixed(1)}; ${(mean(rows.fullMs) / mean(rows.deltaMs)).toFixed(1)}x faster than full)` +
      ` | restore newest: full ${fullRestore.text}; chunks ${chunkRestore.text}; full + ${checkpoints} deltas ${deltaRestore.text}`,
  )
}

;(async () => {
  console.log(`checkpoints.bench: ${checkpoints} checkpoints after a first (full) one, means per checkpoint (FileStateStore in ${os.tmpdir()}, fsync on each put)`)
  for (const keyCount of keyCounts) for (const fraction of fractions) await measure('windows', keyCount, fraction)
  for (const keyCount of pipelineKeyCounts) for (const fraction of fractions) await measure('pipeline', keyCount, fraction)
})()
