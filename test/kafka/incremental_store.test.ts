// Incremental checkpoints (lib/kafka/incremental_store.ts) over FileStateStore: restores equal the snapshots
// put, byte for byte, over long runs of WindowProcessor (string keys expiring in the middle) and
// PipelineProcessor; broken chains are refused; prune keeps chains restorable and drops old ones; a hand-off
// between two adapters with increments in flight equals an uninterrupted run. The same store over
// KafkaStateStore is in broker.test.ts.
import fs from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { LstmModel, SluiceError } from '../../lib/index'
import {
  FileStateStore, IncrementalStateStore, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, binaryDecoder, encodeBinaryRecords,
  type PartitionProcessor, type SluiceKafkaError, type StateStore, type WindowResult,
} from '../../lib/kafka/index'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, FakeProducer, deliverInBatches, LosingConsumer, resultsOf } from '../support/fake_kafka'
import { contentHash } from '../../lib/runtime/content_chunks'
import { inserted, overwritten, truncated } from '../support/fuzz'
import { makeEvents, random } from '../support/kafka_data'
import { tempDirs } from '../support/temp_dirs'

const tempDir = tempDirs('sluice-kafka-incremental-')

/** The SluiceError `call` rejects with: its code and message. */
async function expectRejected(call: () => Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await call().then(() => undefined, (e: unknown) => e)
  expect(error).toBeInstanceOf(SluiceError)
  expect((error as SluiceError).code).toBe(code)
  expect((error as SluiceError).message).toMatch(message)
}
const CHANNELS = 2

/** Byte equality without a deep-equality walk (vitest's toEqual is slow on large typed arrays). */
function expectBytes(got: Uint8Array | undefined, want: Uint8Array): void {
  expect(got).toBeInstanceOf(Uint8Array)
  expect(got!.length).toBe(want.length)
  expect(Buffer.from(got!.buffer, got!.byteOffset, got!.length).equals(Buffer.from(want.buffer, want.byteOffset, want.length))).toBe(true)
}

/** A FileStateStore that counts the bytes put into it. */
class CountingStore extends FileStateStore {
  bytes = 0
  override async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
    this.bytes += bytes.length
    await super.put(topic, partition, offset, bytes)
  }
}

interface Batch {
  timestamps: Float64Array
  keys: Uint32Array | string[]
  values: Float64Array
}

/**
 * `count` batches of `perBatch` events, time moving forward by `step` per batch. String keys drift through
 * the key space (each batch draws from a window of `live` keys that moves `drift` keys on), so keys go idle
 * and expire under keyTtl; dense keys are drawn from all `keyCount` ids.
 */
function makeBatches(seed: number, count: number, perBatch: number, step: number, keys: { strings: true; live: number; drift: number } | { strings: false; keyCount: number }): Batch[] {
  const rnd = random(seed)
  return Array.from({ length: count }, (_, b) => {
    const timestamps = new Float64Array(perBatch)
    const values = new Float64Array(perBatch * CHANNELS)
    const ids: number[] = []
    for (let i = 0; i < perBatch; i++) {
      timestamps[i] = b * step + Math.floor((i * step) / perBatch) - Math.floor(rnd() * 20)
      ids.push(keys.strings ? b * keys.drift + Math.floor(rnd() * keys.live) : Math.floor(rnd() * keys.keyCount))
      for (let c = 0; c < CHANNELS; c++) values[i * CHANNELS + c] = Math.floor(rnd() * 1000)
    }
    return { timestamps, values, keys: keys.strings ? ids.map((k) => `sensor-${k}`) : Uint32Array.from(ids) }
  })
}

/**
 * Runs `batches` through a processor, checkpointing after each into an incremental store over `inner`
 * (and keeping each snapshot); every get() must give back the snapshot put at that offset, byte for byte.
 * At the end a processor restored from the incremental store continues exactly like the original.
 */
async function checkpointRun<R>(make: () => PartitionProcessor<R>, batches: Batch[], fullEvery: number, inner: StateStore) {
  const store = new IncrementalStateStore(inner, { fullEvery })
  const processor = make()
  const snapshots: Uint8Array[] = []
  for (let b = 0; b < batches.length - 1; b++) {
    const batch = batches[b]!
    processor.push(batch)
    processor.advanceWatermark(Math.max(...batch.timestamps) - 30)
    const bytes = processor.snapshot()
    snapshots.push(bytes)
    const offset = (b + 1) * 100
    await store.put('in', 0, offset, bytes)
    expectBytes((await store.get('in', 0, offset))?.bytes, bytes)
  }
  // A fresh store over the same records (another process) reads every checkpoint back.
  const reader = new IncrementalStateStore(inner, { fullEvery })
  for (let i = snapshots.length - 1; i >= 0; i -= 3) {
    const got = await reader.get('in', 0, (i + 1) * 100 + 50)
    expect(got?.offset).toBe((i + 1) * 100)
    expectBytes(got?.bytes, snapshots[i]!)
  }
  const restored = make()
  restored.restore((await reader.get('in', 0, Infinity))!.bytes)
  const last = batches[batches.length - 1]!
  for (const p of [processor, restored]) p.push(last)
  const watermark = Math.max(...last.timestamps) + 10_000
  const results = processor.advanceWatermark(watermark)
  expect(results.length).toBeGreaterThan(100)
  expect(restored.advanceWatermark(watermark)).toEqual(results)
  processor.close()
  restored.close()
  return { store, snapshots }
}

describe('IncrementalStateStore', () => {
  it('restores WindowProcessor snapshots byte for byte over a long run in which string keys expire (keyTtl), writing far fewer bytes than full checkpoints', async () => {
    // Checkpoints every 100 ms of event time, windows of 2 s: the panes live across many checkpoints.
    const make = () => new WindowProcessor({ type: 'tumbling', size: 2000, keys: 'string', keyTtl: 3000, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] })
    const batches = makeBatches(3, 60, 500, 100, { strings: true, live: 20000, drift: 100 })
    const inner = new CountingStore(tempDir())
    const { store, snapshots } = await checkpointRun(make, batches, 8, inner)
    // Keys did expire in the middle of the run: a processor fed the whole run holds fewer than it saw.
    const probe = make()
    for (const batch of batches.slice(0, -1)) {
      probe.push(batch)
      probe.advanceWatermark(Math.max(...batch.timestamps) - 30)
    }
    expect(probe.windows.metrics().expiredKeys).toBeGreaterThan(2000)
    probe.close()
    const stats = store.stats()
    expect(stats).toMatchObject({ fullPuts: 8, incrementalPuts: 51 })
    expect(stats.snapshotBytes).toBe(snapshots.reduce((sum, s) => sum + s.length, 0))
    expect(stats.storedBytes).toBe(inner.bytes)
    expect(Math.min(...snapshots.map((s) => s.length))).toBeGreaterThan(32 * 1024) // dozens of chunks each
    // Each increment repeats only part of the state (the chunks that changed), not all of it.
    expect(stats.storedBytes).toBeLessThan(0.75 * stats.snapshotBytes)
  })

  it('restores PipelineProcessor snapshots (windows, forward fill, scaler, LSTM state, z-scores) byte for byte over a long run', async () => {
    const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 16, outputSize: CHANNELS, seed: 5 })
    const make = () => new PipelineProcessor({ keyCount: 4000, channels: CHANNELS, window: { size: 200 }, bound: 30, maxFill: 3, forecaster: { model, steps: 3 }, anomaly: { window: 6, warmup: 3, threshold: 1.5 } })
    const batches = makeBatches(4, 30, 400, 100, { strings: false, keyCount: 4000 })
    const inner = new CountingStore(tempDir())
    const { store, snapshots } = await checkpointRun(make, batches, 6, inner)
    expect(store.stats()).toMatchObject({ fullPuts: 5, incrementalPuts: 24 })
    expect(Math.min(...snapshots.map((s) => s.length))).toBeGreaterThan(32 * 1024)
    // 400 of 4000 keys touched per batch: some chunks repeat from one checkpoint to the next.
    expect(store.stats().storedBytes).toBeLessThan(store.stats().snapshotBytes)
  })

  it('refuses a chain with a corrupted byte, a missing record or a missing chunk (ERR_MALFORMED_DATA), restoring nothing', async () => {
    const rnd = random(9)
    const snapshot = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256))
    const base = snapshot(200_000)
    const edited = base.slice()
    edited.fill(7, 100_000, 100_050)
    const setupChain = async () => {
      const dir = tempDir()
      const store = new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 4 })
      await store.put('in', 0, 10, base)
      await store.put('in', 0, 20, edited)
      await store.put('in', 0, 30, base)
      const file = async (offset: number) => path.join(dir, (await fs.readdir(dir)).find((n) => n.includes(`.${String(offset).padStart(16, '0')}.`))!)
      return { dir, store, file }
    }
    {
      const { store, file } = await setupChain()
      expectBytes((await store.get('in', 0, 30))?.bytes, base)
      // A byte of a chunk that record 20 stores (the edited part): the snapshot at 20 is refused; the one at
      // 30, whose chunks all sit in the full record at 10, is still read right.
      const record = await fs.readFile(await file(20))
      record[record.length - 100]! ^= 1
      await fs.writeFile(await file(20), record)
      await expectRejected(() => new IncrementalStateStore(store.inner).get('in', 0, 25), 'ERR_MALFORMED_DATA', /offset 20 fails its checksum/)
      expectBytes((await new IncrementalStateStore(store.inner).get('in', 0, 30))?.bytes, base)
      // A byte of record 20's manifest: every snapshot whose chain runs through it is refused.
      record[record.length - 100]! ^= 1
      record[70]! ^= 1
      await fs.writeFile(await file(20), record)
      await expectRejected(() => new IncrementalStateStore(store.inner).get('in', 0, 30), 'ERR_MALFORMED_DATA', /record checksum mismatch/)
      expectBytes((await new IncrementalStateStore(store.inner).get('in', 0, 15))?.bytes, base)
    }
    {
      const { store, file } = await setupChain()
      await fs.rm(await file(20))
      await expectRejected(() => new IncrementalStateStore(store.inner).get('in', 0, 30), 'ERR_MALFORMED_DATA', /offset 20, .* is missing/)
    }
    {
      // Every record intact, but the full one at 10 replaced by a full record of other bytes: the chunks the
      // increments rely on are gone.
      const { dir, store, file } = await setupChain()
      const other = tempDir()
      await new IncrementalStateStore(new FileStateStore(other)).put('in', 0, 10, snapshot(200_000))
      await fs.copyFile(path.join(other, (await fs.readdir(other))[0]!), await file(10))
      await expectRejected(() => new IncrementalStateStore(new FileStateStore(dir)).get('in', 0, 20), 'ERR_MALFORMED_DATA', /chunk \d+ .* is missing/)
      await expectRejected(() => store.get('in', 0, 30), 'ERR_MALFORMED_DATA', /is missing/)
    }
  })

  it('fuzz: damaged records (truncated, overwritten, bytes inserted, and manifests damaged under a recomputed checksum) restore the exact snapshot or throw SluiceError, nothing else', async () => {
    /** Records in memory, so each trial damages one of them in place. */
    class MemoryStore implements StateStore {
      readonly records = new Map<number, Uint8Array>()
      async put(_t: string, _p: number, offset: number, bytes: Uint8Array) {
        this.records.set(offset, bytes)
      }
      async get(_t: string, _p: number, atOrBefore: number) {
        const offset = Math.max(-1, ...[...this.records.keys()].filter((o) => o <= atOrBefore))
        return offset < 0 ? undefined : { offset, bytes: this.records.get(offset)! }
      }
      async prune() {}
    }
    const rnd = random(31)
    const snapshots = [Uint8Array.from({ length: 20_000 }, () => Math.floor(rnd() * 256))]
    for (let i = 1; i < 3; i++) {
      const next = snapshots[i - 1]!.slice()
      next.fill(i, 3_000 * i, 3_000 * i + 500)
      snapshots.push(next)
    }
    const memory = new MemoryStore()
    const writer = new IncrementalStateStore(memory, { fullEvery: 8, chunkSizes: { minSize: 64, averageSize: 256, maxSize: 1024 } })
    for (let i = 0; i < 3; i++) await writer.put('in', 0, (i + 1) * 10, snapshots[i]!)
    const valid = new Map(memory.records)
    /** A record's manifest checksum recomputed after damage, so the parser reads past it (when its counts still fit). */
    const resealed = (bytes: Uint8Array) => {
      if (bytes.length < 64) return bytes
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
      const end = 64 + view.getUint32(56, true) * 20 + view.getUint32(60, true) * 4
      if (end + 16 <= bytes.length) bytes.set(contentHash(bytes.subarray(0, end)), end)
      return bytes
    }
    const damages = [
      (b: Uint8Array) => truncated(b, rnd),
      (b: Uint8Array) => overwritten(b, rnd, 4),
      (b: Uint8Array) => inserted(b, rnd, 8),
      (b: Uint8Array) => resealed(overwritten(b, rnd, 3)),
      (b: Uint8Array) => {
        // A byte of the header or manifest (not chunk data), under a recomputed checksum.
        const view = new DataView(b.buffer, b.byteOffset, b.length)
        const end = 64 + view.getUint32(56, true) * 20 + view.getUint32(60, true) * 4
        b[Math.floor(rnd() * end)] = Math.floor(rnd() * 256)
        return resealed(b)
      },
    ]
    const codes = new Map<string, number>()
    let restored = 0
    for (let trial = 0; trial < 600; trial++) {
      const offset = (1 + (trial % 3)) * 10
      memory.records.clear()
      for (const [o, bytes] of valid) memory.records.set(o, o === offset ? damages[Math.floor(trial / 3) % damages.length]!(bytes.slice()) : bytes)
      try {
        const got = await new IncrementalStateStore(memory).get('in', 0, 30)
        expectBytes(got?.bytes, snapshots[2]!) // whatever it returns is the snapshot put
        restored++
      } catch (error) {
        if (!(error instanceof SluiceError)) throw new Error(`trial ${trial} threw ${String(error)}\n${(error as Error).stack}`)
        codes.set(error.code, (codes.get(error.code) ?? 0) + 1)
      }
    }
    console.log(`incremental records: ${restored} of 600 damaged chains still restored (exactly); errors by code ${JSON.stringify(Object.fromEntries(codes))}`)
    // Damage the restore does not read (chunk bytes no newer snapshot uses) leaves it intact; all else is refused.
    expect(restored).toBeGreaterThan(0)
    expect(codes.get('ERR_MALFORMED_DATA') ?? 0).toBeGreaterThan(300)
    expect([...codes.keys()].every((code) => code === 'ERR_MALFORMED_DATA' || code === 'ERR_NOT_SUPPORTED')).toBe(true)
  })

  it('prune, called as the adapter does (below the previous checkpoint), keeps every chain a restore can need and drops each old chain once a newer full exists', async () => {
    const dir = tempDir()
    const store = new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 3 })
    const rnd = random(12)
    let state = Uint8Array.from({ length: 100_000 }, () => Math.floor(rnd() * 256))
    let previous = -1
    for (let i = 1; i <= 10; i++) {
      state = state.slice()
      state.fill(i, Math.floor(rnd() * 90_000), Math.floor(rnd() * 90_000) + 2_000)
      const offset = i * 10
      await store.put('in', 0, offset, state)
      if (previous >= 0) await store.prune('in', 0, previous)
      // A restore at the previous checkpoint or this one works from a fresh store.
      if (previous >= 0) expect((await new IncrementalStateStore(store.inner).get('in', 0, previous))!.offset).toBe(previous)
      expectBytes((await new IncrementalStateStore(store.inner).get('in', 0, offset))?.bytes, state)
      previous = offset
    }
    // Fulls at 10, 40, 70, 100; after prune(90) the chain of 90 (from 70) and the full at 100 remain.
    const offsets = (await fs.readdir(dir)).map((n) => Number(n.split('.')[2])).sort((a, b) => a - b)
    expect(offsets).toEqual([70, 80, 90, 100])
  })

  it('a second checkpoint at the same offset replaces the record there and links to the one before it', async () => {
    const store = new IncrementalStateStore(new FileStateStore(tempDir()), { fullEvery: 8 })
    const rnd = random(2)
    const a = Uint8Array.from({ length: 50_000 }, () => Math.floor(rnd() * 256))
    const b = a.slice()
    b[40_000]! ^= 1
    const c = b.slice()
    c[1_000]! ^= 1
    await store.put('in', 0, 10, a)
    await store.put('in', 0, 20, b)
    await store.put('in', 0, 20, c)
    await store.put('in', 0, 30, a)
    const fresh = new IncrementalStateStore(store.inner)
    expectBytes((await fresh.get('in', 0, 20))?.bytes, c)
    expectBytes((await fresh.get('in', 0, 30))?.bytes, a)
    expect(store.stats()).toMatchObject({ fullPuts: 1, incrementalPuts: 3 })
  })

  it('reads snapshots that a plain store wrote before the switch as they are', async () => {
    const inner = new FileStateStore(tempDir())
    await inner.put('in', 0, 5, Uint8Array.of(1, 2, 3))
    const store = new IncrementalStateStore(inner)
    expect(await store.get('in', 0, 9)).toEqual({ offset: 5, bytes: Uint8Array.of(1, 2, 3) })
    await store.put('in', 0, 9, Uint8Array.of(4))
    await store.prune('in', 0, 9)
    expect(await store.get('in', 0, 100)).toEqual({ offset: 9, bytes: Uint8Array.of(4) })
    expect(await inner.get('in', 0, 8)).toBeUndefined()
  })

  it('checks its options', () => {
    const inner = new FileStateStore(tempDir())
    expectSluiceError(() => new IncrementalStateStore({} as StateStore), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new IncrementalStateStore(inner, { fullEvery: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new IncrementalStateStore(inner, { fullEvery: 1.5 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new IncrementalStateStore(inner, { fullEvery: '2' as unknown as number }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new IncrementalStateStore(inner, { chunkSizes: { averageSize: 3000 } }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new IncrementalStateStore(inner, { chunkSizes: { minSize: 8, averageSize: 64, maxSize: 128 } }), 'ERR_OUT_OF_RANGE')
  })
})

describe('KafkaConsumerAdapter with incremental checkpoints', () => {
  const KEYS = 3000
  const events = makeEvents(21, 3000, 0, 2, 30, KEYS, CHANNELS)
  const messages = events.timestamps.map((_, i) => ({ offset: i, value: encodeBinaryRecords([events.timestamps[i]!], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))

  function setup(store: StateStore, consumer = new FakeConsumer('in'), onError: (error: SluiceKafkaError) => void = () => undefined) {
    const producer = new FakeProducer(consumer.log)
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer, decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: 100, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }),
      stateStore: store, outputTopic: 'out', keyCount: KEYS, bound: 30, checkpointInterval: 0, onError,
    })
    return { adapter, consumer, producer }
  }

  it('hands a partition over with increments in flight (stored, not committed): the next consumer resumes from the committed chain; results equal an uninterrupted run', async () => {
    const reference = setup(new FileStateStore(tempDir()))
    await reference.adapter.run()
    await deliverInBatches(reference.consumer, 0, messages, [150])
    const expected = resultsOf(reference.producer)
    expect(expected.size).toBeGreaterThan(1000)

    const dir = tempDir()
    // The first consumer checkpoints after every batch of 150; from its 6th commit on the group has moved the
    // partition away: its records at 900..1500 are in the store but their offsets were never committed.
    const firstStore = new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 4 })
    const first = setup(firstStore, new LosingConsumer(6))
    await first.adapter.run()
    await deliverInBatches(first.consumer, 0, messages.slice(0, 1500), [150])
    expect(first.consumer.log.filter((l) => l.startsWith('commit')).at(-1)).toBe('commit 0@750')
    // The second resumes at the committed 750 (the record there is an increment on the full at 600) and goes on with increments of its own.
    const secondStore = new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 4 })
    const second = setup(secondStore)
    await second.adapter.run()
    await deliverInBatches(second.consumer, 0, messages.slice(750, 2200), [150, 70])
    expect(second.adapter.metrics().restores).toBe(1)
    expect(secondStore.stats().incrementalPuts).toBeGreaterThan(secondStore.stats().fullPuts)
    // Then the partition comes back to the first consumer's store at the second's last commit (the chain it knows is stale).
    const back = setup(firstStore)
    await back.adapter.run()
    const resume = Number(second.consumer.log.filter((l) => l.startsWith('commit')).at(-1)!.split('@')[1])
    await deliverInBatches(back.consumer, 0, messages.slice(resume), [150])
    expect(back.adapter.metrics().restores).toBe(1)
    expect(resultsOf(first.producer, second.producer, back.producer)).toEqual(expected)
  })

  it('a chain it cannot read (its full record gone) is reported as a bad snapshot and the partition starts empty; a store that fails otherwise fails the batch', async () => {
    const dir = tempDir()
    const first = setup(new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 4 }))
    await first.adapter.run()
    await deliverInBatches(first.consumer, 0, messages.slice(0, 600), [150])
    // Records at 150 (full), 300, 450 and 600 (increments on it): remove the full one.
    const names = (await fs.readdir(dir)).sort()
    expect(names.map((n) => Number(n.split('.')[2]))).toEqual([150, 300, 450, 600])
    await fs.rm(path.join(dir, names[0]!))

    const errors: SluiceKafkaError[] = []
    const second = setup(new IncrementalStateStore(new FileStateStore(dir), { fullEvery: 4 }), new FakeConsumer('in'), (e) => errors.push(e))
    await second.adapter.run()
    await deliverInBatches(second.consumer, 0, messages.slice(600, 900), [150])
    expect(errors.map((e) => [e.kind, e.code, e.offset])).toEqual([['snapshot', 'ERR_MALFORMED_DATA', 600]])
    expect(second.adapter.metrics()).toMatchObject({ restores: 0, events: 300 })

    const unreachable: StateStore = {
      put: async () => undefined,
      get: async () => { throw new Error('connect ECONNREFUSED') },
      prune: async () => undefined,
    }
    const third = setup(unreachable)
    await third.adapter.run()
    await expect(third.consumer.deliver(0, messages.slice(600, 750))).rejects.toThrow('ECONNREFUSED')
    expect(third.adapter.metrics().events).toBe(0)
  })
})
