'use strict'
// string[] keys against the peer (a JS Map from freshly decoded strings to ids in front of the dense API),
// interleaved in one process and timed by CPU time (process.cpuUsage around the timed calls only), so the
// machine's load does not enter as waiting time. The stream of bench/keys.bench.js (10,000 host-like keys,
// sliding 60 s / 10 s, count/sum/min/max, 2·10^6 events in batches of 10^4, strings decoded fresh before
// each batch, untimed). Cases: peer, peer16k (the peer with a key capacity of 16,384, as the interned
// windows grow to), translate (lib's StringKeys in front of dense windows), strings (sluice's string[]).
// Prints each case's distribution, the per-alternation ratio peer/strings and the push/advance split.
// usage: node --expose-gc bench/keys-strings.bench.js [alternations=20] [dist=../dist] [cases=peer,strings]
const path = require('node:path')
const dist = path.resolve(process.argv[3] || path.join(__dirname, '../dist'))
const sluice = require(dist)
const { mulberry32 } = require(path.join(dist, 'runtime/random'))
const ALT = +process.argv[2] || 20
const KEYS = 10000, EVENTS = 2000000, BATCH = 10000, STEP = 0.1
const random = mulberry32(17)
const hosts = Array.from({ length: KEYS }, (_, i) => `web-${String(i).padStart(5, '0')}.${['eu-west-1', 'us-east-2', 'ap-south-1'][i % 3]}.example.com`)
const hostBytes = hosts.map((h) => Buffer.from(h, 'utf8'))
const keyIndex = new Uint32Array(EVENTS), timestamps = new Float64Array(EVENTS), values = new Float64Array(EVENTS)
for (let i = 0; i < EVENTS; i++) { keyIndex[i] = Math.floor(random() * KEYS); timestamps[i] = Math.floor(i * STEP); values[i] = Math.round((random() - 0.5) * 2000) / 8 }
const batches = []
for (let s = 0; s < EVENTS; s += BATCH) {
  const n = Math.min(BATCH, EVENTS - s), offsets = new Uint32Array(n + 1)
  let total = 0; for (let i = 0; i < n; i++) total += hostBytes[keyIndex[s + i]].length
  const bytes = new Uint8Array(total); let at = 0
  for (let i = 0; i < n; i++) { bytes.set(hostBytes[keyIndex[s + i]], at); at += hostBytes[keyIndex[s + i]].length; offsets[i + 1] = at }
  batches.push({ timestamps: timestamps.subarray(s, s + n), values: values.subarray(s, s + n), packed: { bytes, offsets }, watermark: timestamps[s + n - 1] - 1 })
}
function freshStrings(b) {
  const { bytes, offsets } = batches[b].packed
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const out = new Array(offsets.length - 1)
  for (let i = 0; i < out.length; i++) out[i] = buf.latin1Slice(offsets[i], offsets[i + 1])
  return out
}
const options = { type: 'sliding', size: 60000, slide: 10000, aggregates: ['count', 'sum', 'min', 'max'] }
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system }
const cases = {
  peer() {
    const map = new Map(), ids = new Uint32Array(BATCH)
    const w = new sluice.EventTimeWindows({ ...options, keyCount: KEYS })
    return { w, ingest(b, keys) {
      for (let i = 0; i < keys.length; i++) { let id = map.get(keys[i]); if (id === undefined) map.set(keys[i], (id = map.size)); ids[i] = id }
      w.push({ timestamps: batches[b].timestamps, keys: ids.subarray(0, keys.length), values: batches[b].values })
    } }
  },
  peer16k() {
    const map = new Map(), ids = new Uint32Array(BATCH)
    const w = new sluice.EventTimeWindows({ ...options, keyCount: 16384 })
    return { w, ingest(b, keys) {
      for (let i = 0; i < keys.length; i++) { let id = map.get(keys[i]); if (id === undefined) map.set(keys[i], (id = map.size)); ids[i] = id }
      w.push({ timestamps: batches[b].timestamps, keys: ids.subarray(0, keys.length), values: batches[b].values })
    } }
  },
  translate() {
    const { StringKeys } = require(path.join(dist, 'keys/key_column'))
    const sk = new StringKeys(), ids = new Uint32Array(BATCH)
    let next = 0
    const w = new sluice.EventTimeWindows({ ...options, keyCount: 16384 })
    return { w, ingest(b, keys) {
      sk.translate(keys, ids, (packed, into) => { for (let i = 0; i < into.length; i++) into[i] = next++ })
      w.push({ timestamps: batches[b].timestamps, keys: ids.subarray(0, keys.length), values: batches[b].values })
    } }
  },
  strings() {
    const w = new sluice.EventTimeWindows({ ...options, keys: 'string' })
    return { w, ingest(b, keys) { w.push({ timestamps: batches[b].timestamps, keys, values: batches[b].values }) } }
  },
}
const names = (process.argv[4] || 'peer,strings').split(',')
const res = Object.fromEntries(names.map((n) => [n, []]))
const phase = Object.fromEntries(names.map((n) => [n, { push: 0, advance: 0 }]))
for (let a = 0; a < ALT; a++) {
  const order = a % 2 ? [...names].reverse() : names
  for (const name of order) {
    const { w, ingest } = cases[name]()
    global.gc?.()
    let used = 0
    for (let b = 0; b < batches.length; b++) {
      const keys = freshStrings(b)
      const c0 = cpu()
      ingest(b, keys)
      const c1 = cpu()
      w.advanceWatermark(batches[b].watermark)
      const c2 = cpu()
      used += c2 - c0
      phase[name].push += c1 - c0; phase[name].advance += c2 - c1
    }
    const c0 = cpu(); w.flush(); used += cpu() - c0
    w.close()
    res[name].push(used * 1e3 / EVENTS) // ns per event
  }
}
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }
for (const name of names) console.log(`${name.padEnd(8)} CPU ns/event: median ${q(res[name], 0.5).toFixed(1)}, p10 ${q(res[name], 0.1).toFixed(1)}, p90 ${q(res[name], 0.9).toFixed(1)}, min ${Math.min(...res[name]).toFixed(1)}`)
if (res.peer && res.strings) {
  const ratios = res.peer.map((p, i) => p / res.strings[i])
  console.log(`ratio peer/strings per alternation: median ${q(ratios, 0.5).toFixed(3)}, p10 ${q(ratios, 0.1).toFixed(3)}, p90 ${q(ratios, 0.9).toFixed(3)}, min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}; strings faster in ${ratios.filter((r) => r > 1).length}/${ratios.length}`)
}
for (const name of names) console.log(`${name}: push ${(phase[name].push * 1e3 / EVENTS / ALT).toFixed(1)} ns/event, advance ${(phase[name].advance * 1e3 / EVENTS / ALT).toFixed(1)} ns/event (mean over alternations)`)
