#!/usr/bin/env node
// npm run bench [-- name…]: runs every bench/*.bench.js (or those whose file name contains a given word),
// each in a fresh process, one after the other.
'use strict'
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const filters = process.argv.slice(2)
const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
let failed = 0
for (const file of files) {
  const result = spawnSync(process.execPath, ['--expose-gc', path.join(__dirname, file)], { stdio: 'inherit' })
  if (result.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
