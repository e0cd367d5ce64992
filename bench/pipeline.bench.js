// The Pipeline end to end against its own parts, in the same run: what the stages cost per event.
// Stream: one reading per key per 5 s window, 2 channels, in order, batches of 256 events over 2 inputs
// (a fresh pipeline each op), at two key counts:
//  - 64 keys × 500 windows = 32,000 events per op;
//  - 100,000 keys × 16 windows = 1,600,000 events per op (per-key state far beyond the caches; 16 windows so
//    that window mode, which needs 13 rows of a key's history, reaches the model).
// Cases:
//  - EventTimeWindows + WatermarkTracker alone (push, observe, advance): the native floor of the stages 1–2
//  - Pipeline without a model: + forward fill, result columns
//  - Pipeline + LstmModel (hidden 24, 12 steps, window mode, target change): + one predict per batch
//  - Pipeline + LstmState (state mode): + one step per round of distinct keys
'use strict'
const { runSuite } = require('./harness')
const { EventTimeWindows, LstmModel, Pipeline, WatermarkTracker } = require('../dist')

const C = 2, SIZE = 5000, BATCH = 256
const model = LstmModel.create({ inputSize: C, hiddenSize: 24, outputSize: C, seed: 1 })

/** The stream's batches for `keys` keys over `steps` windows. */
function makeBatches(keys, steps) {
  const events = keys * steps
  const timestamps = new Float64Array(events), keyIds = new Uint32Array(events), values = new Float64Array(events * C)
  for (let s = 0, i = 0; s < steps; s++) {
    for (let k = 0; k < keys; k++, i++) {
      timestamps[i] = s * SIZE + (k % SIZE)
      keyIds[i] = k
      values[i * C] = 50 + Math.sin(s / 20 + k) * 5
      values[i * C + 1] = 20 + Math.cos(s / 30 + k)
    }
  }
  const batches = []
  for (let at = 0; at < events; at += BATCH) {
    const end = Math.min(at + BATCH, events)
    batches.push({ input: (at / BATCH) % 2, timestamps: timestamps.subarray(at, end), keys: keyIds.subarray(at, end), values: values.subarray(at * C, end * C), now: 0 })
  }
  return batches
}

function suite(keys, steps) {
  const events = keys * steps
  const batches = makeBatches(keys, steps)
  const options = { inputs: 2, keyCount: keys, channels: C, window: { size: SIZE, horizon: 20 * SIZE }, bound: SIZE, clock: () => 0 }
  function runPipeline(forecaster) {
    const p = new Pipeline({ ...options, ...(forecaster ? { forecaster } : {}) })
    let rows = 0
    for (const b of batches) rows += p.process(b).length
    rows += p.finish().length
    p.close()
    if (rows < events) throw new Error(`lost rows: ${rows}`)
  }
  return runSuite(`Pipeline, ${keys} keys × ${steps} windows, 2 channels, batches of ${BATCH}`, [
    {
      name: 'EventTimeWindows + WatermarkTracker alone', events, baseline: true,
      fn: () => {
        const w = new EventTimeWindows({ type: 'tumbling', size: SIZE, horizon: 20 * SIZE, keyCount: keys, channels: C, aggregates: ['mean', 'max'] })
        const t = new WatermarkTracker({ inputs: 2, bound: SIZE })
        for (const b of batches) {
          w.push(b)
          t.observe(b.input, b.timestamps, 0)
          w.advanceWatermark(t.currentWatermark(0))
        }
        w.flush()
        w.close()
        t.close()
      },
    },
    { name: 'Pipeline, no model', events, fn: () => runPipeline(undefined) },
    { name: 'Pipeline + LSTM window (H24, T12, change)', events, fn: () => runPipeline({ model, steps: 12, target: 'change' }) },
    { name: 'Pipeline + LSTM state (H24)', events, fn: () => runPipeline({ model, mode: 'state' }) },
  ], { minSamples: 3, maxTime: 2 })
}

suite(64, 500)
  .then(() => suite(100_000, 16))
  .catch((error) => {
    console.error(error)
    process.exit(1)
  })
