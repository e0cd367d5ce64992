// Async work in flight when its environment goes (issue 16, class 3): a Worker that exits, is terminated or
// throws while sluice async calls run used to abort the whole process ("terminate called after throwing an
// instance of 'Napi::Error'"). Now the environment's cleanup stops its async lane: the running job ends,
// the rest are deleted without touching JavaScript. Each case runs in a child process, so an abort fails
// the test instead of killing the runner.
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers'

/** The worker: starts several async calls of one kind, then leaves as `mode` says after `delay` ms. */
const workerSource = `
  const { parentPort, workerData } = require('worker_threads')
  const sluice = require(workerData.dist)
  const { kind, mode, delay } = workerData
  const pending = []
  for (let i = 0; i < 3; i++) {
    if (kind === 'pushAsync') {
      const window = new sluice.SlidingWindow({ size: 256, slide: 1, channels: 2, aggregates: ['mean', 'max'], threads: 1 + (i % 2) })
      pending.push(window.pushAsync(Float64Array.from({ length: 100000 }, Math.random)))
    } else if (kind === 'predictAsync' || kind === 'stepAsync') {
      const model = sluice.LstmModel.create({ inputSize: 4, hiddenSize: 48, outputSize: 2, seed: i, threads: 2 })
      if (kind === 'predictAsync') pending.push(model.predictAsync(new Float32Array(16 * 128 * 4).fill(0.5), { steps: 16, batch: 128 }))
      else pending.push(model.createState({ capacity: 512 }).stepAsync(Uint32Array.from({ length: 512 }, (_, k) => k), new Float32Array(512 * 4).fill(0.5)))
    } else {
      const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 16, seed: i, threads: 1 })
      pending.push(model.fitAsync(new Float32Array(256 * 8).fill(0.1), new Float32Array(256).fill(0.2), { epochs: 20, batchSize: 16 }))
    }
  }
  const leave = () => {
    if (mode === 'exit') process.exit(0)
    if (mode === 'throw') throw new Error('the worker throws')
    parentPort.postMessage('terminate me')
  }
  if (delay < 0) leave()
  else setTimeout(leave, delay)
`

describe('async work in flight when its Worker goes', () => {
  it('50 workers per call kind exit, are terminated or throw: the process lives, and async calls still work', () => {
    const out = runNode(`
      const { Worker } = require('worker_threads')
      const path = require('path')
      const sluice = require('./dist')
      const dist = path.resolve('dist')
      const source = ${JSON.stringify(workerSource)}
      const kinds = ['pushAsync', 'predictAsync', 'stepAsync', 'fitAsync']
      const modes = ['exit', 'terminate', 'throw']
      const delays = [-1, 0, 1, 3, 8]
      const jobs = []
      for (const kind of kinds) for (let i = 0; i < 50; i++) jobs.push({ kind, mode: modes[i % 3], delay: delays[i % 5] })
      const exits = {}
      function runWorker(job) {
        return new Promise((resolve) => {
          const worker = new Worker(source, { eval: true, workerData: { dist, ...job } })
          worker.on('message', () => setTimeout(() => worker.terminate(), job.delay % 3))
          worker.on('error', () => {})
          worker.on('exit', (code) => {
            const key = job.kind + ' ' + job.mode
            exits[key] = (exits[key] || 0) + 1
            resolve()
          })
        })
      }
      ;(async () => {
        let next = 0
        await Promise.all(Array.from({ length: 6 }, async () => { while (next < jobs.length) await runWorker(jobs[next++]) }))
        const window = new sluice.SlidingWindow({ size: 2, slide: 1, channels: 1, aggregates: ['mean'] })
        const after = await window.pushAsync(Float64Array.of(1, 2, 3))
        console.log(JSON.stringify({ exits, after: Array.from(after) }))
      })()
    `)
    const result = JSON.parse(out.trim().split('\n').pop()!)
    expect(result.after).toEqual([1.5, 2.5])
    const total = Object.values(result.exits as Record<string, number>).reduce((a, b) => a + b, 0)
    expect(total).toBe(200)
    for (const kind of ['pushAsync', 'predictAsync', 'stepAsync', 'fitAsync']) {
      for (const mode of ['exit', 'terminate', 'throw']) expect(result.exits[`${kind} ${mode}`]).toBeGreaterThanOrEqual(16)
    }
  })

  it('the main thread may exit with async calls in flight', () => {
    const out = runNode(`
      const sluice = require('./dist')
      const slider = new sluice.SlidingWindow({ size: 256, slide: 1, channels: 1, aggregates: ["mean"], threads: 2 })
      slider.pushAsync(Float64Array.from({ length: 200000 }, Math.random))
      const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 16, seed: 1, threads: 1 })
      model.fitAsync(new Float32Array(256 * 8).fill(0.1), new Float32Array(256).fill(0.2), { epochs: 50, batchSize: 16 })
      setTimeout(() => { console.log('leaving'); process.exit(0) }, 2)
    `)
    expect(out.trim()).toBe('leaving')
  })

  // A binding's SluiceError that meets a terminating worker cannot be thrown into JavaScript (napi_throw
  // fails); node-addon-api then threw again out of its C callback: "terminate called after throwing an
  // instance of 'Napi::Error'" (2 of 3 runs of this case aborted before the fix, 0 of 4 after).
  it('workers terminated while native calls throw SluiceErrors in a loop: the process lives', () => {
    const out = runNode(`
      const { Worker } = require('worker_threads')
      const dist = require('path').resolve('dist')
      const source = \`
        const { workerData, parentPort } = require('worker_threads')
        const sluice = require(workerData.dist)
        const windows = new sluice.EventTimeWindows({ type: 'tumbling', size: 10 })
        const bad = { timestamps: Float64Array.of(NaN), values: Float64Array.of(1) } // refused natively
        parentPort.postMessage('go')
        for (;;) { try { windows.push(bad) } catch {} }
      \`
      let exited = 0
      const one = () => new Promise((resolve) => {
        const worker = new Worker(source, { eval: true, workerData: { dist } })
        worker.on('message', () => setTimeout(() => worker.terminate(), Math.random() * 5))
        worker.on('error', () => {})
        worker.on('exit', () => { exited++; resolve() })
      })
      ;(async () => {
        for (let i = 0; i < 60; i++) await Promise.all([one(), one(), one(), one()])
        console.log(JSON.stringify({ exited }))
      })()
    `)
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ exited: 240 })
  })
})
