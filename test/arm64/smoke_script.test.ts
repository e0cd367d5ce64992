// test/arm64/smoke.mjs is run by `npm run test:arm64` with an arm64 Node under qemu; this keeps it working on
// x86-64 in every `npm test`: it records, passes against its own recording at another SIMD level, and fails
// (exit status 1, naming the check) when one recorded value is off by one unit in the last place.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers'
import { tempDirs } from '../support/temp_dirs'

const script = path.join(repoRoot, 'test', 'arm64', 'smoke.mjs')
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [script, '--package', repoRoot, ...args], { encoding: 'utf8', env: { ...process.env, ...env } })

const tempDir = tempDirs('sluice-smoke-')
/** Records this machine's results into a new temporary folder; returns the file. */
function record(): string {
  const file = path.join(tempDir(), 'x64.json')
  execFileSync(process.execPath, [script, '--package', repoRoot, '--record', file])
  return file
}

describe('the arm64 smoke script', () => {
  it('records, then passes against its recording at the portable level', () => {
    const recorded = record()
    const result = run(['--compare', recorded, '--simd', 'portable'], { SLUICE_SIMD: 'portable' })
    expect(result.stderr).toBe('')
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/simd portable against linux-x64 .*: (\d+)\/\1 checks passed/)
  })

  it('fails on one unit in the last place of a window result, and on a wrong SIMD level', () => {
    const recorded = record()
    const results = JSON.parse(fs.readFileSync(recorded, 'utf8'))
    const value = new Float64Array([results.sliding.output[500]])
    new BigInt64Array(value.buffer)[0]! += 1n
    results.sliding.output[500] = value[0]
    const corrupted = path.join(path.dirname(recorded), 'corrupted.json')
    fs.writeFileSync(corrupted, JSON.stringify(results))
    const result = run(['--compare', corrupted, '--simd', 'no-such-level'])
    expect(result.status).toBe(1)
    expect(result.stderr).toContain('FAIL sliding window = x86-64 bit for bit: first difference at 500')
    expect(result.stderr).toContain('FAIL simd level')
  })
})
