// The foundation's conventions: backend report, zero-copy spans, typed errors, loader, module formats.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { backends, SluiceError } from '../../lib/index'
import { native } from '../../lib/runtime/native'
import { expectFinite, expectInteger, expectLength, expectMultipleOf, expectOneOf, expectTypedArray, outputArray } from '../../lib/runtime/validate'
import { expectSluiceError, repoRoot, runNode } from '../helpers'

const simdLevels = ['avx512', 'avx2', 'neon', 'portable']

describe('backends()', () => {
  it('reports the CPU with its run-time SIMD level and threads', () => {
    const { cpu } = backends()
    expect(cpu.available).toBe(true)
    expect(simdLevels).toContain(cpu.simd)
    expect(simdLevels).toContain(cpu.simdSupported)
    expect(cpu.threads).toBeGreaterThanOrEqual(1)
  })

  it('reports CUDA as available or gives the exact reason', () => {
    const { cuda } = backends()
    if (cuda.available) {
      expect(cuda.reason).toBeNull()
      expect(cuda.device?.name).toBeTruthy()
      expect(cuda.cudnnVersion).toBeGreaterThanOrEqual(90000)
    } else {
      console.log(`cuda unavailable here: ${cuda.reason}`)
      expect(cuda.reason).toMatch(/not built|driver|device|cuDNN|SLUICE_BACKEND|compute capability/)
    }
    const built = fs.existsSync(path.join(native().directory, 'libsluice_cuda.so'))
    if (!built && process.platform === 'linux') expect(cuda.reason).toMatch(/not built/)
    if (built && !cuda.available) expect(cuda.reason).not.toMatch(/not built/)
  })

  it('SLUICE_BACKEND=cpu turns CUDA off with that reason', () => {
    const out = runNode("console.log(JSON.stringify(require('./dist').backends().cuda))", { SLUICE_BACKEND: 'cpu' })
    const cuda = JSON.parse(out)
    expect(cuda.available).toBe(false)
    expect(cuda.reason).toBe('disabled by SLUICE_BACKEND=cpu')
  })

  it('SLUICE_SIMD lowers the SIMD level but never raises it', () => {
    const read = (level: string) => JSON.parse(runNode("console.log(JSON.stringify(require('./dist').backends().cpu))", { SLUICE_SIMD: level }))
    expect(read('portable').simd).toBe('portable')
    const supported = backends().cpu.simdSupported
    const rank = (l: string) => ['portable', 'neon', 'avx2', 'avx512'].indexOf(l)
    const requested = read('avx512')
    expect(rank(requested.simd)).toBeLessThanOrEqual(rank(supported))
  })
})

describe('zero-copy typed arrays', () => {
  it('native writes land in the caller’s memory, for subarrays with a byteOffset too', () => {
    for (const Type of [Float64Array, Float32Array, Uint32Array]) {
      const whole = new Type(10).fill(99)
      const view = whole.subarray(3, 7)
      expect(native().testing.fillIota(view)).toBe(4)
      expect(Array.from(whole)).toEqual([99, 99, 99, 0, 1, 2, 3, 99, 99, 99])
    }
  })

  it('a view over a shared ArrayBuffer sees the writes without a copy', () => {
    const buffer = new ArrayBuffer(8 * 6)
    native().testing.fillIota(new Float64Array(buffer, 16, 3))
    expect(Array.from(new Float64Array(buffer))).toEqual([0, 0, 0, 1, 2, 0])
  })

  it('wrong element type and wrong length are typed errors, raised before any write', () => {
    const ints = new Int32Array(4).fill(7)
    expectSluiceError(() => native().testing.fillIota(ints as never), 'ERR_INVALID_TYPE', /Float64Array/)
    expectSluiceError(() => native().testing.fillIota([1, 2] as never), 'ERR_INVALID_TYPE')
    const doubles = new Float64Array(4).fill(7)
    expectSluiceError(() => native().testing.fillIota(doubles, 5), 'ERR_INVALID_LENGTH', /length 5, got 4/)
    expect(Array.from(doubles)).toEqual([7, 7, 7, 7])
  })

  it('core errors cross the binding with their code, as SluiceError', () => {
    const error = expectSluiceError(() => native().testing.throwCoreError('ERR_OUT_OF_RANGE'), 'ERR_OUT_OF_RANGE', /core says/)
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('SluiceError')
    expectSluiceError(() => native().testing.throwCoreError('other'), 'ERR_INVALID_ARGUMENT')
  })
})

describe('argument validation helpers', () => {
  it('accept good values and name the problem for bad ones', () => {
    const f64 = new Float64Array(6)
    expect(expectTypedArray(f64, 'values', Float64Array, Float32Array)).toBe(f64)
    expectSluiceError(() => expectTypedArray(new Uint8Array(2), 'values', Float64Array, Float32Array), 'ERR_INVALID_TYPE', /values must be a Float64Array or Float32Array, got Uint8Array/)
    expectSluiceError(() => expectLength(f64, 5, 'keys'), 'ERR_INVALID_LENGTH', /keys must have length 5, got 6/)
    expect(() => expectMultipleOf(f64, 3, 'values', 'channels')).not.toThrow()
    expectSluiceError(() => expectMultipleOf(f64, 4, 'values', 'channels'), 'ERR_INVALID_LENGTH', /multiple of channels \(4\)/)
    expect(expectInteger(3, 'size', 1)).toBe(3)
    expectSluiceError(() => expectInteger(0, 'size', 1), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => expectInteger(1.5, 'size', 1), 'ERR_INVALID_TYPE')
    expectSluiceError(() => expectInteger('3', 'size', 1), 'ERR_INVALID_TYPE')
    expect(expectFinite(-2.5, 'time')).toBe(-2.5)
    expectSluiceError(() => expectFinite(Number.NaN, 'time'), 'ERR_INVALID_ARGUMENT', /finite/)
    expectSluiceError(() => expectFinite(Infinity, 'time'), 'ERR_INVALID_ARGUMENT')
    expect(expectOneOf('max', 'aggregate', ['min', 'max'])).toBe('max')
    expectSluiceError(() => expectOneOf('median', 'aggregate', ['min', 'max']), 'ERR_INVALID_ARGUMENT', /one of min, max/)
  })

  it('outputArray reuses the caller’s array or allocates one', () => {
    const out = new Float64Array(8)
    expect(outputArray(out, Float64Array, 4)).toBe(out)
    expect(outputArray(undefined, Float64Array, 4)).toHaveLength(4)
    expectSluiceError(() => outputArray(new Float64Array(2), Float64Array, 4), 'ERR_INVALID_LENGTH')
    expectSluiceError(() => outputArray(new Float32Array(8), Float64Array, 4), 'ERR_INVALID_TYPE')
  })
})

describe('packaging', () => {
  it('ESM import and CommonJS require give the same classes', () => {
    const out = runNode(`
      const cjs = require('sluice')
      import('sluice').then((esm) => {
        console.log(JSON.stringify({ same: esm.SluiceError === cjs.SluiceError, simd: esm.backends().cpu.simd }))
      })`)
    const result = JSON.parse(out)
    expect(result.same).toBe(true)
    expect(simdLevels).toContain(result.simd)
  })

  it('a missing addon gives one actionable message naming where it looked', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-noaddon-'))
    try {
      fs.cpSync(path.join(repoRoot, 'dist'), path.join(dir, 'dist'), { recursive: true })
      fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'))
      const out = runNode("console.log(JSON.stringify(require('./dist').backends().cpu))", {}, dir)
      const cpu = JSON.parse(out)
      expect(cpu.available).toBe(false)
      expect(cpu.reason).toMatch(/could not load its native addon/)
      expect(cpu.reason).toMatch(/looked in: .*build.Release.sluice\.node/)
      expect(cpu.reason).toMatch(/npm rebuild sluice/)
      const thrown = runNode("try { require('./dist/runtime/native').native() } catch (e) { console.log(e.code) }", {}, dir)
      expect(thrown.trim()).toBe('ERR_NATIVE_LOAD')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the addon is context-aware: it loads in several worker threads at once', async () => {
    const source = `
      const { parentPort } = require('node:worker_threads')
      const sluice = require(${JSON.stringify(path.join(repoRoot, 'dist'))})
      const a = new Float64Array(3)
      require(${JSON.stringify(path.join(repoRoot, 'dist', 'runtime', 'native'))}).native().testing.fillIota(a)
      parentPort.postMessage({ simd: sluice.backends().cpu.simd, sum: a[0] + a[1] + a[2] })`
    const results = await Promise.all([0, 1, 2].map(() => new Promise<{ simd: string; sum: number }>((resolve, reject) => {
      const worker = new Worker(source, { eval: true })
      worker.once('message', resolve)
      worker.once('error', reject)
    })))
    for (const r of results) {
      expect(simdLevels).toContain(r.simd)
      expect(r.sum).toBe(3)
    }
  })
})
