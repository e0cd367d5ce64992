// The layout rule of lib/: every file sits in a domain folder, and a domain imports only the domains below
// it (runtime at the bottom, keys — the key dictionary and key columns — over it; windows and lstm side by
// side and independent, both over keys; pipeline over both; kafka over windows and pipeline; cli and the package entries over everything). Reads the import statements of
// every file, so a new import that runs the wrong way fails here.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from '../helpers'

const libRoot = path.join(repoRoot, 'lib')
// 'package': files of the package outside lib/ (package.json).
const everything = ['runtime', 'keys', 'windows', 'lstm', 'pipeline', 'kafka', 'cli', 'entry', 'package']

/** The domains each domain may import from (its own included). 'entry' is lib/index.ts. */
const allowed: Record<string, readonly string[]> = {
  runtime: ['runtime'],
  keys: ['runtime', 'keys'],
  windows: ['runtime', 'keys', 'windows'],
  lstm: ['runtime', 'keys', 'lstm'],
  pipeline: ['runtime', 'keys', 'windows', 'lstm', 'pipeline'],
  kafka: ['runtime', 'keys', 'windows', 'pipeline', 'kafka'],
  cli: everything,
  entry: everything,
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith('.ts') ? [full] : []
  })
}

/** lib/<domain>/… → domain; lib/index.ts → 'entry'; anything else (a new top folder) → its name, unknown to `allowed`. */
function domainOf(file: string): string {
  const relative = path.relative(libRoot, file).split(path.sep)
  return relative.length === 1 ? 'entry' : relative[0]!
}

/** The relative module paths a file imports or re-exports: import … from, export … from, import(), require(). */
function importedPaths(source: string): string[] {
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]*)['"]/gm
  return [...source.matchAll(pattern)].map((match) => match[1]!)
}

/** Every import of `file` (its text: `source`) that breaks the rule, as 'lib/a/b.ts → ../c/d (a may not import c)'. */
function violations(file: string, source: string): string[] {
  const from = domainOf(file)
  return importedPaths(source).flatMap((imported) => {
    const target = path.resolve(path.dirname(file), imported)
    const to = path.relative(libRoot, target).startsWith('..') ? 'package' : domainOf(target + '.ts')
    return (allowed[from] ?? []).includes(to) ? [] : [`${path.relative(repoRoot, file)} → ${imported} (${from} may not import ${to})`]
  })
}

describe('lib/ layout', () => {
  const files = sourceFiles(libRoot)

  it('puts every file in a known domain folder', () => {
    expect(files.length).toBeGreaterThan(20)
    expect(files.map(domainOf).filter((domain) => !(domain in allowed))).toEqual([])
  })

  it('imports only downwards between domains; windows and lstm stay independent', () => {
    expect(files.flatMap((file) => violations(file, fs.readFileSync(file, 'utf8')))).toEqual([])
  })

  it('sees the imports it checks and reports the ones that break the rule (it cannot pass vacuously)', () => {
    const lstmModel = path.join(libRoot, 'lstm', 'lstm_model.ts')
    expect(importedPaths(fs.readFileSync(lstmModel, 'utf8'))).toContain('../runtime/native')
    expect(importedPaths("import type { X } from '../windows/a'\nexport { Y } from './b'\nconst z = require('../lstm/c')\nimport './d'")).toEqual(['../windows/a', './b', '../lstm/c', './d'])
    const probe = path.join(libRoot, 'windows', 'probe.ts')
    expect(violations(probe, "import { LstmModel } from '../lstm/lstm_model'\nimport type { Pipeline } from '../pipeline/pipeline'\nimport { native } from '../runtime/native'")).toEqual([
      'lib/windows/probe.ts → ../lstm/lstm_model (windows may not import lstm)',
      'lib/windows/probe.ts → ../pipeline/pipeline (windows may not import pipeline)',
    ])
    expect(violations(path.join(libRoot, 'runtime', 'probe.ts'), "import type { X } from '../windows/aggregates'")).toHaveLength(1)
  })
})

// The same rule in native/: core files include each other by their path from native/core ("base/span.h"),
// addon files also include the shared binding helpers at native/addon's top ("addon.h"). keys/ includes base/
// only; windows/ and lstm/ include base/, keys/ and themselves, on both layers; base/ includes only base/.
describe('native/ layout', () => {
  const nativeRoot = path.join(repoRoot, 'native')
  const nativeAllowed: Record<string, readonly string[]> = {
    base: ['base'], keys: ['base', 'keys'], windows: ['base', 'keys', 'windows'], lstm: ['base', 'keys', 'lstm'], pipeline: ['base', 'keys', 'windows', 'lstm', 'pipeline'],
  }

  function nativeFiles(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) return nativeFiles(full)
      return /\.(cc|h)$/.test(entry.name) ? [full] : []
    })
  }

  /** 'native/core/lstm/x.h' → lstm; 'native/addon/windows/y.cc' → windows. */
  function nativeDomain(file: string): string {
    return path.relative(nativeRoot, file).split(path.sep)[1]!
  }

  function includeViolations(file: string, source: string): string[] {
    const from = nativeDomain(file)
    return [...source.matchAll(/#include "([^"]+)"/g)].map((match) => match[1]!).flatMap((included) => {
      const top = included.split('/')
      // A helper at native/addon's top (addon.h, typed_array.h, …) or the CUDA library's C ABI header.
      if (top.length === 1 || included === '../../cuda/sluice_cuda_api.h') return []
      return nativeAllowed[from]!.includes(top[0]!) ? [] : [`${path.relative(repoRoot, file)} includes ${included} (${from} may not include ${top[0]})`]
    })
  }

  const files = ['core', 'addon'].flatMap((layer) => Object.keys(nativeAllowed).flatMap((domain) => {
    const dir = path.join(nativeRoot, layer, domain)
    return fs.existsSync(dir) ? nativeFiles(dir) : []
  }))

  it('includes only base/, keys/ and the own domain from windows/ and lstm/, on the core and addon layers', () => {
    expect(files.length).toBeGreaterThan(30)
    expect(files.flatMap((file) => includeViolations(file, fs.readFileSync(file, 'utf8')))).toEqual([])
  })

  it('reports an include that breaks the rule', () => {
    const probe = path.join(nativeRoot, 'core', 'windows', 'probe.cc')
    expect(includeViolations(probe, '#include "base/span.h"\n#include "lstm/lstm_model.h"\n#include "windows/aggregates.h"')).toEqual([
      'native/core/windows/probe.cc includes lstm/lstm_model.h (windows may not include lstm)',
    ])
  })
})
