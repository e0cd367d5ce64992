'use strict'
// The stream of the pipeline benchmarks (bench/pipeline.bench.js, bench/pipeline-cpu-time.js) and their
// baseline: one 2-channel reading per key per 5 s window, in order, batches of 256 events over 2 inputs.

const C = 2, SIZE = 5000, BATCH = 256

/** keys × windows events, key k at offset k (scaled into the window when there are more keys than ms). */
function stream(keyCount, windows) {
  const events = keyCount * windows
  const timestamps = new Float64Array(events), keys = new Uint32Array(events), values = new Float64Array(events * C)
  const spread = Math.min(1, SIZE / keyCount)
  for (let s = 0, i = 0; s < windows; s++) {
    for (let k = 0; k < keyCount; k++, i++) {
      timestamps[i] = s * SIZE + Math.floor(k * spread)
      keys[i] = k
      values[i * C] = 50 + Math.sin(s / 20 + k) * 5
      values[i * C + 1] = 20 + Math.cos(s / 30 + k)
    }
  }
  const batches = []
  for (let at = 0; at < events; at += BATCH) {
    const end = Math.min(at + BATCH, events)
    batches.push({ input: (at / BATCH) % 2, timestamps: timestamps.subarray(at, end), keys: keys.subarray(at, end), values: values.subarray(at * C, end * C), now: 0 })
  }
  return { events, batches }
}

/** The baseline: the bare EventTimeWindows + WatermarkTracker (push, observe, advance) over the batches. */
function runBareWindows({ EventTimeWindows, WatermarkTracker }, batches, keyCount, horizon) {
  const w = new EventTimeWindows({ type: 'tumbling', size: SIZE, horizon, keyCount, channels: C, aggregates: ['mean', 'max'] })
  const t = new WatermarkTracker({ inputs: 2, bound: SIZE })
  for (const b of batches) {
    w.push(b)
    t.observe(b.input, b.timestamps, 0)
    w.advanceWatermark(t.currentWatermark(0))
  }
  w.flush()
  w.close()
  t.close()
}

module.exports = { C, SIZE, BATCH, stream, runBareWindows }
