// CPU time (process.cpuUsage) and wall time per value of SlidingWindow p50 and p50+p90+p99 (window 1000, slide 1,
// 10^6 normal doubles, one push), best of 7: on a shared machine the CPU time is the steadier figure. Run from the
// repository root (or another checkout's, to compare builds in one session):
//   npm run build:ts && node bench/quantiles-cpu-time.js
'use strict'
const path = require('node:path')
const { SlidingWindow } = require(path.join(process.cwd(), 'dist'))
const N = 1e6
let s = 7
const v = new Float64Array(N)
for (let i = 0; i < N; i++) { s = (s * 1103515245 + 12345) % 2147483648; const u1 = (s + 1) / 2147483649; s = (s * 1103515245 + 12345) % 2147483648; v[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * s / 2147483648) }
for (const aggregates of [['p50'], ['p50', 'p90', 'p99']]) {
  const out = new Float64Array(N * aggregates.length)
  let best = Infinity, bestWall = Infinity
  for (let r = 0; r < 7; r++) {
    const c0 = process.cpuUsage(), t0 = process.hrtime.bigint()
    new SlidingWindow({ size: 1000, aggregates }).push(v, out)
    const c = process.cpuUsage(c0), t = Number(process.hrtime.bigint() - t0)
    best = Math.min(best, (c.user + c.system) * 1000 / N); bestWall = Math.min(bestWall, t / N)
  }
  console.log(`${aggregates.join('+')}: ${best.toFixed(1)} ns CPU/value, ${bestWall.toFixed(1)} ns wall/value (best of 7)`)
}
