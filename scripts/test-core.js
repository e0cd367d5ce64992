#!/usr/bin/env node
// Builds native/core's C++ tests with AddressSanitizer + UndefinedBehaviorSanitizer and runs them with
// CTest (once per SIMD level), then once more under ThreadSanitizer (the thread pool, parallel pushes and
// the LSTM's threads). Usage: node scripts/test-core.js [--no-sanitize]
'use strict'
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
const sanitize = !process.argv.includes('--no-sanitize')
const buildDir = path.join(root, 'build', sanitize ? 'core-tests-asan' : 'core-tests')
const run = (cmd, args) => execFileSync(cmd, args, { stdio: 'inherit', cwd: root })

const generator = (() => {
  try { execFileSync('ninja', ['--version'], { stdio: 'ignore' }); return ['-G', 'Ninja'] } catch { return [] }
})()
// Configures and builds the core tests in `dir` with the given CMake options.
function buildTests(dir, options) {
  run('cmake', ['-S', 'native/core', '-B', dir, ...generator, '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DSLUICE_CORE_TESTS=ON', ...options])
  run('cmake', ['--build', dir, '--parallel'])
}
buildTests(buildDir, [`-DSLUICE_SANITIZE=${sanitize ? 'ON' : 'OFF'}`])
// The real CUDA library, when this checkout built one, is opened by cuda_lstm_test (a GPU-less machine
// must explain itself; a GPU machine runs a tiny model).
const cudaDir = path.join(root, 'build', 'Release')
const env = { ...process.env }
if (require('node:fs').existsSync(path.join(cudaDir, 'libsluice_cuda.so'))) env.SLUICE_TEST_CUDA_DIR = cudaDir
execFileSync('ctest', ['--test-dir', buildDir, '--output-on-failure'], { stdio: 'inherit', cwd: root, env })
if (sanitize) {
  // ThreadSanitizer: every test once, stopping at the first report.
  const tsanDir = path.join(root, 'build', 'core-tests-tsan')
  buildTests(tsanDir, ['-DSLUICE_SANITIZE=OFF', '-DSLUICE_TSAN=ON'])
  execFileSync(path.join(tsanDir, 'sluice_core_tests'), [], {
    stdio: 'inherit', cwd: root, env: { ...env, TSAN_OPTIONS: 'halt_on_error=1 second_deadlock_stack=1' },
  })
}
