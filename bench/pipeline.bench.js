// The Pipeline end to end against its own parts, in the same run: what the stages cost per event.
// Stream: 64 keys, one reading each per 5 s window, 2 channels, in order, batches of 256 events over 2 inputs;
// 64 × 500 = 32,000 events per op (a fresh pipeline each op).
//  - EventTimeWindows + WatermarkTracker alone (push, observe, advance): the native floor of the stages 1–2
//  - Pipeline without a model: + forward fill, result columns
//  - Pipeline + LstmModel (hidden 24, 12 steps, window mode, target change): + one predict per batch
//  - Pipeline + LstmState (state mode): + one step per batch
'use strict'
const { runSuite } = require('./harness')
const { EventTimeWindows, LstmModel, Pipeline, WatermarkTracker } = require('../dist')

const KEYS = 64, STEPS = 500, C = 2, SIZE = 5000, BATCH = 256, EVENTS = KEYS * STEPS
const timestamps = new Float64Array(EVENTS), keys = new Uint32Array(EVENTS), values = new Float64Array(EVENTS * C)
for (let s = 0, i = 0; s < STEPS; s++) {
  for (let k = 0; k < KEYS; k++, i++) {
    timestamps[i] = s * SIZE + k
    keys[i] = k
    values[i * C] = 50 + Math.sin(s / 20 + k) * 5
    values[i * C + 1] = 20 + Math.cos(s / 30 + k)
  }
}
const batches = []
for (let at = 0; at < EVENTS; at += BATCH) {
  const end = Math.min(at + BATCH, EVENTS)
  batches.push({ input: (at / BATCH) % 2, timestamps: timestamps.subarray(at, end), keys: keys.subarray(at, end), values: values.subarray(at * C, end * C), now: 0 })
}
const model = LstmModel.create({ inputSize: C, hiddenSize: 24, outputSize: C, seed: 1 })
const options = { inputs: 2, keyCount: KEYS, channels: C, window: { size: SIZE, horizon: 20 * SIZE }, bound: SIZE, clock: () => 0 }

function runPipeline(forecaster) {
  const p = new Pipeline({ ...options, ...(forecaster ? { forecaster } : {}) })
  let rows = 0
  for (const b of batches) rows += p.process(b).length
  rows += p.finish().length
  p.close()
  if (rows < EVENTS) throw new Error(`lost rows: ${rows}`)
}

runSuite(`Pipeline, ${KEYS} keys × ${STEPS} windows, 2 channels, batches of ${BATCH}`, [
  {
    name: 'EventTimeWindows + WatermarkTracker alone', events: EVENTS, baseline: true,
    fn: () => {
      const w = new EventTimeWindows({ type: 'tumbling', size: SIZE, horizon: 20 * SIZE, keyCount: KEYS, channels: C, aggregates: ['mean', 'max'] })
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
  { name: 'Pipeline, no model', events: EVENTS, fn: () => runPipeline(undefined) },
  { name: 'Pipeline + LSTM window (H24, T12, change)', events: EVENTS, fn: () => runPipeline({ model, steps: 12, target: 'change' }) },
  { name: 'Pipeline + LSTM state (H24)', events: EVENTS, fn: () => runPipeline({ model, mode: 'state' }) },
], { minSamples: 3, maxTime: 2 }).catch((error) => {
  console.error(error)
  process.exit(1)
})
