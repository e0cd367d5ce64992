// The ONNX LSTM builder of the tests (test/support/onnx_lstm_model.ts), compiled once per benchmark run, so
// the benchmarks' onnxruntime-node peers run the same graph the tests check (no second copy of it).
'use strict'
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..', '..')

/** @returns {(weights: object, options?: object) => Uint8Array} buildOnnxLstmModel */
function loadOnnxBuilder() {
  const outDir = path.join(root, 'build', 'bench-support')
  execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--ignoreConfig',
    path.join(root, 'test', 'support', 'onnx_lstm_model.ts'), '--outDir', outDir, '--rootDir', root, '--module', 'commonjs',
    '--target', 'es2022', '--skipLibCheck', '--esModuleInterop', '--types', 'node'], { stdio: 'inherit' })
  return require(path.join(outDir, 'test', 'support', 'onnx_lstm_model.js')).buildOnnxLstmModel
}

module.exports = { loadOnnxBuilder }
