#!/usr/bin/env node
// prebuildify calls this in place of node-gyp (`--node-gyp scripts/cmake-js-build.js`), since prebuildify
// has no cmake-js backend. It runs `cmake-js rebuild`, forwarding --arch and --debug; prebuildify then
// copies build/Release/*.node and *.so into prebuilds/<platform>-<arch>/.
'use strict'
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const args = ['rebuild']
for (const arg of process.argv.slice(2)) {
  if (arg.startsWith('--arch=')) args.push('--arch', arg.slice('--arch='.length))
  if (arg === '--debug') args.push('--debug')
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js')
const result = spawnSync(process.execPath, [cmakeJs, ...args], { stdio: 'inherit', cwd: path.join(__dirname, '..') })
process.exit(result.status ?? 1)
