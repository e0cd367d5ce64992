// Keys of any kind (issue 17), sluice against what a user writes today, in the same run:
//  1. Keyed sliding windows (10,000 host-like keys, 60 s / 10 s, count, sum, min, max, in-order timestamps,
//     2·10^6 events in 10^4-event batches, the watermark advanced after each batch):
//     the peer — a plain-JS Map from freshly decoded strings to ids in front of the dense API — against
//     sluice with packed byte keys, 64-bit ids, string[] and dense ids. Each case runs on a fresh engine,
//     best of 3; string cases get freshly made strings each time (their hashes not cached yet).
//     SLUICE_BENCH_BASE_DIST=<another build's dist/> adds that build's dense path (e.g. main's) as a row.
//  2. Interning into a KeyDictionary from packed bytes: known keys and new keys per second.
//  3. Memory: 10^7 distinct 64-bit keys in a KeyDictionary; 10^6 keys each with one live (key, window) cell
//     in EventTimeWindows (count, sum, min, max) — bytes per key and per cell.
//     Also the case: 200,000 dense keys each putting one event into one tumbling window, horizon 64
//     panes, one `count`.
//  4. Churn: keys arriving and expiring all the time (keyTtl), 10^8 events, native memory and RSS every 10^7.
// Options: KEYS_BENCH_QUICK=1 (smaller sizes, for a smoke run); KEYS_BENCH_SUITES=windows,intern,memory,churn
// (default all); KEYS_BENCH_CHURN_EVENTS (default 10^8).
'use strict'
const path = require('node:path')
const sluice = require('../dist')
const { mulberry32 } = require('../dist/runtime/random')

const quick = process.env.KEYS_BENCH_QUICK === '1'
const KEYS = 10_000
const EVENTS = quick ? 200_000 : 2_000_000
const BATCH = 10_000
const STEP = 0.1 // ms between events: 10 per ms, each key about once a second
const SIZE = 60_000
const SLIDE = 10_000
const REPS = 3

const now = () => Number(process.hrtime.bigint()) / 1e6 // ms

// ---- the stream -------------------------------------------------------------------------------------------
const random = mulberry32(17)
const hosts = Array.from({ length: KEYS }, (_, i) => `web-${String(i).padStart(5, '0')}.${['eu-west-1', 'us-east-2', 'ap-south-1'][i % 3]}.example.com`)
const hostBytes = hosts.map((h) => Buffer.from(h, 'utf8'))
const keyIndex = new Uint32Array(EVENTS)
const timestamps = new Float64Array(EVENTS)
const values = new Float64Array(EVENTS)
for (let i = 0; i < EVENTS; i++) {
  keyIndex[i] = Math.floor(random() * KEYS)
  timestamps[i] = Math.floor(i * STEP)
  values[i] = Math.round((random() - 0.5) * 2000) / 8
}
// Per batch: the keys as packed bytes (as they arrive from Kafka), as 64-bit ids and as dense ids.
const batches = []
for (let s = 0; s < EVENTS; s += BATCH) {
  const n = Math.min(BATCH, EVENTS - s)
  const offsets = new Uint32Array(n + 1)
  let total = 0
  for (let i = 0; i < n; i++) total += hostBytes[keyIndex[s + i]].length
  const bytes = new Uint8Array(total)
  let at = 0
  const words = new BigUint64Array(n)
  for (let i = 0; i < n; i++) {
    const k = keyIndex[s + i]
    bytes.set(hostBytes[k], at)
    at += hostBytes[k].length
    offsets[i + 1] = at
    words[i] = BigInt(k) * 0x9E3779B97F4A7C15n & 0xFFFFFFFFFFFFFFFFn
  }
  batches.push({ timestamps: timestamps.subarray(s, s + n), values: values.subarray(s, s + n), dense: keyIndex.subarray(s, s + n), packed: { bytes, offsets }, words, watermark: timestamps[s + n - 1] - 1 })
}

/** Fresh string objects for a batch's keys, decoded from its bytes just before its push (not timed), so
 * they are new (hash not cached) but in cache, as right after decoding a message. */
function freshStrings(b) {
  const { bytes, offsets } = batches[b].packed
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const out = new Array(offsets.length - 1)
  for (let i = 0; i < out.length; i++) out[i] = buf.latin1Slice(offsets[i], offsets[i + 1])
  return out
}

const options = { type: 'sliding', size: SIZE, slide: SLIDE, aggregates: ['count', 'sum', 'min', 'max'] }

/**
 * Runs `ingest(windows, batchIndex, input)` and the watermark's advance over the stream on fresh windows,
 * REPS times; best ns per event. `prepare(batchIndex)` makes a batch's input first, untimed.
 */
function time(name, make, ingest, prepare) {
  let best = Infinity, fired = 0
  for (let rep = 0; rep < REPS; rep++) {
    const w = make()
    global.gc?.()
    let elapsed = 0
    fired = 0
    for (let b = 0; b < batches.length; b++) {
      const input = prepare ? prepare(b) : undefined
      const start = now()
      ingest(w, b, input)
      fired += w.advanceWatermark(batches[b].watermark).length
      elapsed += now() - start
    }
    const start = now()
    fired += w.flush().length
    best = Math.min(best, elapsed + now() - start)
    w.close()
  }
  return { name, ns: (best * 1e6) / EVENTS, fired }
}

function windowsSuite() {
  const rows = []
  // The peer: a Map from freshly decoded strings to ids, in front of the dense API.
  let map, ids
  rows.push(time('peer: JS Map(string → id) + dense ids', () => {
    map = new Map()
    ids = new Uint32Array(BATCH)
    return new sluice.EventTimeWindows({ ...options, keyCount: KEYS })
  }, (w, b, keys) => {
    for (let i = 0; i < keys.length; i++) {
      let id = map.get(keys[i])
      if (id === undefined) map.set(keys[i], (id = map.size))
      ids[i] = id
    }
    w.push({ timestamps: batches[b].timestamps, keys: ids.subarray(0, keys.length), values: batches[b].values })
  }, freshStrings))
  rows.push(time('sluice: packed bytes keys', () => new sluice.EventTimeWindows({ ...options, keys: 'bytes' }),
    (w, b) => w.push({ timestamps: batches[b].timestamps, keys: batches[b].packed, values: batches[b].values })))
  rows.push(time('sluice: 64-bit ids (BigUint64Array)', () => new sluice.EventTimeWindows({ ...options, keys: 'bigint' }),
    (w, b) => w.push({ timestamps: batches[b].timestamps, keys: batches[b].words, values: batches[b].values })))
  rows.push(time('sluice: string[]', () => new sluice.EventTimeWindows({ ...options, keys: 'string' }),
    (w, b, keys) => w.push({ timestamps: batches[b].timestamps, keys, values: batches[b].values }), freshStrings))
  rows.push(time('sluice: dense ids (Uint32Array)', () => new sluice.EventTimeWindows({ ...options, keyCount: KEYS }),
    (w, b) => w.push({ timestamps: batches[b].timestamps, keys: batches[b].dense, values: batches[b].values })))
  if (process.env.SLUICE_BENCH_BASE_DIST) {
    const base = require(path.resolve(process.env.SLUICE_BENCH_BASE_DIST))
    rows.push(time('base build: dense ids (Uint32Array)', () => new base.EventTimeWindows({ ...options, keyCount: KEYS }),
      (w, b) => w.push({ timestamps: batches[b].timestamps, keys: batches[b].dense, values: batches[b].values })))
  }
  const fired = new Set(rows.map((r) => r.fired))
  if (fired.size !== 1) throw new Error(`cases fired different numbers of windows: ${[...fired]}`)
  console.log(`\nKeyed sliding windows: ${KEYS} host keys, 60 s / 10 s, count/sum/min/max, ${EVENTS} events in order, ${[...fired][0]} windows fired (best of ${REPS}; ratio = speed vs the peer)`)
  console.log('case'.padEnd(42), 'ns/event'.padStart(9), 'M events/s'.padStart(11), 'ratio'.padStart(7))
  for (const r of rows) console.log(r.name.padEnd(42), r.ns.toFixed(1).padStart(9), (1e3 / r.ns).toFixed(1).padStart(11), `${(rows[0].ns / r.ns).toFixed(2)}x`.padStart(7))
}

function internSuite() {
  const n = quick ? 1_000_000 : 5_000_000
  // Known keys: 10,000 host names looked up again and again.
  const d = new sluice.KeyDictionary({ kind: 'bytes' })
  const ids = new Uint32Array(BATCH)
  for (const b of batches) d.intern(b.packed, ids)
  let best = Infinity
  for (let rep = 0; rep < REPS; rep++) {
    const start = now()
    let done = 0
    for (let b = 0; done < n; b = (b + 1) % batches.length) {
      d.intern(batches[b].packed, ids)
      done += batches[b].packed.offsets.length - 1
    }
    best = Math.min(best, (now() - start) / done)
  }
  // New keys: distinct 16-byte keys ("device-" + 9 digits), into an empty dictionary each time.
  const newBatches = []
  for (let s = 0; s < n; s += BATCH) {
    const bytes = new Uint8Array(BATCH * 16)
    const offsets = new Uint32Array(BATCH + 1)
    for (let i = 0; i < BATCH; i++) {
      bytes.set(Buffer.from(`device-${String(s + i).padStart(9, '0')}`), i * 16)
      offsets[i + 1] = (i + 1) * 16
    }
    newBatches.push({ bytes, offsets })
  }
  let bestNew = Infinity, firstNew = 0
  for (let rep = 0; rep < REPS; rep++) {
    const fresh = new sluice.KeyDictionary({ kind: 'bytes' })
    const start = now()
    for (const p of newBatches) fresh.intern(p, ids)
    bestNew = Math.min(bestNew, (now() - start) / n)
    if (rep === 0) firstNew = bestNew // the process's first large dictionary: its memory is all fresh
    fresh.close()
  }
  console.log(`\nInterning packed byte keys (best of ${REPS}): known keys ${(1 / best / 1e3).toFixed(1)} M keys/s (${(best * 1e6).toFixed(1)} ns/key, host names ~30 B); new keys ${(1 / bestNew / 1e3).toFixed(1)} M keys/s (${(bestNew * 1e6).toFixed(1)} ns/key, 16 B, ${n} into an empty dictionary; the first of the process ${(1 / firstNew / 1e3).toFixed(1)} M keys/s)`)
}

function memorySuite() {
  const n = quick ? 1_000_000 : 10_000_000
  const d = new sluice.KeyDictionary({ kind: 'bigint' })
  const words = new BigUint64Array(100_000)
  const ids = new Uint32Array(words.length)
  for (let s = 0; s < n; s += words.length) {
    for (let i = 0; i < words.length; i++) words[i] = BigInt(s + i) * 0x9E3779B97F4A7C15n & 0xFFFFFFFFFFFFFFFFn
    d.intern(words, ids)
  }
  const info = d.info()
  console.log(`\nMemory: ${info.size} distinct 64-bit keys in a KeyDictionary hold ${(info.memoryBytes / 2 ** 20).toFixed(0)} MiB: ${(info.memoryBytes / info.size).toFixed(1)} B/key, ${((info.memoryBytes - info.keyBytes) / info.size).toFixed(1)} B/key beyond the keys' own 8 bytes`)
  d.close()

  const keys = quick ? 200_000 : 1_000_000
  for (const [label, extra] of [['tumbling 10 s, default horizon', {}], ['tumbling 10 s, horizon 64 panes', { horizon: 630_000 }]]) {
    const w = new sluice.EventTimeWindows({ type: 'tumbling', size: 10_000, aggregates: ['count', 'sum', 'min', 'max'], keys: 'bigint', ...extra })
    const empty = w.info().memoryBytes
    for (let s = 0; s < keys; s += words.length) {
      for (let i = 0; i < words.length; i++) words[i] = BigInt(s + i) + 1n
      w.push({ timestamps: new Float64Array(words.length).fill(5), keys: words, values: new Float64Array(words.length).fill(1) })
    }
    const info = w.info()
    const dictionary = info.dictionaryBytes
    console.log(`Memory: ${keys} keys × one live window (${label}, ring ${info.ringPanes} panes): ${((info.memoryBytes - empty) / keys).toFixed(1)} B per (key, window) cell all told, of which dictionary ${(dictionary / keys).toFixed(1)} B/key and windows ${((info.memoryBytes - empty - dictionary) / keys).toFixed(1)} B/key`)
    w.close()
  }

  // The case: 200,000 dense keys (the key space growing from 64), one event each into one tumbling
  // window, horizon 64 panes, one `count`.
  {
    const n = 200_000
    const w = new sluice.EventTimeWindows({ type: 'tumbling', size: 10_000, aggregates: ['count'], horizon: 640_000 })
    const empty = w.info().memoryBytes
    const ids = new Uint32Array(words.length)
    for (let s = 0; s < n; s += ids.length) {
      for (let i = 0; i < ids.length; i++) ids[i] = s + i
      w.push({ timestamps: new Float64Array(ids.length).fill(5), keys: ids, values: new Float64Array(ids.length).fill(1) })
    }
    const info = w.info()
    console.log(`Memory: ${n} dense keys × one event in one tumbling window (horizon 64 panes, ring ${info.ringPanes}, count): ${((info.memoryBytes - empty) / 2 ** 20).toFixed(1)} MiB, ${((info.memoryBytes - empty) / n).toFixed(1)} B per key (= per cell)`)
    w.close()
  }
}

function churnSuite() {
  // Keys live for a while then go quiet for good; new ones keep arriving: 5,000 live at a time.
  const events = Number(process.env.KEYS_BENCH_CHURN_EVENTS ?? (quick ? 2_000_000 : 100_000_000))
  const live = 5_000
  const w = new sluice.EventTimeWindows({ type: 'tumbling', size: 1_000, aggregates: ['count', 'sum'], keys: 'bigint', keyTtl: 5_000 })
  const n = BATCH
  const words = new BigUint64Array(n)
  const ts = new Float64Array(n)
  const vals = new Float64Array(n).fill(1)
  let t = 0, next = 0
  const curve = []
  const start = now()
  for (let done = 0; done < events; done += n) {
    for (let i = 0; i < n; i++) {
      // Generation g of keys is live for 20 s of event time; 10 events per ms.
      t = (done + i) / 10
      const generation = Math.floor(t / 20_000)
      words[i] = BigInt(generation * live + Math.floor(random() * live))
      ts[i] = Math.floor(t)
    }
    next++
    w.push({ timestamps: ts, keys: words, values: vals })
    w.advanceWatermark(ts[n - 1] - 1)
    if (next % Math.max(1, Math.floor(events / n / 10)) === 0) {
      const m = w.metrics()
      curve.push(`${(done + n) / 1e6}M events: ${(w.info().memoryBytes / 2 ** 20).toFixed(2)} MiB, ${m.liveKeys} live, ${m.expiredKeys} expired, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`)
    }
  }
  console.log(`\nChurn: ${events} events, ${live} keys live at a time, a new generation every 20 s of event time, keyTtl 5 s (${((now() - start) * 1e6 / events).toFixed(1)} ns/event all told); memory as it runs:`)
  for (const line of curve) console.log(`  ${line}`)
  w.close()
}

const suites = (process.env.KEYS_BENCH_SUITES ?? 'windows,intern,memory,churn').split(',')
if (suites.includes('windows')) windowsSuite()
if (suites.includes('intern')) internSuite()
if (suites.includes('memory')) memorySuite()
if (suites.includes('churn')) churnSuite()
