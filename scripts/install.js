#!/usr/bin/env node
// npm "install" step: use a matching prebuild when there is one (no compiler needed), otherwise build from
// source with cmake-js. (`node-gyp-build "cmake-js compile"` does not work: node-gyp-build runs node-gyp.)
'use strict'
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')

function findPrebuild() {
  try {
    return require('node-gyp-build').path(root)
  } catch {
    return null
  }
}

const found = process.env.SLUICE_BUILD_FROM_SOURCE ? null : findPrebuild()
if (found) {
  console.log(`sluice: using ${path.relative(root, found)}`)
  process.exit(0)
}
console.log('sluice: no prebuilt binary for this platform; building from source with cmake-js')
const cmakeJs = require.resolve('cmake-js/bin/cmake-js')
const result = spawnSync(process.execPath, [cmakeJs, 'compile'], { stdio: 'inherit', cwd: root })
if (result.status !== 0) {
  console.error('sluice: the source build failed. It needs CMake >= 3.18 and a C++17 compiler ' +
    '(nvcc is optional, for the CUDA backend). See README.md, "Building from source".')
}
process.exit(result.status ?? 1)
