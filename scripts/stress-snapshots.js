#!/usr/bin/env node
// Semantic snapshot fuzzer (issue 16): snapshots with a valid checksum whose fields were edited. For every
// class with snapshot()/restore() it builds an object, runs it a random while, takes its snapshot, edits 1–3
// fields (a value of 1, 2, 4 or 8 bytes at a random payload offset: boundary integers and doubles, NaN,
// ±Infinity, 2^53 ± 1, huge, random), reseals the checksum and restores the bytes into a fresh object.
// Every restore must succeed or throw a SluiceError; a restored object must then work: its own calls (push,
// advance, step, process, snapshot and a second restore) give a result or a SluiceError, never another error,
// a crash or a hang. Run it in its own process (a crash is the process's death):
//   node scripts/stress-snapshots.js [casesPerClass=15000] [seed=1]
// Prints one line per class (cases, accepted mutants, refusals by code, the slowest case) and exits 1 on
// any other outcome (FUZZ_VERBOSE=1 also prints why each restored object that then failed a call failed).
// test/runtime/snapshot_fuzz.test.ts runs a smaller set through fuzzSnapshots().
'use strict'
const path = require('node:path')
const { crc32 } = require('node:zlib')

const sluice = require(path.join(__dirname, '..', 'dist'))
const { openSnapshot, sealSnapshot } = require(path.join(__dirname, '..', 'dist', 'runtime', 'snapshot_envelope'))
const { SluiceError } = sluice

const HEADER = 16 // the envelope's magic, version, kind and payload length
const TRAILER = 4 // CRC-32

/** A small deterministic generator (mulberry32), so a failing case can be replayed from its seed. */
function generator(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n) => Math.floor(next() * n), pick: (list) => list[Math.floor(next() * list.length)] }
}

const DOUBLES = [0, -0, 1, -1, 0.5, 2, 255, 1e6, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 62, 2 ** 64,
  -(2 ** 53), 6.6e132, -1e300, 1e308, Number.MIN_VALUE, NaN, Infinity, -Infinity]
const INTS64 = [0n, 1n, -1n, 2n ** 31n, 2n ** 32n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 62n)]
const INTS32 = [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffff0, 65536]
const FLOATS = [0, -0, 1, -1, 1.5, -2, 1e30, NaN, Infinity, -Infinity]

/** `bytes` with 1–3 fields of its payload overwritten, resealed with a valid checksum. */
function mutate(bytes, random) {
  const copy = Uint8Array.from(bytes)
  const view = new DataView(copy.buffer)
  const end = copy.length - TRAILER
  const edits = 1 + random.int(3)
  for (let e = 0; e < edits; e++) {
    const width = random.pick([1, 2, 4, 4, 8, 8, 8])
    if (end - HEADER < width) continue
    let at = HEADER + random.int(end - HEADER - width + 1)
    if (random.next() < 0.5) at = HEADER + Math.floor((at - HEADER) / width) * width // aligned to the payload
    switch (width) {
      case 1: view.setUint8(at, random.pick([0, 1, 2, 3, 255, random.int(256)])); break
      case 2: view.setUint16(at, random.pick([0, 1, 0xffff, random.int(65536)]), true); break
      case 4:
        if (random.next() < 0.5) view.setUint32(at, random.pick([...INTS32, random.int(2 ** 32)]), true)
        else view.setFloat32(at, random.pick(FLOATS), true)
        break
      default:
        if (random.next() < 0.5) view.setBigInt64(at, random.pick([...INTS64, BigInt(random.int(2 ** 31)) * 2n ** 20n]), true)
        else view.setFloat64(at, random.pick([...DOUBLES, (random.next() - 0.5) * 10 ** random.int(20)]), true)
    }
  }
  view.setUint32(end, crc32(copy.subarray(0, end)), true)
  return copy
}

/** A value to push: mostly in [0, 10), now and then an extreme one (a live state must restore, whatever it saw). */
function value(random) {
  return random.next() < 0.02 ? random.pick([1e300, -1e300, 1e200, Infinity, -Infinity, 3e38]) : random.next() * 10
}

const model = sluice.LstmModel.create({ inputSize: 2, hiddenSize: 5, layers: 2, outputSize: 2, seed: 3 })
const pipelineModel = sluice.LstmModel.create({ inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 4 })

/**
 * The fuzzed classes: make() a fresh object; run(object, random, t) advances it through its API (used to
 * build the state before the snapshot and, on a restored object, to show that it works).
 */
/** A count window's run: 1 to 30 rows of two channels, a tenth of the values NaN. */
function pushRows(window, random) {
  window.push(Float64Array.from({ length: 2 * (1 + random.int(30)) }, () => (random.next() < 0.1 ? NaN : value(random))))
}

/**
 * An event-time run: 1 to 20 events around the clock (some late), keys drawn by `key` into a column made by
 * `Column.from` (Uint32Array ids, or Array for string keys), `channels` values each; the clock moves on and,
 * six times in ten, the watermark follows it.
 */
function pushEvents(windows, random, clock, Column, key, channels) {
  const n = 1 + random.int(20)
  const timestamps = Float64Array.from({ length: n }, () => clock.t + random.int(40) - 20)
  const keys = Column.from({ length: n }, key)
  windows.push({ timestamps, keys, values: Float64Array.from({ length: channels * n }, () => value(random)) })
  clock.t += random.int(30)
  if (random.next() < 0.6) windows.advance(clock.t - 25)
}

const CLASSES = {
  'sliding-window': {
    make: () => new sluice.SlidingWindow({ size: 12, slide: 3, channels: 2, aggregates: ['count', 'sum', 'mean', 'min', 'max', 'var', 'first', 'last'] }),
    run: pushRows,
  },
  'sliding-window (quantiles)': {
    make: () => new sluice.SlidingWindow({ size: 12, slide: 1, channels: 2, aggregates: ['p50', 'max'], quantiles: [0.25, 0.9] }),
    run: pushRows,
  },
  ...Object.fromEntries(['tumbling', 'sliding', 'session'].map((type) => [`event-time-windows (${type})`, {
    make: () => new sluice.EventTimeWindows({ type, size: 20, slide: type === 'sliding' ? 5 : undefined, gap: 15, allowedLateness: 10, horizon: type === 'session' ? undefined : 400, keyCount: 4, channels: 2,
      aggregates: ['count', 'sum', 'min', 'max', 'first', 'last'] }),
    run: (windows, random, clock) => pushEvents(windows, random, clock, Uint32Array, () => random.int(4), 2),
  }])),
  // Sketch aggregates: the snapshot carries a DDSketch and a HyperLogLog per cell and channel (their section).
  ...Object.fromEntries(['sliding', 'session'].map((type) => [`event-time-windows (${type}, sketches)`, {
    make: () => new sluice.EventTimeWindows({ type, size: 20, slide: type === 'sliding' ? 5 : undefined, gap: 15, allowedLateness: 10, horizon: type === 'session' ? undefined : 400, keyCount: 4, channels: 2,
      aggregates: ['count', 'p50', 'distinct'], quantiles: [0.9], accuracy: 0.05, distinctPrecision: 4 }),
    run: (windows, random, clock) => pushEvents(windows, random, clock, Uint32Array, () => random.int(4), 2),
  }])),
  // Interned keys: the snapshot carries the key dictionary (and its free ids after expiry).
  ...Object.fromEntries(['sliding', 'session'].map((type) => [`event-time-windows (${type}, string keys, keyTtl)`, {
    make: () => new sluice.EventTimeWindows({ type, size: 20, slide: type === 'sliding' ? 5 : undefined, gap: 15, allowedLateness: 10, keys: 'string', keyTtl: 60, maxKeys: 12,
      aggregates: ['count', 'max'] }),
    run(windows, random, clock) {
      pushEvents(windows, random, clock, Array, () => random.pick(['', 'a', 'host-7', 'ключ', '🔑', 'b'.repeat(40), 'c', 'd']), 1)
      if (random.next() < 0.1) windows.expire([random.pick(['a', 'c', 'zz'])])
    },
  }])),
  // Incremental checkpoints: a delta (the keys changed since a full snapshot) mutated and applied to an object
  // restored from that snapshot; a refused delta must leave it exactly as it was.
  ...Object.fromEntries([['tumbling', false], ['sliding', false], ['session', false], ['sliding', true], ['session', true]].map(([type, strings]) => [
    `event-time-windows delta (${type}${strings ? ', string keys, keyTtl' : ''})`, {
      delta: true,
      make: () => new sluice.EventTimeWindows({ type, size: 20, slide: type === 'sliding' ? 5 : undefined, gap: 15, allowedLateness: 10,
        ...(strings ? { keys: 'string', keyTtl: 60, maxKeys: 12 } : { horizon: type === 'session' ? undefined : 400, keyCount: 4, maxKeys: 64 }),
        channels: 2, aggregates: ['count', 'sum', 'min', 'max', 'first', 'last'] }),
      run(windows, random, clock) {
        if (!strings) return pushEvents(windows, random, clock, Uint32Array, () => random.int(8), 2)
        pushEvents(windows, random, clock, Array, () => random.pick(['', 'a', 'host-7', 'ключ', '🔑', 'b'.repeat(40), 'c', 'd']), 2)
        if (random.next() < 0.1) windows.expire([random.pick(['a', 'c', 'zz'])])
      },
    }])),
  'watermark-tracker': {
    make: () => new sluice.WatermarkTracker({ inputs: 3, bound: 5, idleTimeout: 50, clock: () => 0 }),
    run(tracker, random, clock) {
      clock.t += random.int(20)
      const input = random.int(3)
      if (random.next() < 0.15) tracker.markIdle(input)
      else tracker.observe(input, Float64Array.from({ length: 1 + random.int(5) }, () => clock.t + random.int(30)), clock.t)
    },
  },
  'lstm-state': {
    make: () => model.createState({ capacity: 4 }),
    run(state, random) {
      if (random.next() < 0.1) return state.reset(Uint32Array.of(random.int(4)))
      const keys = Uint32Array.of(0, 1 + random.int(3))
      state.step(keys, Float32Array.from({ length: 4 }, () => (random.next() < 0.02 ? random.pick([Infinity, -Infinity, 1e30]) : random.next() * 4 - 2)))
    },
  },
  ...Object.fromEntries(['window', 'state'].map((mode) => [`pipeline (${mode})`, {
    make: () => new sluice.Pipeline({ inputs: 2, keyCount: 3, channels: 1, window: { size: 10, horizon: 200 }, bound: 5, clock: () => 0,
      forecaster: { model: pipelineModel, mode, steps: 3 }, anomaly: { window: 6, warmup: 3, threshold: 2 } }),
    run(pipeline, random, clock) {
      const n = 1 + random.int(12)
      const timestamps = Float64Array.from({ length: n }, () => clock.t + random.int(30))
      clock.t += random.int(25)
      pipeline.process({ input: random.int(2), timestamps, keys: Uint32Array.from({ length: n }, () => random.int(3)),
        values: Float64Array.from({ length: n }, () => (random.next() < 0.1 ? NaN : value(random) / 2)), now: 0 })
      if (random.next() < 0.3) pipeline.advanceTo(clock.t - 20)
    },
  }])),
  // A keyed pipeline: the key space inside the pipeline's snapshot (windows' KEYS section, per-key arrays at
  // the capacity of the moment); the inner snapshot is mutated and both envelopes sealed again.
  'pipeline (state, string keys, keyTtl)': {
    make: () => new sluice.Pipeline({ keys: 'string', keyCount: 2, maxKeys: 12, keyTtl: 40, channels: 1, window: { size: 10, horizon: 200 }, bound: 5, clock: () => 0,
      forecaster: { model: pipelineModel, mode: 'state' }, anomaly: { window: 6, warmup: 3, threshold: 2 } }),
    mutate: (bytes, random) => sealSnapshot('keyed-pipeline', mutate(openSnapshot(bytes, 'keyed-pipeline'), random)),
    run(pipeline, random, clock) {
      const n = 1 + random.int(12)
      const timestamps = Float64Array.from({ length: n }, () => clock.t + random.int(30))
      clock.t += random.int(25)
      pipeline.process({ timestamps, keys: Array.from({ length: n }, () => random.pick(['', 'a', 'host-7', 'ключ', '🔑', 'b'.repeat(40), 'c', 'd'])),
        values: Float64Array.from({ length: n }, () => (random.next() < 0.1 ? NaN : value(random) / 2)), now: 0 })
      if (random.next() < 0.1) pipeline.expire([random.pick(['a', 'c', 'zz'])])
      if (random.next() < 0.3) pipeline.advanceTo(clock.t - 20)
    },
  },
}

/** Runs `fn`; 'ok', or the SluiceError's code; rethrows anything else (the fuzzer's failure). */
let lastError = null
function outcome(fn) {
  try {
    fn()
    return 'ok'
  } catch (error) {
    lastError = error
    if (error instanceof SluiceError) return error.code
    throw error
  }
}

/**
 * `cases` mutated snapshots of each class (or of `only`); returns per class { cases, accepted, refused: {code:
 * count}, workedAfter, failedAfter: {code: count}, slowestMs }. Throws on the first outcome that is neither a
 * result nor a SluiceError, naming the class, case and seed.
 */
function fuzzSnapshots({ cases = 15000, seed = 1, only } = {}) {
  const report = {}
  for (const [name, spec] of Object.entries(CLASSES)) {
    if (only && !only.includes(name)) continue
    const random = generator(seed * 7919 + name.length * 104729 + name.charCodeAt(name.length - 2))
    const stats = { cases: 0, accepted: 0, refused: {}, workedAfter: 0, failedAfter: {}, slowestMs: 0 }
    // A handful of source objects at different points of their life, each snapshot mutated many times.
    const sources = []
    for (let s = 0; s < 8; s++) {
      const object = spec.make()
      const clock = { t: 1000 }
      const steps = random.int(60)
      for (let i = 0; i < steps; i++) outcome(() => spec.run(object, random, clock))
      const bytes = object.snapshot()
      let delta
      if (spec.delta) {
        for (let i = 1 + random.int(8); i > 0; i--) outcome(() => spec.run(object, random, clock))
        delta = object.snapshotDelta()
      }
      sources.push({ bytes, delta, clock })
      object.close()
    }
    const target = spec.make()
    for (let c = 0; c < cases; c++) {
      const source = sources[c % sources.length]
      const bytes = (spec.mutate ?? mutate)(spec.delta ? source.delta : source.bytes, random)
      const started = performance.now()
      try {
        let restored
        if (spec.delta) {
          target.restore(source.bytes)
          restored = outcome(() => target.applyDelta(bytes))
          // All or nothing: a refused delta left the state as the snapshot it was restored from.
          if (restored !== 'ok' && !Buffer.from(target.snapshot()).equals(Buffer.from(source.bytes))) throw new Error(`a refused delta (${restored}) changed the state`)
        } else {
          restored = outcome(() => target.restore(bytes))
        }
        stats.cases++
        if (restored !== 'ok') {
          stats.refused[restored] = (stats.refused[restored] || 0) + 1
        } else {
          stats.accepted++
          // The restored object works: a few of its own calls, then its snapshot restores again.
          const clock = { t: source.clock.t }
          let failed = null
          for (let i = 0; i < 3 && !failed; i++) {
            const result = outcome(() => spec.run(target, random, clock))
            if (result !== 'ok') failed = result
          }
          if (!failed) {
            const again = outcome(() => target.restore(target.snapshot()))
            if (again !== 'ok') failed = again
          }
          if (failed && process.env.FUZZ_VERBOSE) console.error(name, c, lastError && lastError.message)
          if (failed) stats.failedAfter[failed] = (stats.failedAfter[failed] || 0) + 1
          else stats.workedAfter++
          target.restore(source.bytes) // back to a known state for the next case
        }
      } catch (error) {
        error.message = `${name}, case ${c} (seed ${seed}): ${error.message}`
        throw error
      }
      stats.slowestMs = Math.max(stats.slowestMs, performance.now() - started)
    }
    target.close()
    report[name] = stats
  }
  return report
}

module.exports = { fuzzSnapshots, mutate, CLASSES }

if (require.main === module) {
  const cases = Number(process.argv[2] ?? 15000)
  const seed = Number(process.argv[3] ?? 1)
  const started = performance.now()
  let total = 0
  try {
    const report = fuzzSnapshots({ cases, seed })
    for (const [name, s] of Object.entries(report)) {
      total += s.cases
      console.log(`${name}: ${s.cases} cases, ${s.accepted} accepted (${s.workedAfter} then worked, failed after: ${JSON.stringify(s.failedAfter)}), ` +
        `refused ${JSON.stringify(s.refused)}, slowest ${s.slowestMs.toFixed(1)} ms`)
    }
  } catch (error) {
    console.error(error)
    process.exit(1)
  }
  console.log(`${total} cases in ${((performance.now() - started) / 1000).toFixed(1)} s: every one a result or a SluiceError`)
}
