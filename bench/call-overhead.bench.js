// The cost of crossing into native code with a typed array, against a plain JS function doing the same
// write. Zero-copy means the native call's fixed cost does not grow with the array: compare 1 and 10^5
// elements (the write itself is O(n) in both).
'use strict'
const { runSuite } = require('./harness')
const { native } = require('../dist/runtime/native')

function jsFillIota(array) {
  for (let i = 0; i < array.length; i++) array[i] = i
  return array.length
}

async function main() {
  const testing = native().testing
  for (const n of [1, 100_000]) {
    const array = new Float64Array(n)
    await runSuite(`fill ${n} doubles through a typed array`, [
      { name: 'plain JS loop', fn: () => jsFillIota(array), events: n, baseline: true },
      { name: 'sluice native (zero-copy)', fn: () => testing.fillIota(array), events: n },
    ], { unit: 'element' })
  }
}

if (require.main === module) main()
module.exports = main
