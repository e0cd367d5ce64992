// What the shared-memory rule costs (docs/design.md, conventions): EventTimeWindows.push of 4096 events
// whose keys and timestamps live in a SharedArrayBuffer (copied once by StableColumn before the push) against
// the same push over arrays of their own (zero-copy). The two run interleaved, in blocks, and each reports
// its median block (the machine's load changes from moment to moment); the difference is the copy's cost.
'use strict'
const { EventTimeWindows } = require('../dist')

const n = 4096, blocks = 21, pushes = 200

function subject(shared) {
  const windows = new EventTimeWindows({ type: 'tumbling', size: 1000, keyCount: 64, aggregates: ['sum'], horizon: 1 << 20 })
  const column = (Type) => (shared ? new Type(new SharedArrayBuffer(n * Type.BYTES_PER_ELEMENT)) : new Type(n))
  const timestamps = column(Float64Array), keys = column(Uint32Array), values = new Float64Array(n).fill(1)
  for (let i = 0; i < n; i++) keys[i] = i & 63
  let t = 0
  // One block: `pushes` pushes of the next 4096 timestamps; ns per event, the refill excluded.
  return () => {
    let ns = 0
    for (let p = 0; p < pushes; p++) {
      for (let i = 0; i < n; i++) timestamps[i] = t++
      const start = process.hrtime.bigint()
      windows.push({ timestamps, keys, values })
      ns += Number(process.hrtime.bigint() - start)
      windows.advance(t - 2000)
    }
    return ns / (pushes * n)
  }
}

const cases = { 'own ArrayBuffer (zero-copy)': subject(false), 'SharedArrayBuffer (copied once)': subject(true) }
const samples = Object.fromEntries(Object.keys(cases).map((name) => [name, []]))
for (let b = 0; b < blocks; b++) for (const [name, run] of Object.entries(cases)) samples[name].push(run())
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1]
const [own, shared] = Object.values(samples).map(median)
console.log(`EventTimeWindows.push, ${n} events (keys + timestamps: 12 bytes per event), median of ${blocks} blocks:`)
console.log(`  own ArrayBuffer (zero-copy)      ${own.toFixed(2)} ns/event`)
console.log(`  SharedArrayBuffer (copied once)  ${shared.toFixed(2)} ns/event  (ratio ${(shared / own).toFixed(3)}, +${(shared - own).toFixed(2)} ns/event)`)
