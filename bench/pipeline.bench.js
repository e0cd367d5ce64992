// The Pipeline end to end against its own parts and against a hand-built peer, in the same run.
// Stream: one reading per key per 5 s window, 2 channels, in order, batches of 256 events over 2 inputs
// (a fresh pipeline each op); 64 keys × 500 windows = 32,000 events, and 100,000 keys × 16 windows = 1,600,000
// (per-key state far beyond the caches; 16 windows so that window mode, 13 rows of history, reaches the model).
//  - EventTimeWindows + WatermarkTracker alone (push, observe, advance): the native floor of the stages 1–2
//  - Pipeline without a model: + forward fill, result columns (a fresh buffer per batch, and with
//    reuseResults: one buffer rewritten per batch, as the bare windows' reused output arrays)
//  - Pipeline + LstmModel (hidden 24, 12 steps, window mode, target change): + one predict per batch
//  - Pipeline + LstmState (state mode): + one step per round of keys
//  - the hand-built peer of each (bench/peers/hand_built_pipeline.js: plain-JS watermarks, tumbling windows,
//    forward fill and z-score, onnxruntime-node's LSTM with 2 threads, per-key h/c gathered and scattered
//    per round of distinct keys), whose rows test/pipeline/hand_built_peer.test.ts checks against the Pipeline's.
'use strict'
const ort = require('onnxruntime-node')
const { runSuite } = require('./harness')
const { HandBuiltPipeline } = require('./peers/hand_built_pipeline')
const { loadOnnxBuilder } = require('./peers/onnx_builder')
const { EventTimeWindows, LstmModel, Pipeline, WatermarkTracker } = require('../dist')

const { C, SIZE, BATCH, stream, runBareWindows } = require('./pipeline_stream')

const H = 24, STEPS = 12

function checkRows(rows, events) {
  if (rows < events) throw new Error(`lost rows: ${rows} < ${events}`)
}

/** The cases of one stream; returns the suite's rows. */
async function suite(keyCount, windows, horizon, sessions, model, withWindowMode) {
  const { events, batches } = stream(keyCount, windows)
  const options = { inputs: 2, keyCount, channels: C, window: { size: SIZE, horizon }, bound: SIZE, clock: () => 0 }
  const panes = Math.ceil((SIZE + horizon) / SIZE)
  const runPipeline = (forecaster, reuseResults = false) => {
    const p = new Pipeline({ ...options, reuseResults, ...(forecaster ? { forecaster: { model, ...forecaster } } : {}) })
    let rows = 0
    for (const b of batches) rows += p.process(b).length
    rows += p.finish().length
    p.close()
    checkRows(rows, events)
  }
  const runPeer = async (forecaster) => {
    const session = forecaster ? (forecaster.mode === 'state' ? sessions.state : sessions.window) : undefined
    const peer = new HandBuiltPipeline({ inputs: 2, keyCount, channels: C, size: SIZE, bound: SIZE, panes, ...(forecaster ? { forecaster: { ort, session, hiddenSize: H, ...forecaster } } : {}) })
    let rows = 0
    for (const b of batches) rows += (await peer.process(b)).length
    rows += (await peer.finish()).length
    checkRows(rows, events)
  }
  const windowMode = { mode: 'window', steps: STEPS, target: 'change' }
  const stateMode = { mode: 'state' }
  return runSuite(`Pipeline, ${keyCount} keys × ${windows} windows, 2 channels, batches of ${BATCH}`, [
    {
      name: 'EventTimeWindows + WatermarkTracker alone', events, baseline: true,
      fn: () => runBareWindows({ EventTimeWindows, WatermarkTracker }, batches, keyCount, horizon),
    },
    { name: 'Pipeline, no model', events, fn: () => runPipeline(undefined) },
    { name: 'Pipeline, no model, reuseResults', events, fn: () => runPipeline(undefined, true) },
    { name: 'hand-built peer, no model', events, fn: () => runPeer(undefined) },
    ...(withWindowMode ? [
      { name: `Pipeline + LSTM window (H${H}, T${STEPS}, change)`, events, fn: () => runPipeline(windowMode) },
      { name: `hand-built peer + ort LSTM window (H${H}, T${STEPS}, change)`, events, fn: () => runPeer(windowMode) },
    ] : []),
    { name: `Pipeline + LSTM state (H${H})`, events, fn: () => runPipeline(stateMode) },
    { name: `hand-built peer + ort LSTM state (H${H})`, events, fn: () => runPeer(stateMode) },
  ], { minSamples: 3, maxTime: 2 })
}

async function main() {
  const buildOnnxLstmModel = loadOnnxBuilder()
  const model = LstmModel.create({ inputSize: C, hiddenSize: H, outputSize: C, seed: 1 })
  const sessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 }
  const sessions = {
    window: await ort.InferenceSession.create(buildOnnxLstmModel(model.weights()), sessionOptions),
    state: await ort.InferenceSession.create(buildOnnxLstmModel(model.weights(), { withState: true }), sessionOptions),
  }
  const summary = []
  for (const [keyCount, windows, horizon, withWindowMode] of [[64, 500, 20 * SIZE, true], [100_000, 16, 4 * SIZE, true]]) {
    const rows = await suite(keyCount, windows, horizon, sessions, model, withWindowMode)
    const ns = (prefix) => rows.find((r) => r.name.startsWith(prefix)).nsPerEvent
    for (const [mode, ours, theirs] of [
      ['no model', 'Pipeline, no model', 'hand-built peer, no model'],
      ...(withWindowMode ? [['LSTM window', 'Pipeline + LSTM window', 'hand-built peer + ort LSTM window']] : []),
      ['LSTM state', 'Pipeline + LSTM state', 'hand-built peer + ort LSTM state'],
    ]) summary.push({ keys: keyCount, mode, ratio: ns(theirs) / ns(ours) })
  }
  console.log('\nPipeline / hand-built peer (speed ratio, same stream, same run; > 1: the Pipeline is faster)')
  for (const s of summary) console.log(`  ${String(s.keys).padStart(7)} keys  ${s.mode.padEnd(12)} ${s.ratio.toFixed(2)}x`)
  await sessions.window.release()
  await sessions.state.release()
  model.close()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
