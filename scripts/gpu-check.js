#!/usr/bin/env node
// The Node half of scripts/gpu-check.sh (run that): on a machine with an NVIDIA GPU, checks sluice's CUDA
// backend against its CPU engine and against PyTorch (torch.nn.LSTM on cuDNN) on identical weights and
// inputs, then times both on the same GPU in this one run. Needs only dist/, build/Release/ and
// node_modules/node-gyp-build (no vitest). Exit status: 0 when every correctness check passed (speed goals
// are reported, not enforced), 1 when any failed, 2 for bad arguments.
//
//   node scripts/gpu-check.js [--quick] [--workdir DIR] [--python CMD] [--backend cuda|cpu]
//                             [--reference torch|numpy] [--skip-tests] [--skip-bench]
// --backend cpu --reference numpy --skip-tests --skip-bench exercises the file exchange and the Python
// loader without a GPU (test/gpu-check-script.test.ts does).
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { mulberry32: rng } = require('../dist/runtime/random')
const { CUDA_SHAPES, firstPredictError, onBothBackends, predictOptions } = require('../test/support/cuda_cases')

const USAGE = `usage: node scripts/gpu-check.js [--quick] [--workdir DIR] [--python CMD] [--backend cuda|cpu]
                                   [--reference torch|numpy] [--skip-tests] [--skip-bench]`

function parseArgs(argv) {
  const options = { quick: false, workdir: '/tmp/sluice-gpu-check', python: 'python3', backend: 'cuda', reference: 'torch', tests: true, bench: true, help: false }
  const value = (i, name) => {
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new Error(`${name} needs a value`)
    return argv[i + 1]
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--quick') options.quick = true
    else if (arg === '--skip-tests') options.tests = false
    else if (arg === '--skip-bench') options.bench = false
    else if (arg === '--help' || arg === '-h') options.help = true
    else if (arg === '--workdir') options.workdir = value(i++, arg)
    else if (arg === '--python') options.python = value(i++, arg)
    else if (arg === '--backend') {
      options.backend = value(i++, arg)
      if (!['cuda', 'cpu'].includes(options.backend)) throw new Error(`--backend must be cuda or cpu, got ${options.backend}`)
    } else if (arg === '--reference') {
      options.reference = value(i++, arg)
      if (!['torch', 'numpy'].includes(options.reference)) throw new Error(`--reference must be torch or numpy, got ${options.reference}`)
    } else throw new Error(`unknown argument ${arg}`)
  }
  if (options.bench && options.backend !== 'cuda') throw new Error('the benchmark needs --backend cuda (or --skip-bench)')
  if (options.bench && options.reference !== 'torch') throw new Error('the benchmark compares with PyTorch: --reference torch (or --skip-bench)')
  return options
}

/** Writes tensors ({ name: { dtype: 'F32', shape, data } }) and string metadata in the safetensors format. */
function writeSafetensors(file, tensors, metadata = {}) {
  const header = { __metadata__: metadata }
  const chunks = []
  let offset = 0
  for (const [name, t] of Object.entries(tensors)) {
    const count = t.shape.reduce((a, b) => a * b, 1)
    if (count !== t.data.length) throw new Error(`${name}: shape ${t.shape} holds ${count} values, data has ${t.data.length}`)
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] }
    chunks.push(bytes)
    offset += bytes.length
  }
  let json = JSON.stringify(header)
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8)
  const length = Buffer.alloc(8)
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)))
  fs.writeFileSync(file, Buffer.concat([length, Buffer.from(json), ...chunks]))
}

// A small deterministic generator, so a failing case can be rerun.
const randomArray = (random, n, scale = 1) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale)

function randomWeights(random, { layers, inputSize, hiddenSize, outputSize }) {
  const H = hiddenSize
  const scale = 1 / Math.sqrt(H)
  const w = { inputSize, hiddenSize, layers: [] }
  for (let l = 0; l < layers; l++) {
    w.layers.push({
      weightIh: randomArray(random, 4 * H * (l === 0 ? inputSize : H), scale),
      weightHh: randomArray(random, 4 * H * H, scale),
      biasIh: randomArray(random, 4 * H, scale),
      biasHh: randomArray(random, 4 * H, scale),
    })
  }
  if (outputSize) w.head = { weight: randomArray(random, outputSize * H, scale), bias: randomArray(random, outputSize, scale) }
  return w
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity
  let m = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i])
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d
  }
  return m
}

class Checks {
  constructor() {
    this.failures = []
    this.passed = 0
  }
  check(name, ok, detail = '') {
    console.log(`  ${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`)
    if (ok) this.passed++
    else this.failures.push(`${name}${detail ? ` (${detail})` : ''}`)
  }
  near(name, actual, expected, tolerance) {
    const error = maxAbsDiff(actual, expected)
    this.check(name, error <= tolerance, `max abs error ${error.toExponential(2)} ≤ ${tolerance}`)
  }
  attempt(name, fn) {
    try {
      return fn()
    } catch (error) {
      this.check(name, false, `threw ${error && error.code ? error.code + ': ' : ''}${error && error.message}`)
      return undefined
    }
  }
}

// ---- CUDA vs CPU (the GPU tests) -------------------------------------------------------------------------

async function gpuTests(sluice, checks) {
  const { LstmModel } = sluice
  const random = rng(11)
  const shapes = [...CUDA_SHAPES, { layers: 1, inputSize: 8, hiddenSize: 64, outputSize: 0, steps: 32, batch: 256 }]
  for (const s of shapes) {
    const weights = randomWeights(random, s)
    const cpu = LstmModel.fromWeights(weights, { backend: 'cpu' })
    const x = randomArray(random, s.steps * s.batch * s.inputSize)
    for (const cudnnAlgorithm of ['auto', 'standard', 'persist-static']) {
      const label = `L${s.layers} I${s.inputSize} H${s.hiddenSize} O${s.outputSize} T${s.steps} B${s.batch} ${cudnnAlgorithm}`
      let gpu
      try {
        gpu = LstmModel.fromWeights(weights, { backend: 'cuda', cudnnAlgorithm })
      } catch (error) {
        if (cudnnAlgorithm === 'persist-static' && error.code === 'ERR_NOT_SUPPORTED') {
          console.log(`  note: ${label}: persist-static unavailable: ${error.message}`)
          continue
        }
        checks.check(`create ${label}`, false, error.message)
        continue
      }
      checks.check(`backend of ${label}`, gpu.backend === 'cuda', gpu.backend)
      // A first predict, whose other errors the comparisons below report.
      const refused = firstPredictError(gpu, x, s)
      if (cudnnAlgorithm === 'persist-static' && refused && refused.code === 'ERR_NOT_SUPPORTED') {
        console.log(`  note: ${label}: cuDNN refuses persist-static for this shape: ${refused.message}`)
        gpu.close()
        continue
      }
      for (const options of predictOptions(s)) {
        const expected = cpu.predict(x, options)
        const actual = checks.attempt(`predict ${label}`, () => gpu.predict(x, options))
        if (actual) checks.near(`predict ${label}${options.batchFirst ? ' batchFirst' : ''}${options.sequence ? ' sequence' : ''} vs CPU`, actual, expected, 1e-4)
      }
      if (cudnnAlgorithm !== 'auto') {
        const used = gpu.cudaInfo().algorithm
        // A persist-static request that cuDNN refuses for a shape fails loudly instead of silently running standard.
        checks.check(`algorithm used for ${label}`, used === cudnnAlgorithm, used)
      } else console.log(`  note: ${label}: auto chose ${gpu.cudaInfo().algorithm}`)
      const asyncOut = await gpu.predictAsync(x, { steps: s.steps, batch: s.batch }).catch((e) => e)
      if (asyncOut instanceof Error) checks.check(`predictAsync ${label}`, false, asyncOut.message)
      else checks.near(`predictAsync ${label} vs CPU`, asyncOut, cpu.predict(x, { steps: s.steps, batch: s.batch }), 1e-4)
      gpu.close()
    }
    cpu.close()
  }

  // Event loop stays free while the GPU works.
  {
    const weights = randomWeights(random, { layers: 1, inputSize: 32, hiddenSize: 256 })
    const gpu = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const x = randomArray(random, 64 * 1024 * 32)
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    await Promise.all([0, 1, 2, 3].map(() => gpu.predictAsync(x, { steps: 64, batch: 1024 })))
    clearInterval(timer)
    checks.check('predictAsync leaves the event loop running', ticks > 0, `${ticks} timer ticks during 4 calls`)
    gpu.close()
  }

  // Training a CUDA model: on the CPU, exactly as a CPU model trains; the model stays on the GPU.
  {
    const weights = randomWeights(random, { layers: 1, inputSize: 3, hiddenSize: 16, outputSize: 1 })
    const { cpu, gpu } = onBothBackends(LstmModel, weights)
    const x = randomArray(random, 6 * 40 * 3)
    const y = randomArray(random, 40)
    const ok = checks.attempt('fit on a CUDA model', () => {
      gpu.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
      cpu.fit(x, y, { epochs: 2, batchSize: 8, seed: 1 })
      return true
    })
    if (ok) {
      checks.check('a trained CUDA model stays on the GPU', gpu.backend === 'cuda', gpu.backend)
      checks.near('trained weights equal the CPU-trained ones', gpu.weights().layers[0].weightHh, cpu.weights().layers[0].weightHh, 0)
      checks.near('the trained CUDA model predicts as the trained CPU model', gpu.predict(x, { steps: 6, batch: 40 }), cpu.predict(x, { steps: 6, batch: 40 }), 1e-4)
    }
    gpu.close()
    cpu.close()
  }

  // Device-resident keyed windows vs the CPU windows.
  {
    const weights = randomWeights(random, { layers: 2, inputSize: 6, hiddenSize: 48, outputSize: 2 })
    const { cpu, gpu } = onBothBackends(LstmModel, weights)
    const cpuWindows = cpu.createWindows({ capacity: 2000, steps: 16 })
    const gpuWindows = gpu.createWindows({ capacity: 2000, steps: 16 })
    checks.check('windows of a CUDA model live on the GPU', gpuWindows.backend === 'cuda', gpuWindows.backend)
    let worst = 0
    let sameKeys = true
    for (let batch = 0; batch < 10; batch++) {
      const n = 50 + 400 * batch
      const keys = Uint32Array.from({ length: n }, () => Math.floor(random() * (batch < 4 ? 30 : 2000)))
      const x = randomArray(random, n * 6)
      const a = gpuWindows.push(keys, x)
      const b = cpuWindows.push(keys, x)
      sameKeys &&= Buffer.compare(Buffer.from(a.keys.buffer, a.keys.byteOffset, a.keys.byteLength), Buffer.from(b.keys.buffer, b.keys.byteOffset, b.keys.byteLength)) === 0
      worst = Math.max(worst, maxAbsDiff(a.output, b.output))
    }
    checks.check('device windows: the same keys as the CPU windows', sameKeys)
    checks.check('device windows vs CPU windows (10 batches)', worst <= 1e-4, `max abs error ${worst.toExponential(2)}`)
    cpuWindows.close()
    gpuWindows.close()
    cpu.close()
    gpu.close()
  }

  // Per-key state on the device vs the CPU state, resets, snapshots across backends, bad keys.
  {
    const weights = randomWeights(random, { layers: 2, inputSize: 5, hiddenSize: 40, outputSize: 3 })
    const { cpu, gpu } = onBothBackends(LstmModel, weights)
    const capacity = 5000
    const [cpuState, gpuState] = [cpu, gpu].map((model) => model.createState({ capacity }))
    let worst = 0
    for (let t = 0; t < 8; t++) {
      const n = 200 + 37 * t
      const keys = Uint32Array.from({ length: n }, (_, j) => (j * 7919 + t * 131) % capacity)
      const x = randomArray(random, n * 5)
      worst = Math.max(worst, maxAbsDiff(gpuState.step(keys, x), cpuState.step(keys, x)))
      if (t === 3) {
        gpuState.reset(keys.subarray(0, 10))
        cpuState.reset(keys.subarray(0, 10))
      }
    }
    checks.check('state steps vs CPU state (8 steps, resets)', worst <= 1e-4, `max abs error ${worst.toExponential(2)}`)
    const moved = cpu.createState({ capacity })
    moved.restore(gpuState.snapshot())
    const keys = Uint32Array.from({ length: 300 }, (_, j) => (j * 13) % capacity)
    const x = randomArray(random, 300 * 5)
    checks.near('GPU snapshot restored on the CPU continues the same', moved.step(keys, x), gpuState.step(keys, x), 1e-4)
    const back = gpu.createState({ capacity })
    back.restore(moved.snapshot())
    checks.near('CPU snapshot restored on the GPU continues the same', back.step(keys, x), moved.step(keys, x), 1e-4)
    const before = back.snapshot()
    let code
    try {
      back.step(Uint32Array.of(1, 2, 1), randomArray(random, 15))
    } catch (error) {
      code = error.code
    }
    checks.check('duplicate keys are ERR_INVALID_ARGUMENT', code === 'ERR_INVALID_ARGUMENT', String(code))
    checks.check('a refused step changes nothing', Buffer.compare(Buffer.from(before), Buffer.from(back.snapshot())) === 0)
    for (const s of [cpuState, gpuState, moved, back]) s.close()
    cpu.close()
    gpu.close()
  }
}

// ---- sluice vs the reference (PyTorch on the GPU, or numpy without one) ---------------------------------

function compareWithReference(sluice, options, checks) {
  const { LstmModel } = sluice
  const random = rng(21)
  const cases = [
    { layers: 2, input: 8, hidden: 64, outputs: 3, steps: 16, batch: 5 },
    { layers: 1, input: 16, hidden: 128, outputs: 0, steps: 1, batch: 1024 },
    { layers: 3, input: 32, hidden: 256, outputs: 0, steps: 8, batch: 64 },
    { layers: 1, input: 8, hidden: 64, outputs: 1, steps: 32, batch: 256 },
  ]
  const tensors = {}
  const meta = []
  cases.forEach((c, index) => {
    const name = `case${index}`
    const shape = `L${c.layers} I${c.input} H${c.hidden} O${c.outputs} T${c.steps} B${c.batch}`
    const weights = randomWeights(random, { layers: c.layers, inputSize: c.input, hiddenSize: c.hidden, outputSize: c.outputs })
    const x = randomArray(random, c.steps * c.batch * c.input)
    const model = LstmModel.fromWeights(weights, { backend: options.backend })
    const out = model.predict(x, { steps: c.steps, batch: c.batch, sequence: true })
    model.close()
    const H = c.hidden
    weights.layers.forEach((layer, l) => {
      const inputs = l === 0 ? c.input : H
      tensors[`${name}.weight_ih_l${l}`] = { dtype: 'F32', shape: [4 * H, inputs], data: layer.weightIh }
      tensors[`${name}.weight_hh_l${l}`] = { dtype: 'F32', shape: [4 * H, H], data: layer.weightHh }
      tensors[`${name}.bias_ih_l${l}`] = { dtype: 'F32', shape: [4 * H], data: layer.biasIh }
      tensors[`${name}.bias_hh_l${l}`] = { dtype: 'F32', shape: [4 * H], data: layer.biasHh }
    })
    if (c.outputs) {
      tensors[`${name}.head.weight`] = { dtype: 'F32', shape: [c.outputs, H], data: weights.head.weight }
      tensors[`${name}.head.bias`] = { dtype: 'F32', shape: [c.outputs], data: weights.head.bias }
    }
    tensors[`${name}.x`] = { dtype: 'F32', shape: [c.steps, c.batch, c.input], data: x }
    tensors[`${name}.sluice`] = { dtype: 'F32', shape: [c.steps, c.batch, c.outputs || H], data: out }
    meta.push({ name, shape, ...c })
  })
  const file = path.join(options.workdir, 'lstm-cases.safetensors')
  const result = path.join(options.workdir, 'compare.json')
  writeSafetensors(file, tensors, { cases: JSON.stringify(meta) })
  execFileSync(options.python, [path.join(__dirname, 'gpu_check_torch.py'), 'compare', '--file', file, '--out', result, '--backend', options.reference], { stdio: 'inherit' })
  const report = JSON.parse(fs.readFileSync(result, 'utf8'))
  if (report.torch) console.log(`  PyTorch ${report.torch}, cuDNN ${report.cudnn}, ${report.device}`)
  // PyTorch runs the same cuDNN kernels in FP32; the float64 numpy reference differs by ~1e-7 from float32.
  const tolerance = 1e-5
  checks.check(`the reference ran every case`, report.cases.length === cases.length, `${report.cases.length} of ${cases.length}`)
  for (const r of report.cases) {
    const c = meta.find((m) => m.name === r.name)
    checks.check(`sluice (${options.backend}) vs ${options.reference}: ${c.shape}`, r.maxAbsError <= tolerance, `max abs error ${Number(r.maxAbsError).toExponential(2)} ≤ ${tolerance}`)
  }
}

// ---- throughput and latency, sluice and PyTorch on the same GPU in this run ------------------------------

const BENCH = {
  sequences: [
    [32, 1, 8, 64],
    [32, 256, 8, 64],
    [1, 1024, 16, 128],
    [64, 64, 32, 256],
    [64, 1024, 64, 256],
  ].map(([steps, batch, inputSize, hiddenSize]) => ({ label: `T${steps}/B${batch}/I${inputSize}/H${hiddenSize}`, steps, batch, inputSize, hiddenSize })),
  stateful: [{ label: '100,000-key step I8/H64', capacity: 100000, keys: 100000, inputSize: 8, hiddenSize: 64 }],
  latency: { label: '1,024-key step I8/H64', capacity: 100000, keys: 1024, inputSize: 8, hiddenSize: 64, calls: 1000 },
}

function timed(fn, targetSeconds, maxCalls) {
  for (let i = 0; i < 3; i++) fn()
  let calls = 0
  const start = process.hrtime.bigint()
  for (;;) {
    fn()
    calls++
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9
    if (elapsed >= targetSeconds || calls >= maxCalls) return elapsed / calls
  }
}

function bench(sluice, options) {
  const { LstmModel } = sluice
  const target = options.quick ? 0.25 : 1.0
  const random = rng(31)
  const ours = { sequences: [], stateful: [], latency: null }
  for (const c of BENCH.sequences) {
    const weights = randomWeights(random, { layers: 1, inputSize: c.inputSize, hiddenSize: c.hiddenSize })
    const x = randomArray(random, c.steps * c.batch * c.inputSize)
    const row = { ...c }
    for (const algorithm of ['auto', 'standard', 'persist-static']) {
      let model
      try {
        model = LstmModel.fromWeights(weights, { backend: 'cuda', cudnnAlgorithm: algorithm })
        const out = new Float32Array(c.batch * c.hiddenSize)
        row[algorithm] = timed(() => model.predict(x, { steps: c.steps, batch: c.batch }, out), target, 5000)
        if (algorithm === 'auto') row.autoChose = model.cudaInfo().algorithm
      } catch (error) {
        row[algorithm] = null
        row[`${algorithm}Error`] = error.message
      }
      model?.close()
    }
    ours.sequences.push(row)
    const fmt = (s) => (s == null ? 'n/a' : `${(s * 1e3).toFixed(4)} ms`)
    console.log(`  sluice ${c.label}: auto(${row.autoChose}) ${fmt(row.auto)}, standard ${fmt(row.standard)}, persist-static ${fmt(row['persist-static'])}${row['persist-staticError'] ? ` (${row['persist-staticError']})` : ''}`)
  }
  const makeStep = (c) => {
    const weights = randomWeights(random, { layers: 1, inputSize: c.inputSize, hiddenSize: c.hiddenSize })
    const model = LstmModel.fromWeights(weights, { backend: 'cuda' })
    const state = model.createState({ capacity: c.capacity })
    const order = Uint32Array.from({ length: c.capacity }, (_, i) => i)
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    const keys = order.slice(0, c.keys)
    const x = randomArray(random, c.keys * c.inputSize)
    const out = new Float32Array(c.keys * c.hiddenSize)
    return { step: () => state.step(keys, x, out), close: () => { state.close(); model.close() } }
  }
  for (const c of BENCH.stateful) {
    const { step, close } = makeStep(c)
    ours.stateful.push({ ...c, seconds: timed(step, target, 5000) })
    close()
    console.log(`  sluice ${c.label}: ${(ours.stateful.at(-1).seconds * 1e3).toFixed(4)} ms per step`)
  }
  {
    const c = BENCH.latency
    const { step, close } = makeStep(c)
    for (let i = 0; i < 10; i++) step()
    const samples = []
    for (let i = 0; i < c.calls / (options.quick ? 4 : 1); i++) {
      const start = process.hrtime.bigint()
      step()
      samples.push(Number(process.hrtime.bigint() - start) / 1e9)
    }
    close()
    samples.sort((a, b) => a - b)
    const pick = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]
    ours.latency = { ...c, p50: pick(0.5), p99: pick(0.99) }
    console.log(`  sluice ${c.label}: p50 ${(pick(0.5) * 1e3).toFixed(4)} ms, p99 ${(pick(0.99) * 1e3).toFixed(4)} ms`)
  }

  // Keyed windows (informative, no PyTorch counterpart here): 20,000 events over 10,000 keys per push,
  // windows of 32 rows, I8/H64, device-resident vs the CPU backend's host windows.
  {
    const weights = randomWeights(random, { layers: 1, inputSize: 8, hiddenSize: 64 })
    const n = 20000
    const keys = Uint32Array.from({ length: n }, () => Math.floor(random() * 10000))
    const x = randomArray(random, n * 8)
    const row = {}
    for (const backend of ['cuda', 'cpu']) {
      const model = LstmModel.fromWeights(weights, { backend })
      const windows = model.createWindows({ capacity: 10000, steps: 32 })
      row[backend] = timed(() => windows.push(keys, x), target, 2000)
      windows.close()
      model.close()
    }
    ours.windows = row
    console.log(`  sluice windows push (20,000 events, 10,000 keys, steps 32, I8/H64): cuda ${(row.cuda * 1e3).toFixed(3)} ms, cpu ${(row.cpu * 1e3).toFixed(3)} ms (${(row.cpu / row.cuda).toFixed(1)}× faster on the GPU)`)
  }

  const configs = path.join(options.workdir, 'bench-configs.json')
  const result = path.join(options.workdir, 'bench-torch.json')
  fs.writeFileSync(configs, JSON.stringify(BENCH))
  execFileSync(options.python, [path.join(__dirname, 'gpu_check_torch.py'), 'bench', '--configs', configs, '--out', result, ...(options.quick ? ['--quick'] : [])], { stdio: 'inherit' })
  const torch = JSON.parse(fs.readFileSync(result, 'utf8'))

  const ms = (s) => (s == null ? 'n/a' : (s * 1e3).toFixed(4))
  console.log(`\nThroughput on ${torch.device} (PyTorch ${torch.torch}, cuDNN ${torch.cudnn}); ms per call, host input → host output; ratio = PyTorch time / sluice time`)
  console.log('| shape (T/B/I/H) | sluice auto | sluice standard | sluice persist-static | faster algorithm | PyTorch | PyTorch on-device | ratio | goal |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  ours.sequences.forEach((row, i) => {
    const t = torch.sequences[i]
    const candidates = [['standard', row.standard], ['persist-static', row['persist-static']]].filter(([, s]) => s != null)
    const faster = candidates.length ? candidates.reduce((a, b) => (b[1] < a[1] ? b : a))[0] : 'n/a'
    const ratio = row.auto ? t.seconds / row.auto : NaN
    console.log(`| ${row.label} | ${ms(row.auto)} (${row.autoChose}) | ${ms(row.standard)} | ${ms(row['persist-static'])} | ${faster} | ${ms(t.seconds)} | ${ms(t.deviceSeconds)} | ${ratio.toFixed(2)}× | ≥ 0.9× ${ratio >= 0.9 ? 'met' : 'MISSED'} |`)
  })
  ours.stateful.forEach((row, i) => {
    const t = torch.stateful[i]
    const ratio = t.seconds / row.seconds
    console.log(`| ${row.label} (stateful) | ${ms(row.seconds)} | | | | ${ms(t.seconds)} | | ${ratio.toFixed(2)}× | ≥ 1.5× ${ratio >= 1.5 ? 'met' : 'MISSED'} |`)
  })
  const l = ours.latency, tl = torch.latency
  console.log(`| ${l.label} latency p50 | ${ms(l.p50)} | | | | ${ms(tl.p50)} | | ${(tl.p50 / l.p50).toFixed(2)}× | ≥ 1.5× ${tl.p50 / l.p50 >= 1.5 ? 'met' : 'MISSED'} |`)
  console.log(`| ${l.label} latency p99 | ${ms(l.p99)} | | | | ${ms(tl.p99)} | | ${(tl.p99 / l.p99).toFixed(2)}× | (reported) |`)
  fs.writeFileSync(path.join(options.workdir, 'bench-sluice.json'), JSON.stringify(ours))
}

async function main() {
  let options
  try {
    options = parseArgs(process.argv.slice(2))
  } catch (error) {
    console.error(`gpu-check.js: ${error.message}\n${USAGE}`)
    process.exit(2)
  }
  if (options.help) {
    console.log(USAGE)
    return
  }
  fs.mkdirSync(options.workdir, { recursive: true })
  // SLUICE_GPU_CHECK_MODULE: another module with sluice's API, for testing this script without a GPU
  // (test/gpu-check-script.test.ts passes one that emulates the CUDA backend with the CPU).
  const sluice = require(process.env.SLUICE_GPU_CHECK_MODULE || path.join(__dirname, '..', 'dist'))
  const report = sluice.backends()
  console.log('== backends()')
  console.log(JSON.stringify(report, null, 2))
  const checks = new Checks()
  if (options.backend === 'cuda' && !report.cuda.available) {
    console.error(`FAIL: the CUDA backend is unavailable: ${report.cuda.reason}`)
    process.exit(1)
  }
  if (options.tests && options.backend === 'cuda') {
    console.log('\n== CUDA backend vs CPU engine (≤ 1e-4)')
    await gpuTests(sluice, checks)
  }
  console.log(`\n== sluice vs ${options.reference === 'torch' ? 'torch.nn.LSTM (cuDNN, TF32 off)' : 'a float64 numpy LSTM'} on identical weights and inputs`)
  compareWithReference(sluice, options, checks)
  if (options.bench) {
    console.log('\n== throughput and latency, sluice and PyTorch on the same GPU')
    bench(sluice, options)
  }
  console.log(`\nRESULT: ${checks.failures.length === 0 ? 'PASS' : 'FAIL'} (${checks.passed} checks passed, ${checks.failures.length} failed)`)
  for (const f of checks.failures) console.log(`  failed: ${f}`)
  process.exitCode = checks.failures.length === 0 ? 0 : 1
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`FAIL: ${error && error.stack ? error.stack : error}`)
    process.exit(1)
  })
}

module.exports = { parseArgs, writeSafetensors }
