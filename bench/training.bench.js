// LSTM training throughput (sequences per second through forward, BPTT and an Adam step) for the issue's
// shape: steps 32, batch 64, inputSize 4, hiddenSize 64, one layer, a linear head with one output, MSE,
// 2 threads. Peer in the same run: @tensorflow/tfjs (the pure-JS CPU backend): tf.layers.lstm + dense,
// adam, model.trainOnBatch on the same batch shape. One op = one mini-batch of 64 sequences.
// FLOPs per sequence counted as 3 · 2·4H·(I+H) per step (forward + twice that for the backward pass).
'use strict'
const { LstmModel } = require('../dist')
const { mulberry32: random } = require('../dist/runtime/random')

const STEPS = 32, BATCH = 64, I = 4, H = 64, THREADS = 2
const BATCHES = 8  // sluice: one epoch of 8 mini-batches per op (amortises the per-fit set-up)

const next = random(7)
const examples = BATCH * BATCHES
const x = Float32Array.from({ length: STEPS * examples * I }, () => next() * 2 - 1)
const y = Float32Array.from({ length: examples }, () => next() * 2 - 1)

async function main() {
  const model = LstmModel.create({ inputSize: I, hiddenSize: H, outputSize: 1, seed: 1, threads: THREADS })
  const single = LstmModel.create({ inputSize: I, hiddenSize: H, outputSize: 1, seed: 1, threads: 1 })
  const fitOptions = { epochs: 1, batchSize: BATCH, learningRate: 1e-4, shuffle: false }

  const tf = require('@tensorflow/tfjs')
  await tf.setBackend('cpu')
  const tfModel = tf.sequential()
  tfModel.add(tf.layers.lstm({ units: H, inputShape: [STEPS, I] }))
  tfModel.add(tf.layers.dense({ units: 1 }))
  tfModel.compile({ optimizer: tf.train.adam(1e-4), loss: 'meanSquaredError' })
  // tfjs takes [batch][steps][I]: the same values, batch-first.
  const xb = new Float32Array(BATCH * STEPS * I)
  for (let t = 0; t < STEPS; t++) for (let b = 0; b < BATCH; b++) for (let k = 0; k < I; k++) xb[(b * STEPS + t) * I + k] = x[(t * examples + b) * I + k]
  const tfX = tf.tensor3d(xb, [BATCH, STEPS, I])
  const tfY = tf.tensor2d(y.subarray(0, BATCH), [BATCH, 1])
  await tfModel.trainOnBatch(tfX, tfY)  // warm-up (builds the graph)

  const flopsPerSequence = 3 * STEPS * 2 * 4 * H * (I + H)
  // benny reports whole ops per second, too coarse for tfjs's ≈1 s batches: both sides are timed with the
  // same loop instead, in two alternating rounds (the machine is shared), best round kept.
  // Also per CPU-second of this process (process.cpuUsage): on a shared machine the wall-clock rate drops
  // whenever other processes take the cores, the CPU time much less.
  async function measure(fn, sequencesPerOp, seconds) {
    const start = performance.now(), cpu = process.cpuUsage()
    let ops = 0
    while (performance.now() - start < seconds * 1000) { await fn(); ops++ }
    const used = process.cpuUsage(cpu)
    return {
      wall: (ops * sequencesPerOp) / ((performance.now() - start) / 1000),
      cpu: (ops * sequencesPerOp) / ((used.user + used.system) / 1e6),
    }
  }
  const cases = [
    { name: 'tfjs (cpu backend) trainOnBatch', fn: () => tfModel.trainOnBatch(tfX, tfY), perOp: BATCH, seconds: 4, best: 0 },
    { name: `sluice fit (epochs of ${BATCHES} batches)`, fn: () => model.fit(x, y, fitOptions), perOp: examples, seconds: 2, best: 0 },
    { name: 'sluice fit, 1 thread', fn: () => single.fit(x, y, fitOptions), perOp: examples, seconds: 2, best: 0 },
  ]
  for (const c of cases) c.cpu = 0
  for (let round = 0; round < 2; round++) {
    for (const c of cases) {
      const m = await measure(c.fn, c.perOp, c.seconds)
      c.best = Math.max(c.best, m.wall)
      c.cpu = Math.max(c.cpu, m.cpu)
    }
  }
  console.log(`\nLSTM training, steps ${STEPS}, batch ${BATCH}, I ${I}, H ${H}, 1 layer, ${THREADS} threads (simd ${model.simd})`)
  console.log('case                                   sequences/s   GFLOP/s   ratio   sequences/CPU-s   ratio')
  for (const c of cases) {
    console.log(`${c.name.padEnd(38)} ${c.best.toFixed(0).padStart(11)}   ${(c.best * flopsPerSequence / 1e9).toFixed(2).padStart(7)}   ${(c.best / cases[0].best).toFixed(1).padStart(5)}x` +
      `   ${c.cpu.toFixed(0).padStart(15)}   ${(c.cpu / cases[0].cpu).toFixed(1).padStart(5)}x`)
  }
  model.close()
  single.close()
}
main().catch((error) => { console.error(error); process.exit(1) })
