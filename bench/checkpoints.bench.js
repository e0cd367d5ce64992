#!/usr/bin/env node
// Checkpoint cost, full vs incremental (lib/kafka/incremental_store.ts), for a WindowProcessor holding
// state for every key (10^4 and 10^6 dense keys, 2 channels, count/sum/min/max, one long tumbling window so
// the state lives across checkpoints), where 1 % or 10 % of the keys get an event between two checkpoints.
// Per checkpoint: the snapshot (the same for both), then put into a FileStateStore (write + fsync) either
// whole or as an incremental record (fullEvery 16: one full, then increments). Reports bytes written and
// milliseconds per checkpoint, and the restore (get) time of the newest checkpoint.
// Needs `npm run build:ts` and a built addon.
//   npm run bench -- checkpoints            node bench/checkpoints.bench.js [--keys 10000,1000000] [--checkpoints 8]
'use strict'
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { FileStateStore, IncrementalStateStore, WindowProcessor } = require('../dist/kafka/index.js')
const { mulberry32 } = require('../dist/runtime/random.js')

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const keyCounts = arg('keys', '10000,1000000').split(',').map(Number)
const checkpoints = Number(arg('checkpoints', 8))
const fractions = [0.01, 0.1]
const CHANNELS = 2

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length
const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`

async function measure(keyCount, fraction) {
  const rnd = mulberry32(keyCount + Math.round(fraction * 1000))
  const processor = new WindowProcessor({ type: 'tumbling', size: 1e9, keyCount, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] })
  let time = 0
  const push = (keys) => {
    const timestamps = new Float64Array(keys.length)
    const values = new Float64Array(keys.length * CHANNELS)
    for (let i = 0; i < keys.length; i++) {
      timestamps[i] = time++
      values[2 * i] = rnd() * 100
      values[2 * i + 1] = rnd() * 100
    }
    processor.push({ timestamps, keys, values })
    processor.advanceWatermark(time - 1000)
  }
  // Every key holds state (in key order first, then shuffled a little by the random updates).
  for (let start = 0; start < keyCount; start += 100_000) push(Uint32Array.from({ length: Math.min(100_000, keyCount - start) }, (_, i) => start + i))
  const dirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ckpt-full-')), fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-ckpt-incr-'))]
  const full = new FileStateStore(dirs[0])
  const incremental = new IncrementalStateStore(new FileStateStore(dirs[1]), { fullEvery: 16 })
  const rows = { snapshotMs: [], fullMs: [], fullBytes: [], incrMs: [], incrBytes: [], firstIncrMs: 0, firstIncrBytes: 0 }
  for (let c = 0; c <= checkpoints; c++) {
    if (c > 0) push(Uint32Array.from({ length: Math.round(keyCount * fraction) }, () => Math.floor(rnd() * keyCount)))
    let t = performance.now()
    const bytes = processor.snapshot()
    const snapshotMs = performance.now() - t
    t = performance.now()
    await full.put('in', 0, c, bytes)
    const fullMs = performance.now() - t
    const before = incremental.stats().storedBytes
    t = performance.now()
    await incremental.put('in', 0, c, bytes)
    const incrMs = performance.now() - t
    const incrBytes = incremental.stats().storedBytes - before
    if (c === 0) {
      // The chain's first record is a full one: reported apart from the increments.
      rows.firstIncrMs = incrMs
      rows.firstIncrBytes = incrBytes
      continue
    }
    rows.snapshotMs.push(snapshotMs)
    rows.fullMs.push(fullMs)
    rows.fullBytes.push(bytes.length)
    rows.incrMs.push(incrMs)
    rows.incrBytes.push(incrBytes)
  }
  let t = performance.now()
  await full.get('in', 0, checkpoints)
  const fullGetMs = performance.now() - t
  t = performance.now()
  await new IncrementalStateStore(new FileStateStore(dirs[1])).get('in', 0, checkpoints)
  const incrGetMs = performance.now() - t
  processor.close()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  const fullBytes = mean(rows.fullBytes)
  const incrBytes = mean(rows.incrBytes)
  console.log(
    `${String(keyCount).padStart(8)} keys  ${String(fraction * 100).padStart(3)} % changed | snapshot ${mb(fullBytes)}, taken in ${mean(rows.snapshotMs).toFixed(1)} ms` +
      ` | full put ${mb(fullBytes)} ${mean(rows.fullMs).toFixed(1)} ms | incremental put ${mb(incrBytes)} (${((100 * incrBytes) / fullBytes).toFixed(1)} %) ${mean(rows.incrMs).toFixed(1)} ms` +
      ` (${(mean(rows.fullMs) / mean(rows.incrMs)).toFixed(2)}x) | chain's full record ${mb(rows.firstIncrBytes)} ${rows.firstIncrMs.toFixed(1)} ms` +
      ` | restore newest: full ${fullGetMs.toFixed(1)} ms, incremental ${incrGetMs.toFixed(1)} ms (chain of ${checkpoints + 1})`,
  )
}

;(async () => {
  console.log(`checkpoints.bench: ${checkpoints} checkpoints after a first one, means per checkpoint (FileStateStore in ${os.tmpdir()}, fsync on each put)`)
  for (const keyCount of keyCounts) for (const fraction of fractions) await measure(keyCount, fraction)
})()
