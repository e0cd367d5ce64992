// LstmModel against onnxruntime-node's LSTM operator, both with 2 threads, in the same process run.
// Shapes steps/batch/inputSize/hiddenSize from the LSTM issue; one layer, output = last hidden state.
// FLOPs counted as 2·4H·(I+H) per step and sequence. Also: the stateful step of 1024 keys against ort
// stepping with initial_h/initial_c in and Y_h/Y_c out (and stepAsync, the same step on a worker thread),
// predictAsync's and stepAsync's added cost per call, and this
// machine's measured FMA peak (one thread, the active SIMD kernels) as the physical limit.
// Output buffers are preallocated for both sides (ort: pre-allocated output tensors as fetches).
'use strict'
const { runSuite } = require('./harness')
const { loadOnnxBuilder } = require('./peers/onnx_builder')
const { LstmModel } = require('../dist')
const { native } = require('../dist/runtime/native')
const ort = require('onnxruntime-node')
const { mulberry32: random } = require('../dist/runtime/random')

const THREADS = 2

function randomArray(next, n, scale = 1) {
  const a = new Float32Array(n)
  for (let i = 0; i < n; i++) a[i] = (next() * 2 - 1) * scale
  return a
}
function randomWeights(next, I, H) {
  const s = 1 / Math.sqrt(H)
  return { inputSize: I, hiddenSize: H, layers: [{ weightIh: randomArray(next, 4 * H * I, s), weightHh: randomArray(next, 4 * H * H, s), biasIh: randomArray(next, 4 * H, s), biasHh: randomArray(next, 4 * H, s) }] }
}

// A stepAsync case for benny, which calls a case twice without waiting while it inspects it: a state takes
// one stepAsync at a time, so each call starts when the previous one has settled (one extra microtask).
function oneAtATime(stepAsync) {
  let tail = Promise.resolve()
  return () => (tail = tail.then(stepAsync))
}

function measureFmaPeak() {
  let iterations = 1e6
  for (;;) {
    const r = native().testing.lstmFmaProbe(iterations)
    if (r.seconds > 0.25) return { gflops: r.flops / r.seconds / 1e9, simd: r.simd }
    iterations *= 2
  }
}

async function main() {
  const buildOnnxLstmModel = loadOnnxBuilder()
  const peak = measureFmaPeak()
  console.log(`FMA peak measured here: ${peak.gflops.toFixed(1)} GFLOP/s on one thread (${peak.simd}), ≈ ${(2 * peak.gflops).toFixed(0)} on ${THREADS}`)
  const sessionOptions = { intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 }
  const summary = []

  for (const [T, B, I, H] of [[32, 1, 8, 64], [32, 256, 8, 64], [1, 1024, 16, 128], [64, 64, 32, 256]]) {
    const next = random(T * 1000 + B + I + H)
    const weights = randomWeights(next, I, H)
    const x = randomArray(next, T * B * I)
    const flops = T * B * 2 * 4 * H * (I + H)
    const model = LstmModel.fromWeights(weights, { threads: THREADS })
    const out = new Float32Array(B * H)
    const session = await ort.InferenceSession.create(buildOnnxLstmModel(weights), sessionOptions)
    const feeds = { x: new ort.Tensor('float32', x, [T, B, I]) }
    const fetches = { y: new ort.Tensor('float32', new Float32Array(B * H), [B, H]) }
    // Same answer first (the benchmark compares equal work).
    const theirs = (await session.run(feeds, fetches)).y.data
    const ours = model.predict(x, { steps: T, batch: B }, out)
    let worst = 0
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - theirs[i]))
    const rows = await runSuite(`LSTM T${T} B${B} I${I} H${H} (${(flops / 1e6).toFixed(2)} MFLOP per call, max |Δ| vs ort ${worst.toExponential(1)})`, [
      { name: `onnxruntime-node run (${THREADS} threads)`, fn: () => session.run(feeds, fetches), events: flops, baseline: true },
      { name: `sluice predict (${THREADS} threads)`, fn: () => model.predict(x, { steps: T, batch: B }, out), events: flops },
      { name: `sluice predictAsync (${THREADS} threads)`, fn: () => model.predictAsync(x, { steps: T, batch: B }, out), events: flops },
    ], { unit: 'flop' })
    summary.push({ name: `T${T}/B${B}/I${I}/H${H}`, rows, target: T === 32 && B === 1 ? 1.5 : 1.0 })
    await session.release()
    model.close()
  }

  // Stateful: one step of 1024 keys, I 16, H 128.
  let stateful
  {
    const n = 1024, I = 16, H = 128
    const next = random(42)
    const weights = randomWeights(next, I, H)
    const x = randomArray(next, n * I)
    const flops = n * 2 * 4 * H * (I + H)
    const model = LstmModel.fromWeights(weights, { threads: THREADS })
    const state = model.createState({ capacity: 1 << 20 })
    const keys = Uint32Array.from({ length: n }, (_, i) => i * 997) // spread over the table
    const out = new Float32Array(n * H)
    const session = await ort.InferenceSession.create(buildOnnxLstmModel(weights, { withState: true }), sessionOptions)
    const tensor = (dims) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b)), dims)
    const states = [0, 1].map(() => ({ h: tensor([1, n, H]), c: tensor([1, n, H]) }))
    const y = tensor([n, H])
    const xTensor = new ort.Tensor('float32', x, [1, n, I])
    let flip = 0
    const ortStep = () => {
      const from = states[flip], to = states[1 - flip]
      flip = 1 - flip
      return session.run({ x: xTensor, h0_l0: from.h, c0_l0: from.c }, { y, h_l0: to.h, c_l0: to.c })
    }
    const rows = await runSuite(`stateful step: ${n} keys, I${I} H${H} (${(flops / 1e6).toFixed(1)} MFLOP per call)`, [
      { name: `onnxruntime-node run, states in/out (${THREADS} threads)`, fn: ortStep, events: flops, baseline: true },
      { name: `sluice state.step (${THREADS} threads)`, fn: () => state.step(keys, x, out), events: flops },
      { name: `sluice state.stepAsync (${THREADS} threads)`, fn: oneAtATime(() => state.stepAsync(keys, x, out)), events: flops },
    ], { unit: 'flop' })
    stateful = rows
    summary.push({ name: `stateful step 1024 keys I16 H128`, rows, target: 2.0 })
    await session.release()
    state.close()
    model.close()
  }

  // The fixed cost of a call: a 1-unit model, one step, one sequence (the compute is a few ns).
  let overhead
  {
    const weights = randomWeights(random(7), 1, 1)
    const model = LstmModel.fromWeights(weights, { threads: THREADS })
    const x = new Float32Array(1), out = new Float32Array(1)
    const session = await ort.InferenceSession.create(buildOnnxLstmModel(weights), sessionOptions)
    const feeds = { x: new ort.Tensor('float32', x, [1, 1, 1]) }, fetches = { y: new ort.Tensor('float32', new Float32Array(1), [1, 1]) }
    const rows = await runSuite('call overhead: I1 H1, 1 step, 1 sequence', [
      { name: 'onnxruntime-node run', fn: () => session.run(feeds, fetches), baseline: true },
      { name: 'sluice predict', fn: () => model.predict(x, { steps: 1, batch: 1 }, out) },
      { name: 'sluice predictAsync', fn: () => model.predictAsync(x, { steps: 1, batch: 1 }, out) },
    ], { unit: 'call' })
    overhead = (rows[2].nsPerOp - rows[1].nsPerOp) / 1000
    console.log(`predictAsync adds ${overhead.toFixed(1)} µs per call over predict (target ≤ 30 µs): ${overhead <= 30 ? 'met' : 'MISSED'}`)
    await session.release()
    model.close()
  }

  // The same fixed cost for a state: one key of a 1-unit model.
  let stepOverhead
  {
    const model = LstmModel.fromWeights(randomWeights(random(8), 1, 1), { threads: THREADS })
    const state = model.createState({ capacity: 1 })
    const keys = new Uint32Array(1), x = new Float32Array(1), out = new Float32Array(1)
    const rows = await runSuite('state call overhead: I1 H1, 1 key', [
      { name: 'sluice state.step', fn: () => state.step(keys, x, out), baseline: true },
      { name: 'sluice state.stepAsync', fn: oneAtATime(() => state.stepAsync(keys, x, out)) },
    ], { unit: 'call' })
    stepOverhead = (rows[1].nsPerOp - rows[0].nsPerOp) / 1000
    console.log(`stepAsync adds ${stepOverhead.toFixed(1)} µs per call over step`)
    state.close()
    model.close()
  }

  console.log(`\nSummary (GFLOP/s; ratio = sluice / onnxruntime-node throughput; limit = ${THREADS} × measured 1-thread FMA peak ≈ ${(2 * peak.gflops).toFixed(0)} GFLOP/s)`)
  console.log('case                               ort     sluice  ratio  target  met   % of limit')
  for (const s of summary) {
    const [base, sync] = s.rows
    const g = (r) => 1 / r.nsPerEvent
    const ratio = sync.ratio
    console.log(`${s.name.padEnd(33)}${g(base).toFixed(1).padStart(6)}  ${g(sync).toFixed(1).padStart(7)}  ${ratio.toFixed(2).padStart(5)}x  ${s.target.toFixed(1).padStart(5)}x  ${(ratio >= s.target ? 'yes' : 'NO').padEnd(4)}  ${((100 * g(sync)) / (2 * peak.gflops)).toFixed(0).padStart(9)}%`)
  }
  console.log(`predictAsync − predict per call: ${overhead.toFixed(1)} µs (target ≤ 30 µs)`)
  const [, step, stepAsync] = stateful
  console.log(`stateful 1024 keys: stepAsync ${(stepAsync.nsPerOp / 1000).toFixed(0)} µs vs step ${(step.nsPerOp / 1000).toFixed(0)} µs per call (${(stepAsync.nsPerOp / step.nsPerOp).toFixed(2)}×); stepAsync − step on a 1-key state: ${stepOverhead.toFixed(1)} µs`)
}

if (require.main === module) main().catch((error) => { console.error(error); process.exit(1) })
module.exports = main
