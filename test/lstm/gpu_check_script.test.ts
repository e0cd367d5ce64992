// scripts/gpu-check.sh and its helpers, in the parts that run without a GPU: argument handling, loud
// failure where the GPU, driver or PyTorch is missing, the safetensors exchange between Node and Python
// (the Python side parses the format itself), and the comparison's ability to fail.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers'

const script = path.join(repoRoot, 'scripts', 'gpu-check.sh')
const nodeScript = path.join(repoRoot, 'scripts', 'gpu-check.js')
const pyScript = path.join(repoRoot, 'scripts', 'gpu_check_torch.py')
const { writeSafetensors } = require(nodeScript) as { writeSafetensors: (file: string, tensors: Record<string, { dtype: string; shape: number[]; data: Float32Array }>, metadata?: Record<string, string>) => void }

const hasGpu = spawnSync('sh', ['-c', 'command -v nvidia-smi'], { encoding: 'utf8' }).status === 0
const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' })
const hasNumpy = numpy.status === 0
if (!hasNumpy) console.log(`python3 with numpy unavailable, Python loader tests skipped: ${numpy.error?.message ?? numpy.stderr}`)

const run = (cmd: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 })

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-gpu-check-'))
}

describe('scripts/gpu-check.sh', () => {
  it('--help prints the usage; a bad argument is exit 2 with the usage', () => {
    const help = run('bash', [script, '--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: scripts\/gpu-check\.sh/)
    for (const args of [['--bogus'], ['--python']]) {
      const bad = run('bash', [script, ...args])
      expect(bad.status).toBe(2)
      expect(bad.stderr).toMatch(/unknown argument|needs a value/)
      expect(bad.stderr).toMatch(/usage:/)
    }
  })

  it.skipIf(hasGpu)('without nvidia-smi it fails loudly, before doing anything else', () => {
    const result = run('bash', [script])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('gpu-check: FAIL: nvidia-smi not found')
  })

  it('with a GPU but no PyTorch it fails loudly at the Python step', () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'nvidia-smi'), '#!/bin/sh\necho "stub GPU"\n', { mode: 0o755 })
    fs.writeFileSync(path.join(dir, 'python-without-torch'), '#!/bin/sh\nexec python3 -c "import torch_that_is_missing" "$@"\n', { mode: 0o755 })
    const result = run('bash', [script, '--python', path.join(dir, 'python-without-torch')], { PATH: `${dir}:${process.env.PATH}` })
    expect(result.stdout).toContain('stub GPU')
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('gpu-check: FAIL: PyTorch with CUDA is needed')
  })
})

describe('scripts/gpu-check.js arguments', () => {
  it('refuses bad arguments with exit 2 and the usage', () => {
    for (const args of [['--bogus'], ['--workdir'], ['--backend', 'tpu'], ['--reference', 'jax'], ['--backend', 'cpu'], ['--reference', 'numpy']]) {
      const result = run(process.execPath, [nodeScript, ...args])
      expect(result.status, args.join(' ')).toBe(2)
      expect(result.stderr).toMatch(/usage:/)
    }
    expect(run(process.execPath, [nodeScript, '--help']).status).toBe(0)
  })

  it.skipIf(hasGpu)('asking for the CUDA backend without one is exit 1 with the reason', () => {
    const result = run(process.execPath, [nodeScript, '--skip-bench', '--reference', 'numpy', '--workdir', tempDir()])
    expect(result.status).toBe(1)
    expect(result.stderr).toMatch(/FAIL: the CUDA backend is unavailable: /)
  })
})

describe.skipIf(!hasNumpy)('the Python side of the comparison', () => {
  it('sluice (CPU) vs the float64 numpy LSTM through the safetensors exchange: every case ≤ 1e-5', () => {
    const workdir = tempDir()
    const out = execFileSync(process.execPath, [nodeScript, '--backend', 'cpu', '--reference', 'numpy', '--skip-tests', '--skip-bench', '--workdir', workdir], { cwd: repoRoot, encoding: 'utf8' })
    expect(out).toMatch(/RESULT: PASS \(5 checks passed, 0 failed\)/)
    const report = JSON.parse(fs.readFileSync(path.join(workdir, 'compare.json'), 'utf8'))
    expect(report.cases).toHaveLength(4)
    for (const c of report.cases) expect(c.maxAbsError).toBeLessThanOrEqual(1e-5)
  })

  it('a wrong output is caught: the comparison reports the difference', () => {
    const dir = tempDir()
    const H = 3, I = 2, T = 2, B = 1
    const w = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.3)
    const zeros = new Float32Array(T * B * H)  // not the LSTM's output for this input
    const file = path.join(dir, 'cases.safetensors')
    writeSafetensors(file, {
      'case0.weight_ih_l0': { dtype: 'F32', shape: [4 * H, I], data: w(4 * H * I, 1) },
      'case0.weight_hh_l0': { dtype: 'F32', shape: [4 * H, H], data: w(4 * H * H, 2) },
      'case0.bias_ih_l0': { dtype: 'F32', shape: [4 * H], data: w(4 * H, 3) },
      'case0.bias_hh_l0': { dtype: 'F32', shape: [4 * H], data: w(4 * H, 4) },
      'case0.x': { dtype: 'F32', shape: [T, B, I], data: Float32Array.of(1, -1, 0.5, 2) },
      'case0.sluice': { dtype: 'F32', shape: [T, B, H], data: zeros },
    }, { cases: JSON.stringify([{ name: 'case0', shape: 'tiny', layers: 1, input: I, hidden: H, outputs: 0, steps: T, batch: B }]) })
    const result = run('python3', [pyScript, 'compare', '--file', file, '--out', path.join(dir, 'r.json'), '--backend', 'numpy'])
    expect(result.status).toBe(0)
    const error = JSON.parse(fs.readFileSync(path.join(dir, 'r.json'), 'utf8')).cases[0].maxAbsError
    expect(error).toBeGreaterThan(1e-3)
  })

  it('malformed safetensors files are refused loudly (non-zero exit, the reason printed)', () => {
    const dir = tempDir()
    const good = path.join(dir, 'good.safetensors')
    writeSafetensors(good, { a: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) } }, { cases: '[]' })
    const bytes = fs.readFileSync(good)
    const headerLength = Number(bytes.readBigUInt64LE(0))
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString())
    const variant = (name: string, edit: (h: any) => void) => {
      const h = JSON.parse(JSON.stringify(header))
      edit(h)
      const json = Buffer.from(JSON.stringify(h))
      const length = Buffer.alloc(8)
      length.writeBigUInt64LE(BigInt(json.length))
      const file = path.join(dir, name)
      fs.writeFileSync(file, Buffer.concat([length, json, bytes.subarray(8 + headerLength)]))
      return file
    }
    const truncated = path.join(dir, 'truncated.safetensors')
    fs.writeFileSync(truncated, bytes.subarray(0, 20))
    const cases: [string, RegExp][] = [
      [truncated, /header length \d+ exceeds the file/],
      [variant('offsets.safetensors', (h) => { h.a.data_offsets = [0, 64] }), /outside the data/],
      [variant('shape.safetensors', (h) => { h.a.shape = [3, 2] }), /needs 24/],
      [variant('dtype.safetensors', (h) => { h.a.dtype = 'BF16' }), /unsupported dtype/],
    ]
    for (const [file, message] of cases) {
      const result = run('python3', ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(path.dirname(pyScript))}); import gpu_check_torch as g; g.load_safetensors(${JSON.stringify(file)})`])
      expect(result.status, file).not.toBe(0)
      expect(result.stderr).toMatch(message)
    }
    const ok = run('python3', ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(path.dirname(pyScript))}); import gpu_check_torch as g; t, m = g.load_safetensors(${JSON.stringify(good)}); print(g.to_numpy(t['a']).tolist(), m)`])
    expect(ok.stdout.trim()).toBe("[[1.0, 2.0], [3.0, 4.0]] {'cases': '[]'}")
  })
})

describe.skipIf(!hasNumpy)('scripts/gpu-check.js end to end, the CUDA backend emulated by the CPU', () => {
  // Runs every code path of the GPU check (tests, reference comparison, benchmark table, exit status) so
  // that a mistake in the script shows here, not on the GPU machine. Numbers are meaningless here.
  it('reports PASS, every section and the goals table', () => {
    const result = run(process.execPath, [nodeScript, '--quick', '--python', path.join(repoRoot, 'test', 'support', 'fake_torch_python.sh'), '--workdir', tempDir()], {
      SLUICE_GPU_CHECK_MODULE: path.join(repoRoot, 'test', 'support', 'emulated_cuda_sluice.js'),
    })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/== CUDA backend vs CPU engine/)
    expect(result.stdout).toMatch(/PASS device windows vs CPU windows/)
    expect(result.stdout).toMatch(/PASS sluice \(cuda\) vs torch: L3 I32 H256 O0 T8 B64/)
    expect(result.stdout).toMatch(/\| T64\/B1024\/I64\/H256 \|.*≥ 0\.9×/)
    expect(result.stdout).toMatch(/\| 100,000-key step I8\/H64 \(stateful\) \|.*≥ 1\.5×/)
    expect(result.stdout).toMatch(/1,024-key step I8\/H64 latency p99/)
    expect(result.stdout).toMatch(/RESULT: PASS \(\d+ checks passed, 0 failed\)/)
  }, 240_000)
})
