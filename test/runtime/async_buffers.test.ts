// Async calls and the caller's buffers (issue 16, class 1): detaching (postMessage / structuredClone with
// transfer) or shrinking a buffer while pushAsync, predictAsync, stepAsync or fitAsync runs gave SIGSEGV.
// Now inputs are copied at the call (the result is what the values held then) and outputs are delivered only
// into an array that still holds them (else ERR_INVALID_STATE). Each class runs in a child process, so a
// crash fails the test instead of killing the runner; the freed memory is collected (gc) while calls run.
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers'

/** The child's prelude: the package, gc(), and detach(array, how) that frees the memory as soon as it can. */
const prelude = `
  const sluice = require('./dist')
  const { SluiceError } = sluice
  require('v8').setFlagsFromString('--expose-gc')
  const gc = require('vm').runInNewContext('gc')
  const { MessageChannel } = require('worker_threads')
  function detach(array, how) {
    if (how === 'postMessage') {
      const { port1, port2 } = new MessageChannel()
      port1.postMessage(array.buffer, [array.buffer])
      port1.close()
      port2.close()
    } else {
      structuredClone(array.buffer, { transfer: [array.buffer] })
    }
    if (array.length !== 0) throw new Error('not detached')
  }
  function resizable(array, Type) {
    const copy = new Type(new ArrayBuffer(array.byteLength, { maxByteLength: array.byteLength }))
    copy.set(array)
    return copy
  }
  // outcome of a promise: 'same' (resolved, equal to the reference), 'differs', 'invalid-state', or the odd error
  async function outcome(promise, reference) {
    try {
      const result = await promise
      return JSON.stringify(Array.from(result)) === JSON.stringify(Array.from(reference)) ? 'same' : 'differs'
    } catch (error) {
      if (error instanceof SluiceError && error.code === 'ERR_INVALID_STATE' && /detached or shrunk/.test(error.message)) return 'invalid-state'
      return 'error: ' + (error && error.code) + ' ' + (error && error.message)
    }
  }
  const tally = {}
  function count(name, result) { tally[name] = tally[name] || {}; tally[name][result] = (tally[name][result] || 0) + 1 }
`

function run(body: string): Record<string, Record<string, number>> {
  const out = runNode(`${prelude}
    ;(async () => {
      ${body}
      gc()
      console.log(JSON.stringify(tally))
    })().catch((error) => { console.error(error); process.exit(1) })`)
  return JSON.parse(out.trim().split('\n').pop()!)
}

const iterations = 100

describe('async calls survive detached and shrunk buffers', () => {
  it('SlidingWindow.pushAsync: values detached → the values of the call; out detached or shrunk → ERR_INVALID_STATE', () => {
    const tally = run(`
      const options = { size: 64, slide: 16, channels: 2, aggregates: ['mean', 'max'] }
      const data = Float64Array.from({ length: 4096 }, (_, i) => Math.sin(i))
      for (const threads of [1, 2]) {
        const subject = new sluice.SlidingWindow({ ...options, threads })
        const reference = new sluice.SlidingWindow({ ...options, threads })
        subject.push(data.slice()) // filled: every later push gives the same number of windows
        reference.push(data.slice())
        for (let i = 0; i < ${iterations}; i++) {
          const how = i % 2 ? 'postMessage' : 'structuredClone'
          const expected = reference.push(data.slice())
          const values = data.slice()
          const promise = subject.pushAsync(values)
          detach(values, how)
          count('values detached', await outcome(promise, expected))
          const out = new Float64Array(expected.length)
          const lost = subject.pushAsync(data.slice(), out)
          reference.push(data.slice())
          detach(out, how)
          count('out detached', await outcome(lost, expected))
          const shrinking = resizable(data, Float64Array)
          const fromShrunk = subject.pushAsync(shrinking)
          shrinking.buffer.resize(0)
          count('values shrunk', await outcome(fromShrunk, reference.push(data.slice())))
          const shrinkingOut = resizable(new Float64Array(expected.length), Float64Array)
          const toShrunk = subject.pushAsync(data.slice(), shrinkingOut)
          reference.push(data.slice())
          shrinkingOut.buffer.resize(8)
          count('out shrunk', await outcome(toShrunk, expected))
          if (i % 10 === 0) gc()
        }
        subject.close()
        reference.close()
      }`)
    expect(tally).toEqual({
      'values detached': { same: 2 * iterations },
      'out detached': { 'invalid-state': 2 * iterations },
      'values shrunk': { same: 2 * iterations },
      'out shrunk': { 'invalid-state': 2 * iterations },
    })
  })

  it('LstmModel.predictAsync (x, out) and LstmState.stepAsync (x, out)', () => {
    const tally = run(`
      const model = sluice.LstmModel.create({ inputSize: 3, hiddenSize: 16, outputSize: 2, seed: 1, threads: 2 })
      const steps = 8, batch = 32
      const x = Float32Array.from({ length: steps * batch * 3 }, (_, i) => Math.sin(i))
      const expected = model.predict(x, { steps, batch })
      const keys = Uint32Array.from({ length: batch }, (_, i) => i)
      const rows = x.subarray(0, batch * 3)
      const subject = model.createState({ capacity: batch })
      const reference = model.createState({ capacity: batch })
      for (let i = 0; i < ${iterations}; i++) {
        const how = i % 2 ? 'postMessage' : 'structuredClone'
        const input = x.slice()
        const fromDetached = model.predictAsync(input, { steps, batch })
        detach(input, how)
        count('predict x detached', await outcome(fromDetached, expected))
        const out = new Float32Array(expected.length)
        const intoDetached = model.predictAsync(x, { steps, batch }, out)
        detach(out, how)
        count('predict out detached', await outcome(intoDetached, expected))
        const stepRows = rows.slice()
        const stepped = subject.stepAsync(keys, stepRows)
        detach(stepRows, how)
        count('step x detached', await outcome(stepped, reference.step(keys, rows)))
        const stepOut = new Float32Array(batch * 2)
        const lost = subject.stepAsync(keys, rows, stepOut)
        reference.step(keys, rows)
        detach(stepOut, how)
        count('step out detached', await outcome(lost, []))
        if (i % 10 === 0) gc()
      }`)
    expect(tally).toEqual({
      'predict x detached': { same: iterations },
      'predict out detached': { 'invalid-state': iterations },
      'step x detached': { same: iterations },
      'step out detached': { 'invalid-state': iterations },
    })
  })

  it('LstmModel.fitAsync with x detached or shrunk mid-training: a history or a SluiceError, never a crash', () => {
    const tally = run(`
      const examples = 8192, steps = 8 // x of 256 KiB: its own mapping, unmapped when freed
      const data = Float32Array.from({ length: examples * steps }, (_, i) => Math.sin(i * 0.1))
      const y = Float32Array.from({ length: examples }, (_, i) => Math.sin((i + steps) * 0.1))
      for (let i = 0; i < 12; i++) {
        const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 8, seed: 1, threads: 1 })
        const x = i % 3 === 2 ? resizable(data, Float32Array) : data.slice()
        const training = model.fitAsync(x, y, { epochs: 2, batchSize: 256, seed: 1 })
        if (i % 3 === 2) x.buffer.resize(0)
        else detach(x, i % 3 ? 'postMessage' : 'structuredClone')
        gc()
        try {
          const history = await training
          count('fit', history.epochs.length === 2 ? 'history' : 'short history')
        } catch (error) {
          count('fit', error instanceof SluiceError ? 'SluiceError' : 'other: ' + error)
        }
        model.close()
      }`)
    const outcomes = Object.keys(tally.fit)
    expect(outcomes.every((name) => name === 'history' || name === 'SluiceError')).toBe(true)
    expect(Object.values(tally.fit).reduce((a, b) => a + b, 0)).toBe(12)
  })
})
