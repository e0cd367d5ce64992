#!/usr/bin/env node
// `npm run docs`: the API reference from the TSDoc comments of lib/index.ts and lib/kafka/index.ts, into
// build/api-docs/. TypeDoc needs TypeScript's JavaScript compiler API, which the project's TypeScript 7 no
// longer has, so TypeDoc and a TypeScript it supports live in this folder's own package, installed here
// (npm ci, pinned by package-lock.json) the first time or when the pinned version changed.
'use strict'
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const here = __dirname
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

function installedVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(here, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

const pinned = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8')).devDependencies
if (Object.entries(pinned).some(([name, version]) => installedVersion(name) !== version)) {
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: here, stdio: 'inherit' })
}

// Warnings are errors (typedoc.json: treatWarningsAsErrors), so a broken link or a referenced type that
// the entry points do not export fails the build.
const typedoc = path.join(here, 'node_modules', 'typedoc', 'bin', 'typedoc')
const run = spawnSync(process.execPath, [typedoc, '--options', path.join(here, 'typedoc.json')], {
  cwd: path.join(here, '..', '..'),
  stdio: 'inherit',
})
process.exit(run.status ?? 1)
