// The cost of crossing into native code. Sync: a typed array by reference, against a plain JS function
// doing the same write (zero-copy: the fixed cost does not grow with the array; compare 1 and 10^5 elements).
// Async: the round trip of a Promise-returning call with empty work, on a bare libuv work request (one
// Napi::AsyncWorker: the mechanism before the async lane) and on the async lane every async call uses now;
// then what the async forms of push / predict / step and Pipeline.process add over their synchronous twins
// (one call in flight at a time, the way a service awaits them), and the copy cost of the async memory rule (inputs copied at the
// call, outputs copied back at completion): (pushAsync − push − lane round trip) per value.
// The async cases run interleaved, in blocks, and report each case's median block: on a shared 2-core
// machine a thread wake-up costs anything from 2 to 100 µs depending on the load of the moment, and
// interleaving gives every case the same moments (benny runs one case after the other). Each block runs
// every case twice: with the lane as shipped (its thread and the event loop spin briefly before they
// sleep, async_lane.h) and with both spins off, with the CPU time of the process beside the wall clock;
// how many lane jobs the polling event loop completed itself (async_lane.h); last, the CPU time the process
// uses over 2 s of idleness right after the calls (the spins must stop).
'use strict'
const { runSuite } = require('./harness')
const { native } = require('../dist/runtime/native')
const { LstmModel, Pipeline, SlidingWindow } = require('../dist')

function jsFillIota(array) {
  for (let i = 0; i < array.length; i++) array[i] = i
  return array.length
}

/**
 * µs per call (wall clock and CPU time of this process) of each case under each mode: the median over
 * `blocks` rounds, each round setting every mode in turn and running every case `calls` times under it.
 */
async function interleaved(cases, modes, { blocks = 15, calls = 500 } = {}) {
  const samples = {}
  for (const mode of Object.keys(modes)) for (const name of Object.keys(cases)) samples[`${mode}\0${name}`] = { wall: [], cpu: [] }
  for (let b = 0; b < blocks; b++) {
    for (const [mode, enter] of Object.entries(modes)) {
      enter()
      for (const [name, call] of Object.entries(cases)) {
        const cpu = process.cpuUsage()
        const start = process.hrtime.bigint()
        for (let i = 0; i < calls; i++) await call()
        const wall = Number(process.hrtime.bigint() - start) / calls / 1000
        const used = process.cpuUsage(cpu)
        samples[`${mode}\0${name}`].wall.push(wall)
        samples[`${mode}\0${name}`].cpu.push((used.user + used.system) / calls)
      }
    }
  }
  const result = {}
  for (const [key, { wall, cpu }] of Object.entries(samples)) {
    const [mode, name] = key.split('\0')
    ;(result[mode] ??= {})[name] = { wall: median(wall), cpu: median(cpu), blocks: wall }
  }
  return result
}

function median(a) {
  return a.slice().sort((x, y) => x - y)[a.length >> 1]
}

/** CPU time (ms) this process uses over `ms` of idleness, e.g. just after a burst of async calls. */
async function idleCpuMs(ms) {
  const cpu = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const used = process.cpuUsage(cpu)
  return (used.user + used.system) / 1000
}

async function main() {
  const testing = native().testing
  for (const n of [1, 100_000]) {
    const array = new Float64Array(n)
    await runSuite(`fill ${n} doubles through a typed array`, [
      { name: 'plain JS loop', fn: () => jsFillIota(array), events: n, baseline: true },
      { name: 'sluice native (zero-copy)', fn: () => testing.fillIota(array), events: n },
    ], { unit: 'element' })
  }

  const values = Float64Array.from({ length: 4096 }, (_, i) => Math.sin(i))
  const windowOptions = { size: 64, slide: 16, channels: 1, aggregates: ['mean', 'max'] }
  const syncWindow = new SlidingWindow(windowOptions)
  const asyncWindow = new SlidingWindow(windowOptions)
  const pushOut = new Float64Array(syncWindow.windowsFor(values.length) * 2 + 64)
  const model = LstmModel.create({ inputSize: 2, hiddenSize: 24, outputSize: 1, seed: 1, threads: 1 })
  const steps = 12, batch = 64
  const x = Float32Array.from({ length: steps * batch * 2 }, (_, i) => Math.sin(i))
  const predictOut = new Float32Array(batch)
  const keys = Uint32Array.from({ length: batch }, (_, i) => i)
  const stepX = x.subarray(0, batch * 2)
  const stepOut = new Float32Array(batch)
  const syncState = model.createState({ capacity: batch })
  const asyncState = model.createState({ capacity: batch })
  // Pipeline.process / processAsync: batches of 256 events (64 keys, 2 channels, state mode H 24), each
  // pipeline fed its own endless stream so every call does the same work.
  const pipelineModel = LstmModel.create({ inputSize: 2, hiddenSize: 24, outputSize: 2, seed: 1 })
  const pipelineOptions = { keyCount: 64, channels: 2, window: { size: 5000 }, bound: 5000, clock: () => 0, forecaster: { model: pipelineModel, mode: 'state' } }
  const syncPipeline = new Pipeline(pipelineOptions), asyncPipeline = new Pipeline(pipelineOptions)
  const pipelineBatch = (at) => {
    const timestamps = new Float64Array(256), keys = new Uint32Array(256), batchValues = new Float64Array(512)
    for (let i = 0; i < 256; i++) {
      const event = at + i, s = Math.floor(event / 64)
      timestamps[i] = s * 5000 + (event % 64)
      keys[i] = event % 64
      batchValues[2 * i] = 50 + Math.sin(s / 20 + keys[i]) * 5
      batchValues[2 * i + 1] = 20 + Math.cos(s / 30 + keys[i])
    }
    return { timestamps, keys, values: batchValues, now: 0 }
  }
  const cursors = { sync: 0, async: 0 }
  const cases = {
    'Pipeline.process, 256 events (state mode, H 24)': () => syncPipeline.process(pipelineBatch((cursors.sync += 256))),
    'Pipeline.processAsync, 256 events (state mode, H 24)': () => asyncPipeline.processAsync(pipelineBatch((cursors.async += 256))),
    'libuv work request, empty (Napi::AsyncWorker)': () => testing.noopAsync(),
    'sluice async lane, empty': () => testing.noopLane(),
    'SlidingWindow.push, 4096 values': () => syncWindow.push(values, pushOut),
    'SlidingWindow.pushAsync, 4096 values': () => asyncWindow.pushAsync(values, pushOut),
    [`LstmModel.predict, H 24, ${steps} steps × ${batch}`]: () => model.predict(x, { steps, batch }, predictOut),
    [`LstmModel.predictAsync, H 24, ${steps} steps × ${batch}`]: () => model.predictAsync(x, { steps, batch }, predictOut),
    [`LstmState.step, H 24, ${batch} keys`]: () => syncState.step(keys, stepX, stepOut),
    [`LstmState.stepAsync, H 24, ${batch} keys`]: () => asyncState.stepAsync(keys, stepX, stepOut),
  }
  // The lane as shipped (its thread and the event loop spin briefly before sleeping: async_lane.h) against
  // the same lane with both spins off, interleaved block by block.
  // Each mode also counts how its lane jobs were completed: by the polling event loop itself or after a wake-up.
  const [workerSpin, loopSpin] = testing.setLaneSpin(0, 0)
  const deliveries = { 'lane spins': [0, 0], 'no spin': [0, 0] }
  let current, last = testing.laneDeliveries()
  const account = (next) => {
    const now = testing.laneDeliveries()
    if (current) deliveries[current] = deliveries[current].map((n, i) => n + now[i] - last[i])
    last = now
    current = next
  }
  const modes = {
    'lane spins': () => { account('lane spins'); testing.setLaneSpin(workerSpin, loopSpin) },
    'no spin': () => { account('no spin'); testing.setLaneSpin(0, 0) },
  }
  const results = await interleaved(cases, modes)
  account(undefined)
  testing.setLaneSpin(workerSpin, loopSpin)
  const idleMs = await idleCpuMs(2000)

  console.log(`\nasync calls, awaited one at a time (median of interleaved blocks; µs per call, wall clock / CPU time of the process)`)
  const width = Math.max(...Object.keys(cases).map((name) => name.length))
  const modeNames = Object.keys(modes)
  console.log(`  ${''.padEnd(width)}  ${modeNames.map((m) => m.padStart(17)).join('  ')}`)
  for (const name of Object.keys(cases)) {
    const cells = modeNames.map((m) => `${results[m][name].wall.toFixed(2).padStart(8)} / ${results[m][name].cpu.toFixed(2).padStart(6)}`)
    console.log(`  ${name.padEnd(width)}  ${cells.join('  ')}`)
  }
  for (const mode of modeNames) {
    const [processSync, processAsync, libuv, lane, push, pushAsync, predict, predictAsync, step, stepAsync] = Object.values(results[mode]).map((r) => r.wall)
    // What an async call adds: the median over blocks of (async − sync) within each block, where both ran
    // moments apart (the sync call's own time moves by tens of % between blocks on a shared machine).
    const names = Object.keys(cases)
    const added = (asyncIndex) => {
      const a = results[mode][names[asyncIndex]].blocks, s = results[mode][names[asyncIndex - 1]].blocks
      return median(a.map((wall, b) => wall - s[b]))
    }
    console.log(`  ${mode} (spins: thread ${mode === 'no spin' ? 0 : workerSpin} µs, event loop ${mode === 'no spin' ? 0 : loopSpin} µs):`)
    console.log(`    lane round trip ${lane.toFixed(2)} µs against ${libuv.toFixed(2)} µs for a bare libuv work request (${(libuv / lane).toFixed(2)}x)`)
    console.log(`    added over the sync twin (median of per-block differences): processAsync ${added(1).toFixed(2)} µs, predictAsync ${added(7).toFixed(2)} µs, stepAsync ${added(9).toFixed(2)} µs, pushAsync ${added(5).toFixed(2)} µs`)
    console.log(`    (difference of the medians: processAsync ${(processAsync - processSync).toFixed(2)}, predictAsync ${(predictAsync - predict).toFixed(2)}, stepAsync ${(stepAsync - step).toFixed(2)}, pushAsync ${(pushAsync - push).toFixed(2)})`)
    console.log(`    copy cost of pushAsync (added − lane round trip): ${(((pushAsync - push - lane) * 1000) / values.length).toFixed(2)} ns per value`)
    const [byLoop, byWake] = deliveries[mode]
    console.log(`    lane jobs completed by the polling event loop itself: ${byLoop} of ${byLoop + byWake} (the rest after a wake-up)`)
  }
  console.log(`  CPU time of the process over 2 s idle right after the calls: ${idleMs.toFixed(1)} ms`)
  for (const handle of [syncWindow, asyncWindow, syncState, asyncState, model, syncPipeline, asyncPipeline, pipelineModel]) handle.close()
}

if (require.main === module) main()
module.exports = main
