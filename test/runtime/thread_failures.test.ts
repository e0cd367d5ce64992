// Thread creation and allocation failures (issue 16, class 4): `threads` values the API accepts (1024) aborted
// the process with an uncaught std::system_error when the OS refused a thread. Now a refused thread is
// ERR_OUT_OF_MEMORY (never a smaller pool), and every C++ exception type reaching a binding, sync or async,
// is translated by one function. The OS is made to refuse threads by lowering the child's own address-space
// limit (prlimit --as: each thread needs its stack mapped); every case runs in a child process.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { runNode } from '../helpers'

const hasPrlimit = (() => {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** The child's helpers: limitAddressSpace(extraBytes) caps the process near what it maps now (soft limit). */
const prelude = `
  const sluice = require('./dist')
  const { execFileSync } = require('child_process')
  const mapped = () => Number(/VmSize:\\s+(\\d+) kB/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) * 1024
  const limitAddressSpace = (extra) => execFileSync('prlimit', ['--pid', String(process.pid), '--as=' + (extra === undefined ? 'unlimited' : mapped() + extra) + ':'])
  const codeOf = (fn) => { try { fn(); return 'ok' } catch (e) { return e instanceof sluice.SluiceError ? e.code + ': ' + e.message : 'other: ' + e } }
`

describe('thread and allocation failures', () => {
  it.skipIf(!hasPrlimit)('LstmModel with threads: 1024 that the OS refuses → ERR_OUT_OF_MEMORY; then a model works', () => {
    const out = runNode(`${prelude}
      limitAddressSpace(1e9) // room for the heap, not for 1023 thread stacks
      const refused = codeOf(() => sluice.LstmModel.create({ inputSize: 1, hiddenSize: 8, threads: 1024 }))
      limitAddressSpace()
      const model = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 8, threads: 2 })
      console.log(JSON.stringify({ refused, predicted: model.predict(new Float32Array(4), { steps: 4, batch: 1 }).length }))
    `)
    const result = JSON.parse(out)
    expect(result.refused).toMatch(/^ERR_OUT_OF_MEMORY: .*refused thread \d+ of 1024/)
    expect(result.predicted).toBe(1)
  })

  it.skipIf(!hasPrlimit)('the async lane’s thread refused → the call rejects with ERR_OUT_OF_MEMORY; the next call starts it', () => {
    const out = runNode(`${prelude}
      const slider = new sluice.SlidingWindow({ size: 2, slide: 1, channels: 1, aggregates: ['mean'] })
      limitAddressSpace(1e6)
      const first = slider.pushAsync(Float64Array.of(1, 2, 3)).then(() => 'ok', (e) => e.code)
      limitAddressSpace()
      first.then(async (refused) => {
        const after = await slider.pushAsync(Float64Array.of(1, 2, 3))
        console.log(JSON.stringify({ refused, after: Array.from(after) }))
      })
    `)
    expect(JSON.parse(out)).toEqual({ refused: 'ERR_OUT_OF_MEMORY', after: [1.5, 2.5] })
  })

  it('threads: 1024 without a limit: a model or ERR_OUT_OF_MEMORY, never an abort', () => {
    const out = runNode(`${prelude}
      console.log(codeOf(() => sluice.LstmModel.create({ inputSize: 1, hiddenSize: 8, threads: 1024 }).close()))
    `)
    expect(out.trim()).toMatch(/^(ok|ERR_OUT_OF_MEMORY: .*)$/)
  })

  it('every C++ exception type is translated, in a binding and in async work', () => {
    const out = runNode(`${prelude}
      const testing = require('./dist/runtime/native').native().testing
      const kinds = ['system_error', 'length_error', 'bad_alloc', 'exception', 'int']
      ;(async () => {
        const result = {}
        for (const kind of kinds) {
          let sync, async
          try { testing.throwNative(kind, false) } catch (e) { sync = e instanceof sluice.SluiceError && e.code }
          try { await testing.throwNative(kind, true) } catch (e) { async = e instanceof sluice.SluiceError && e.code }
          result[kind] = [sync, async]
        }
        console.log(JSON.stringify(result))
      })()
    `)
    expect(JSON.parse(out)).toEqual({
      system_error: ['ERR_OUT_OF_MEMORY', 'ERR_OUT_OF_MEMORY'],
      length_error: ['ERR_OUT_OF_MEMORY', 'ERR_OUT_OF_MEMORY'],
      bad_alloc: ['ERR_OUT_OF_MEMORY', 'ERR_OUT_OF_MEMORY'],
      exception: ['ERR_INVALID_STATE', 'ERR_INVALID_STATE'],
      int: ['ERR_INVALID_STATE', 'ERR_INVALID_STATE'],
    })
  })
})
