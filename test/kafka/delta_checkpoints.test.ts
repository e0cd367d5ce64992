// Incremental checkpoints through the adapter (`fullEvery`, WindowProcessor's snapshotDelta / applyDelta):
// the records it writes restore, full + deltas in order, byte for byte the state that full checkpoints of the
// same run hold, at every checkpoint, over a run in which string keys expire (keyTtl); a hand-off with deltas
// stored but not committed resumes from the committed chain and gives the results of an uninterrupted run;
// a chain with a record missing or corrupted is reported and the partition starts empty; prune keeps every
// chain a restore of the last commits needs. (Over KafkaStateStore: broker.test.ts.)
import fs from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  FileStateStore, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, decodePartitionSnapshot, jsonDecoder,
  type PartitionProcessor, type SluiceKafkaError, type StateStore, type StoredSnapshot, type WindowResult,
} from '../../lib/kafka/index'
import { LstmModel } from '../../lib/index'
import { openSnapshot } from '../../lib/runtime/snapshot_envelope'
import { FakeConsumer, FakeProducer, deliverInBatches, LosingConsumer, resultsOf } from '../support/fake_kafka'
import { random } from '../support/kafka_data'
import { tempDirs } from '../support/temp_dirs'

const tempDir = tempDirs('sluice-kafka-delta-')
const CHANNELS = 2
const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 6, outputSize: CHANNELS, seed: 4 })
/** A keyed Pipeline with an LSTM state step, residual z-scores and keyTtl expiry. */
const makePipelineProcessor = () => new PipelineProcessor({
  keys: 'string', keyTtl: 1000, channels: CHANNELS, window: { size: 2000 }, maxFill: 3,
  forecaster: { model, mode: 'state' }, anomaly: { window: 6, warmup: 3, threshold: 1.5 },
})
const makeProcessor = () => new WindowProcessor({ type: 'tumbling', size: 2000, keys: 'string', keyTtl: 1000, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] })

/** A FileStateStore that also keeps every record ever put (prune does not touch that copy). */
class RecordingStore extends FileStateStore {
  readonly puts = new Map<number, Uint8Array>()
  bytes = 0
  override async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
    this.puts.set(offset, bytes.slice())
    this.bytes += bytes.length
    await super.put(topic, partition, offset, bytes)
  }
}

/** Messages with string keys from a band of keys that drifts, so keys go idle and expire; some events late. */
function makeMessages(seed: number, count: number, keys: number) {
  const rnd = random(seed)
  return Array.from({ length: count }, (_, i) => {
    const t = i * 2 - Math.floor(rnd() * 40)
    const key = `host-${(i + Math.floor(rnd() * 300)) % keys}`
    return { offset: i, value: Buffer.from(JSON.stringify({ timestamp: t, key, values: [Math.floor(rnd() * 100), Math.floor(rnd() * 100)] })) }
  })
}

function setup(store: StateStore, fullEvery: number, consumer = new FakeConsumer('in'), onError: (error: SluiceKafkaError) => void = () => undefined,
  processor: () => PartitionProcessor<unknown> = makeProcessor) {
  const producer = new FakeProducer(consumer.log)
  const adapter = new KafkaConsumerAdapter<unknown>({
    consumer, producer, decoder: jsonDecoder({ channels: CHANNELS, keys: 'string' }), processor,
    stateStore: store, outputTopic: 'out', bound: 30, checkpointInterval: 0, fullEvery, onError,
  })
  return { adapter, consumer, producer }
}

/** The processor bytes of the chain ending at `offset` (full first), following the delta links through `get`. */
async function chainAt(get: (offset: number) => Promise<StoredSnapshot | undefined>, offset: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (let at: number | undefined = offset; at !== undefined; ) {
    const record = await get(at)
    expect(record?.offset).toBe(at)
    const { header, processorBytes } = decodePartitionSnapshot(record!.bytes)
    out.unshift(processorBytes)
    at = header.delta?.previous
  }
  return out
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))
}

/**
 * A keyed PipelineProcessor's state without the time it spent (busyMs and the latencies, which differ from run
 * to run): the native payload, with those four counters zeroed. Payload: the shape (48 bytes), the feature
 * codes (u64 count, bytes), the counters (12 f64, the last four times), then the state.
 */
function pipelineState(bytes: Uint8Array): Uint8Array {
  const body = openSnapshot(openSnapshot(bytes, 'keyed-pipeline'), 'pipeline').slice()
  const features = Number(new DataView(body.buffer, body.byteOffset + 48, 8).getBigUint64(0, true))
  const times = 48 + 8 + features + 8 * 8
  return body.fill(0, times, times + 4 * 8)
}

describe('KafkaConsumerAdapter with fullEvery (deltas per changed key)', () => {
  const messages = makeMessages(3, 4000, 3000)

  it('full + deltas restore byte for byte what full checkpoints of the same run restore, at every checkpoint, with keys expiring', async () => {
    const fullStore = new RecordingStore(tempDir())
    const deltaStore = new RecordingStore(tempDir())
    const full = setup(fullStore, 1)
    const delta = setup(deltaStore, 6)
    for (const run of [full, delta]) {
      await run.adapter.run()
      await deliverInBatches(run.consumer, 0, messages, [100, 37, 160])
    }
    expect(resultsOf(delta.producer)).toEqual(resultsOf(full.producer))
    const offsets = [...fullStore.puts.keys()]
    expect([...deltaStore.puts.keys()]).toEqual(offsets)
    const deltas = [...deltaStore.puts.values()].filter((bytes) => decodePartitionSnapshot(bytes).header.delta !== undefined)
    expect(deltas.length).toBe(offsets.length - Math.ceil(offsets.length / 6))
    for (const offset of offsets) {
      const [first, ...rest] = await chainAt(async (at) => ({ offset: at, bytes: deltaStore.puts.get(at)! }), offset)
      expect(rest.length).toBeLessThan(6)
      const restored = makeProcessor()
      restored.restore(first!)
      for (const bytes of rest) restored.applyDelta!(bytes)
      const want = decodePartitionSnapshot(fullStore.puts.get(offset)!).processorBytes
      expect(same(restored.snapshot(), want), `offset ${offset}`).toBe(true)
      restored.close()
    }
    // Keys did expire, and increments are a fraction of full records.
    const last = makeProcessor()
    last.restore(decodePartitionSnapshot(fullStore.puts.get(offsets.at(-1)!)!).processorBytes)
    expect(last.windows.metrics().expiredKeys).toBeGreaterThan(1000)
    last.close()
    expect(deltaStore.bytes).toBeLessThan(0.5 * fullStore.bytes)
    // Pruned as the adapter goes: the files left hold the chain of the last two commits, nothing older.
    const left = (await fs.readdir(deltaStore.directory)).map((n) => Number(n.split('.')[2])).sort((a, b) => a - b)
    const lastTwo = offsets.slice(-2)
    const needed = new Set<number>()
    for (const offset of lastTwo) {
      for (let at: number | undefined = offset; at !== undefined; at = decodePartitionSnapshot(deltaStore.puts.get(at)!).header.delta?.previous) needed.add(at)
    }
    expect(left).toEqual([...needed].sort((a, b) => a - b))
  })

  it('PipelineProcessor (LSTM state step, keyTtl): full + deltas restore byte for byte what full checkpoints restore, at every checkpoint', async () => {
    const fullStore = new RecordingStore(tempDir())
    const deltaStore = new RecordingStore(tempDir())
    const noError = () => undefined
    const full = setup(fullStore, 1, new FakeConsumer('in'), noError, makePipelineProcessor)
    const delta = setup(deltaStore, 5, new FakeConsumer('in'), noError, makePipelineProcessor)
    for (const run of [full, delta]) {
      await run.adapter.run()
      await deliverInBatches(run.consumer, 0, messages, [100, 37, 160])
    }
    expect(resultsOf(delta.producer)).toEqual(resultsOf(full.producer))
    expect(resultsOf(full.producer).size).toBeGreaterThan(1000)
    const offsets = [...fullStore.puts.keys()]
    expect([...deltaStore.puts.keys()]).toEqual(offsets)
    let deltas = 0
    for (const offset of offsets) {
      const [first, ...rest] = await chainAt(async (at) => ({ offset: at, bytes: deltaStore.puts.get(at)! }), offset)
      deltas += rest.length > 0 ? 1 : 0
      const restored = makePipelineProcessor()
      restored.restore(first!)
      for (const bytes of rest) restored.applyDelta!(bytes)
      // Another run (the full one) spent other times: all else is compared byte for byte.
      const want = decodePartitionSnapshot(fullStore.puts.get(offset)!).processorBytes
      expect(same(pipelineState(restored.snapshot()), pipelineState(want)), `offset ${offset}`).toBe(true)
      restored.close()
    }
    expect(deltas).toBe(offsets.length - Math.ceil(offsets.length / 5))
    const last = makePipelineProcessor()
    last.restore(decodePartitionSnapshot(fullStore.puts.get(offsets.at(-1)!)!).processorBytes)
    expect(last.pipeline.metrics().expiredKeys).toBeGreaterThan(1000)
    last.close()
    expect(deltaStore.bytes).toBeLessThan(0.5 * fullStore.bytes)
  })

  it('hands a partition over with deltas in flight (stored, not committed): the next consumer resumes from the committed chain; results equal an uninterrupted run', async () => {
    const reference = setup(new FileStateStore(tempDir()), 1)
    await reference.adapter.run()
    await deliverInBatches(reference.consumer, 0, messages, [150])
    const expected = resultsOf(reference.producer)
    expect(expected.size).toBeGreaterThan(1000)

    const dir = tempDir()
    // The first consumer's commits fail from the 5th on: its records at 750..1800 are stored, never committed.
    const first = setup(new FileStateStore(dir), 4, new LosingConsumer(5))
    await first.adapter.run()
    await deliverInBatches(first.consumer, 0, messages.slice(0, 1800), [150])
    expect(first.consumer.log.filter((l) => l.startsWith('commit')).at(-1)).toBe('commit 0@600')
    // The committed 600 is the third delta on the full record at 150: the second consumer restores that chain
    // and goes on with deltas of its own (its chain continues the one it restored).
    const at600 = decodePartitionSnapshot((await new FileStateStore(dir).get('in', 0, 600))!.bytes).header
    expect(at600.delta).toEqual({ base: 150, previous: 450 })
    const second = setup(new FileStateStore(dir), 4)
    await second.adapter.run()
    await deliverInBatches(second.consumer, 0, messages.slice(600, 2900), [150, 70])
    expect(second.adapter.metrics().restores).toBe(1)
    // Back to a third consumer at the second's last commit.
    const back = setup(new FileStateStore(dir), 4)
    await back.adapter.run()
    const resume = Number(second.consumer.log.filter((l) => l.startsWith('commit')).at(-1)!.split('@')[1])
    await deliverInBatches(back.consumer, 0, messages.slice(resume), [150])
    expect(back.adapter.metrics().restores).toBe(1)
    expect(resultsOf(first.producer, second.producer, back.producer)).toEqual(expected)
  })

  it('a chain with a record missing or corrupted is reported as a bad snapshot and the partition starts empty', async () => {
    for (const damage of ['missing', 'corrupted'] as const) {
      const dir = tempDir()
      const first = setup(new FileStateStore(dir), 4)
      await first.adapter.run()
      await deliverInBatches(first.consumer, 0, messages.slice(0, 600), [150])
      // Records at 150 (full), 300, 450 (deltas on it) and 600 (delta): damage the one at 300.
      const names = (await fs.readdir(dir)).sort()
      expect(names.map((n) => Number(n.split('.')[2]))).toEqual([150, 300, 450, 600])
      const file = path.join(dir, names[1]!)
      if (damage === 'missing') {
        await fs.rm(file)
      } else {
        const bytes = await fs.readFile(file)
        bytes[bytes.length - 50]! ^= 1
        await fs.writeFile(file, bytes)
      }
      const errors: SluiceKafkaError[] = []
      const second = setup(new FileStateStore(dir), 4, new FakeConsumer('in'), (e) => errors.push(e))
      await second.adapter.run()
      await deliverInBatches(second.consumer, 0, messages.slice(600, 900), [150])
      expect(errors.map((e) => [e.kind, e.code]), damage).toEqual([['snapshot', 'ERR_MALFORMED_DATA']])
      expect(errors[0]!.message).toMatch(damage === 'missing' ? /offset 300, which the delta at 450 builds on, is missing/ : /unreadable.*300/)
      expect(second.adapter.metrics()).toMatchObject({ restores: 0, events: 300 })
    }
  })

  it('checks fullEvery; a processor without deltas (sketch aggregates) writes full records whatever fullEvery says', async () => {
    expect(() => setup(new FileStateStore(tempDir()), 0)).toThrow(/fullEvery/)
    const store = new RecordingStore(tempDir())
    const consumer = new FakeConsumer('in')
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer: new FakeProducer(consumer.log), decoder: jsonDecoder({ channels: CHANNELS, keys: 'string' }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: 200, keys: 'string', channels: CHANNELS, aggregates: ['count', 'p50'] }),
      stateStore: store, outputTopic: 'out', bound: 30, checkpointInterval: 0, fullEvery: 8,
    })
    await adapter.run()
    await deliverInBatches(consumer, 0, messages.slice(0, 600), [150])
    expect(store.puts.size).toBe(4)
    for (const bytes of store.puts.values()) expect(decodePartitionSnapshot(bytes).header.delta).toBeUndefined()
  })
})
