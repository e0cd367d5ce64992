// The README's quick start runs as printed: its first ```js block under "## Quick start" is run in a child
// Node process against the built package (dist/), with only the 'sluice' module specifier rewritten.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { repoRoot } from './helpers'

/** The first ```js block of the README's "## Quick start" section. */
function quickStartCode(readme: string): string {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Quick start\n'))
  expect(section, 'README.md has a "## Quick start" section').toBeDefined()
  const block = /^```js\n([\s\S]*?)^```$/m.exec(section!)
  expect(block, 'the quick start has a ```js block').not.toBeNull()
  return block![1]!
}

/** Points require('sluice') / from 'sluice' at dist/ of this checkout; nothing else in the code changes. */
function againstBuiltPackage(code: string): string {
  const dist = JSON.stringify(path.join(repoRoot, 'dist'))
  const rewritten = code.replace(/require\((['"])sluice\1\)/g, `require(${dist})`).replace(/from (['"])sluice\1/g, `from ${dist}`)
  expect(rewritten, 'the quick start loads sluice').not.toBe(code)
  return rewritten
}

describe('README quick start', () => {
  it('runs as printed: flags the spike, one line per flagged window, then the counts', () => {
    const code = againstBuiltPackage(quickStartCode(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8')))
    // execFileSync throws unless the process exits with status 0.
    const stdout = execFileSync(process.execPath, ['-e', code], { cwd: repoRoot, encoding: 'utf8', timeout: 60_000 })
    const lines = stdout.trim().split('\n')

    const number = String.raw`-?\d+\.\d+`
    const anomaly = new RegExp(String.raw`^anomaly at (\d+) s: value ${number}, forecast ${number}, z (\d+\.\d)$`)
    const anomalies = lines.slice(0, -1).map((line) => {
      const match = anomaly.exec(line)
      expect(match, `an anomaly line: ${line}`).not.toBeNull()
      return { second: Number(match![1]), z: Number(match![2]) }
    })
    const counts = /^(\d+) events → (\d+) windows → (\d+) flagged$/.exec(lines.at(-1)!)
    expect(counts, `the last line counts events, windows and flags: ${lines.at(-1)}`).not.toBeNull()
    const [events, windowsFired, flagged] = counts!.slice(1).map(Number)

    // The synthetic series has one event per second and a spike at 700 s (as the README says).
    expect(events).toBe(windowsFired)
    expect(events).toBeGreaterThan(700)
    expect(flagged).toBe(anomalies.length)
    expect(anomalies[0]).toMatchObject({ second: 700 })
    expect(anomalies[0]!.z).toBeGreaterThan(4)
    expect(anomalies.every((row) => row.second >= 700)).toBe(true)
  })
})
