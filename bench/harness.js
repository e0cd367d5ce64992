// The benchmark harness every bench/*.bench.js uses: benny runs the cases of one suite in this process,
// then a table prints ns per op (and per event), throughput and each case's ratio to the suite's baseline
// (>1 means faster than the baseline). Peers run in the same process and the same run, since the machine
// is shared and noisy: compare ratios, not absolute numbers across runs.
'use strict'
const b = require('benny')

/**
 * @param {string} title
 * @param {{ name: string, fn: () => unknown, events?: number, baseline?: boolean }[]} cases
 *   events: how many events (or FLOPs, rows…) one call processes, for the per-event column.
 * @param {{ unit?: string, minSamples?: number, maxTime?: number }} [options]
 * @returns {Promise<{ name: string, nsPerOp: number, nsPerEvent: number, ratio: number }[]>}
 */
async function runSuite(title, cases, options = {}) {
  const unit = options.unit ?? 'event'
  const summary = await b.suite(
    title,
    ...cases.map((c) => b.add(c.name, c.fn, { minSamples: options.minSamples ?? 5, maxTime: options.maxTime ?? 1.5 })),
    b.cycle(() => {}),
    // benny rounds ops/s to whole numbers by default: far too coarse for cases that take a second per op.
    b.configure({ minDisplayPrecision: 6 }),
  )
  const byName = new Map(summary.results.map((r) => [r.name, r]))
  const baselineCase = cases.find((c) => c.baseline) ?? cases[0]
  const nsPerEvent = (c) => 1e9 / byName.get(c.name).ops / (c.events ?? 1)
  const baseNs = nsPerEvent(baselineCase)
  const rows = cases.map((c) => {
    const r = byName.get(c.name)
    return {
      name: c.name,
      nsPerOp: 1e9 / r.ops,
      nsPerEvent: nsPerEvent(c),
      ratio: baseNs / nsPerEvent(c),
      margin: r.margin,
    }
  })
  printTable(title, rows, unit, baselineCase.name)
  return rows
}

function printTable(title, rows, unit, baselineName) {
  console.log(`\n${title}   (ratio = speed relative to "${baselineName}")`)
  const header = ['case', 'ns/op', `ns/${unit}`, `M ${unit}s/s`, 'ratio', '±%']
  const lines = rows.map((r) => [r.name, fmt(r.nsPerOp), fmt(r.nsPerEvent), fmt(1e3 / r.nsPerEvent), `${r.ratio.toFixed(2)}x`, r.margin.toFixed(1)])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const row = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  console.log(row(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const l of lines) console.log(row(l))
}

function fmt(x) {
  if (x >= 100) return x.toFixed(0)
  if (x >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

module.exports = { runSuite }
