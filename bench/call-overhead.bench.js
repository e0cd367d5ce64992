// The cost of crossing into native code. Sync: a typed array by reference, against a plain JS function
// doing the same write (zero-copy: the fixed cost does not grow with the array; compare 1 and 10^5 elements).
// Async: the round trip of a Promise-returning call with empty work, on a bare libuv work request (one
// Napi::AsyncWorker: the mechanism before the async lane) and on the async lane every async call uses now;
// then what the async forms of push / predict / step add over their synchronous twins (one call in flight at
// a time, the way a service awaits them), and the copy cost of the async memory rule (inputs copied at the
// call, outputs copied back at completion): (pushAsync − push − lane round trip) per value.
'use strict'
const { runSuite } = require('./harness')
const { native } = require('../dist/runtime/native')
const { LstmModel, SlidingWindow } = require('../dist')

function jsFillIota(array) {
  for (let i = 0; i < array.length; i++) array[i] = i
  return array.length
}

// benny calls a case twice while preparing it without awaiting the first; an object takes one async call at a
// time, so each call waits for the one before (in the timed runs it has always settled already).
function oneAtATime(call) {
  let last = Promise.resolve()
  return () => (last = last.then(call))
}

const byName = (rows) => Object.fromEntries(rows.map((r) => [r.name, r.nsPerOp]))
const us = (ns) => `${(ns / 1000).toFixed(2)} µs`

async function main() {
  const testing = native().testing
  for (const n of [1, 100_000]) {
    const array = new Float64Array(n)
    await runSuite(`fill ${n} doubles through a typed array`, [
      { name: 'plain JS loop', fn: () => jsFillIota(array), events: n, baseline: true },
      { name: 'sluice native (zero-copy)', fn: () => testing.fillIota(array), events: n },
    ], { unit: 'element' })
  }

  const roundTrip = byName(await runSuite('async round trip with empty work', [
    { name: 'libuv work request (Napi::AsyncWorker)', fn: () => testing.noopAsync(), baseline: true },
    { name: 'sluice async lane', fn: () => testing.noopLane() },
  ], { unit: 'call' }))
  const lane = roundTrip['sluice async lane']
  const libuv = roundTrip['libuv work request (Napi::AsyncWorker)']

  const values = Float64Array.from({ length: 4096 }, (_, i) => Math.sin(i))
  const options = { size: 64, slide: 16, channels: 1, aggregates: ['mean', 'max'] }
  const syncWindow = new SlidingWindow(options)
  const asyncWindow = new SlidingWindow(options)
  const pushOut = new Float64Array(syncWindow.windowsFor(values.length) * 2 + 64)
  const push = byName(await runSuite('SlidingWindow.push of 4096 values, sync and async', [
    { name: 'push', fn: () => syncWindow.push(values, pushOut), events: values.length, baseline: true },
    { name: 'pushAsync', fn: oneAtATime(() => asyncWindow.pushAsync(values, pushOut)), events: values.length },
  ], { unit: 'value' }))

  const model = LstmModel.create({ inputSize: 2, hiddenSize: 24, outputSize: 1, seed: 1, threads: 1 })
  const steps = 12, batch = 64
  const x = Float32Array.from({ length: steps * batch * 2 }, (_, i) => Math.sin(i))
  const predictOut = new Float32Array(batch)
  const keys = Uint32Array.from({ length: batch }, (_, i) => i)
  const stepX = x.subarray(0, batch * 2)
  const stepOut = new Float32Array(batch)
  const syncState = model.createState({ capacity: batch })
  const asyncState = model.createState({ capacity: batch })
  const lstm = byName(await runSuite(`LSTM (H 24, I 2, batch ${batch}): predict (${steps} steps) and state step, sync and async`, [
    { name: 'predict', fn: () => model.predict(x, { steps, batch }, predictOut), baseline: true },
    { name: 'predictAsync', fn: () => model.predictAsync(x, { steps, batch }, predictOut) },
    { name: 'step', fn: () => syncState.step(keys, stepX, stepOut) },
    { name: 'stepAsync', fn: oneAtATime(() => asyncState.stepAsync(keys, stepX, stepOut)) },
  ], { unit: 'call' }))

  console.log('\nasync cost per call (this run)')
  console.log(`  bare libuv round trip ${us(libuv)}, async lane ${us(lane)} (${(libuv / lane).toFixed(2)}x faster)`)
  console.log(`  predictAsync adds ${us(lstm.predictAsync - lstm.predict)} over predict, stepAsync adds ${us(lstm.stepAsync - lstm.step)} over step`)
  const pushAdded = push.pushAsync - push.push
  console.log(`  pushAsync of 4096 values adds ${us(pushAdded)} over push; less the lane round trip: ${((pushAdded - lane) / values.length).toFixed(2)} ns per value (copies in and out)`)
  console.log(`  predictAsync less the lane round trip: ${us(lstm.predictAsync - lstm.predict - lane)} per call (copies of ${x.length} + ${batch} floats)`)
  for (const handle of [syncWindow, asyncWindow, syncState, asyncState, model]) handle.close()
}

if (require.main === module) main()
module.exports = main
