// Shared test helpers.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { expect } from 'vitest'
import { SluiceError, type SluiceErrorCode } from '../lib/index'

export const repoRoot = path.join(__dirname, '..')

/** Asserts that `fn` throws a SluiceError with `code` (and, optionally, a message matching `message`). */
export function expectSluiceError(fn: () => unknown, code: SluiceErrorCode, message?: RegExp): SluiceError {
  let thrown: unknown
  try {
    fn()
  } catch (error) {
    thrown = error
  }
  expect(thrown, 'expected a SluiceError').toBeInstanceOf(SluiceError)
  const error = thrown as SluiceError
  expect(error.code).toBe(code)
  if (message) expect(error.message).toMatch(message)
  return error
}

/** Runs a CommonJS snippet in a fresh Node process against the built package (dist/); returns stdout. */
export function runNode(source: string, env: Record<string, string> = {}, cwd = repoRoot): string {
  return execFileSync(process.execPath, ['-e', source], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' })
}

/** The SIMD levels a CPU whose widest is `supported` (backends().cpu.simdSupported) can run, portable first:
 * the levels of its own family (x86-64: avx2, avx512; arm64: neon) up to the widest. */
export function runnableSimdLevels(supported: string): string[] {
  const family = supported === 'neon' ? ['portable', 'neon'] : ['portable', 'avx2', 'avx512']
  return family.slice(0, Math.max(1, family.indexOf(supported) + 1))
}
