// CPU time (process.cpuUsage) per event of the bench's no-model cases (bench/pipeline.bench.js's 64-key stream:
// one reading per key per 5 s window, 2 channels, batches of 256 over 2 inputs, a fresh object per op): the
// bare EventTimeWindows + WatermarkTracker, the Pipeline without a model (fresh results, the default) and with
// reuseResults. Cases alternate within each round; per case the median and best of the rounds' CPU time, and
// the ratios to the bare windows of the same round. On a shared machine CPU time is steadier than wall time.
//   npm run build:ts && node --expose-gc bench/pipeline-cpu-time.js [rounds] [opsPerRound] [keys] [windows]
// CASES=bare,fresh,reuse (default) chooses the cases; `window` is the Pipeline + LstmModel in window mode (H 24,
// 12 steps, target change: the bench's "Pipeline + LSTM window"). A/B of two builds in one process:
// BASE_DIST=/other/checkout/dist adds the cases fresh@base and reuse@base, that checkout's Pipeline (its build/ is
// found beside its dist/), and window@base (that checkout's Pipeline and LstmModel) where `window` is asked for.
'use strict'
const path = require('node:path')
const ours = require(path.join(__dirname, '..', 'dist'))
const { EventTimeWindows, Pipeline, WatermarkTracker } = ours
const base = process.env.BASE_DIST ? require(process.env.BASE_DIST) : undefined
const Base = base?.Pipeline
const { C, SIZE, stream, runBareWindows } = require('./pipeline_stream')

const ROUNDS = Number(process.argv[2] ?? 15), OPS = Number(process.argv[3] ?? 10)
const KEYS = Number(process.argv[4] ?? 64), WINDOWS = Number(process.argv[5] ?? 500)
const HORIZON = (KEYS > 1000 ? 4 : 20) * SIZE

const { events, batches } = stream(KEYS, WINDOWS)
const options = { inputs: 2, keyCount: KEYS, channels: C, window: { size: SIZE, horizon: HORIZON }, bound: SIZE, clock: () => 0 }

const cases = {
  bare: () => runBareWindows({ EventTimeWindows, WatermarkTracker }, batches, KEYS, HORIZON),
  fresh: () => runPipeline(Pipeline, false),
  reuse: () => runPipeline(Pipeline, true),
  window: () => runPipeline(Pipeline, false, windowMode(ours)),
  'fresh@base': () => runPipeline(Base, false),
  'reuse@base': () => runPipeline(Base, true),
  'window@base': () => runPipeline(Base, false, windowMode(base)),
}

// One model per build (the bench's: 2 inputs, hidden 24, 2 outputs, seed 1), kept for the whole run.
const models = new Map()
function windowMode(build) {
  if (!models.has(build)) models.set(build, build.LstmModel.create({ inputSize: C, hiddenSize: 24, outputSize: C, seed: 1 }))
  return { forecaster: { model: models.get(build), mode: 'window', steps: 12, target: 'change' } }
}

function runPipeline(PipelineClass, reuseResults, extra = {}) {
  const p = new PipelineClass({ ...options, reuseResults, ...extra })
  let rows = 0
  for (const b of batches) rows += p.process(b).length
  rows += p.finish().length
  p.close()
  if (rows < events) throw new Error(`lost rows: ${rows} < ${events}`)
}

const names = [...new Set((process.env.CASES ?? (Base ? 'bare,fresh,fresh@base,reuse,reuse@base' : 'bare,fresh,reuse')).split(',')
  .flatMap((n) => (Base && n === 'window' ? [n, 'window@base'] : [n])))]
const ns = Object.fromEntries(names.map((n) => [n, []])), wall = Object.fromEntries(names.map((n) => [n, []]))
// YIELD=1: the event loop turns after every op (as a service's would), so work Node defers to it (finalizers
// of external buffers) runs and is counted.
const turn = () => new Promise((resolve) => setImmediate(resolve))
async function main() {
  for (const n of names) for (let i = 0; i < 3; i++) cases[n]()  // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of (r % 2 ? [...names].reverse() : names)) {
      const c0 = process.cpuUsage(), t0 = process.hrtime.bigint()
      for (let i = 0; i < OPS; i++) {
        cases[n]()
        if (process.env.YIELD) await turn()
      }
      const c = process.cpuUsage(c0)
      ns[n].push((c.user + c.system) * 1000 / (OPS * events))
      wall[n].push(Number(process.hrtime.bigint() - t0) / (OPS * events))
    }
  }
  report()
  for (const model of models.values()) model.close()
}
main()
function report() {
  const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1]
  console.log(`${KEYS} keys × ${WINDOWS} windows, ${ROUNDS} rounds of ${OPS} ops; ns/event median (best); ratio = bare / case in the same round, median (best)`)
  for (const n of names) {
    let line = `  ${n.padEnd(10)} CPU ${median(ns[n]).toFixed(1).padStart(6)} (${Math.min(...ns[n]).toFixed(1)})  wall ${median(wall[n]).toFixed(1).padStart(6)} (${Math.min(...wall[n]).toFixed(1)})`
    if (ns.bare && n !== 'bare') {
      const cpu = ns[n].map((v, i) => ns.bare[i] / v), w = wall[n].map((v, i) => wall.bare[i] / v)
      line += `   ratio CPU ${median(cpu).toFixed(3)} (${Math.max(...cpu).toFixed(3)})  wall ${median(w).toFixed(3)} (${Math.max(...w).toFixed(3)})`
    }
    console.log(line)
  }
}
