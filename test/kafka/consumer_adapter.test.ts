// sluice/kafka without a broker: decoders, the partition snapshot format, and the adapter driven by an
// in-memory consumer that calls eachBatch the way KafkaJS does (offset order, hand-off, idleness with a
// manual clock, bad snapshots). The broker tests (kafka_broker.test.ts) repeat the main cases over Kafka.
import { describe, expect, it } from 'vitest'
import {
  BATCH_LATENCY_WINDOW, ColumnBuilder, FileStateStore, IncrementalStateStore, KafkaConsumerAdapter, PARTITION_SNAPSHOT_VERSION, WindowProcessor, binaryDecoder, decodePartitionSnapshot,
  encodeBinaryRecords, encodePartitionSnapshot, jsonDecoder, type EventColumns, type PartitionProcessor, type SluiceKafkaError, type StateStore, type WindowResult,
} from '../../lib/kafka/index'
import { WatermarkTracker } from '../../lib/index'
import { openSnapshot } from '../../lib/runtime/snapshot_envelope'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, FakeProducer, deliverInBatches } from '../support/fake_kafka'
import { tempDirs } from '../support/temp_dirs'
import { expectEnvelope, withValidCrc } from '../support/snapshot_bytes'
import { makeEvents, random, referenceWindows, slice, type PartitionEvents } from '../support/kafka_data'

const CHANNELS = 2
const KEYS = 8
const SIZE = 100
const BOUND = 30
const TOPIC = 'in'

/** A FileStateStore that logs its writes. */
class LoggingStore extends FileStateStore {
  constructor(directory: string, private readonly log: string[]) {
    super(directory)
  }
  override async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
    await super.put(topic, partition, offset, bytes)
    this.log.push(`put ${partition}@${offset}`)
  }
}

const tempDir = tempDirs('sluice-kafka-unit-')

function setup(options: { store?: StateStore; stateDir?: string; clock?: () => number; idleTimeout?: number; checkpointInterval?: number; deadLetterTopic?: string | null; size?: number; failing?: FailSwitch; processorRetries?: number; retryBackoff?: number } = {}) {
  const consumer = new FakeConsumer()
  const producer = new FakeProducer(consumer.log)
  const errors: SluiceKafkaError[] = []
  const processors: WindowProcessor[] = []
  const stateDir = options.stateDir ?? tempDir()
  const adapter = new KafkaConsumerAdapter<WindowResult>({
    consumer,
    producer,
    decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => {
      const processor = new WindowProcessor({ type: 'tumbling', size: options.size ?? SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] })
      processors.push(processor)
      return options.failing ? new FailingProcessor(processor, options.failing) : processor
    },
    stateStore: options.store ?? new LoggingStore(stateDir, consumer.log),
    outputTopic: 'out',
    deadLetterTopic: options.deadLetterTopic === null ? undefined : options.deadLetterTopic ?? 'dlq',
    keyCount: KEYS,
    bound: BOUND,
    idleTimeout: options.idleTimeout,
    checkpointInterval: options.checkpointInterval,
    clock: options.clock,
    processorRetries: options.processorRetries,
    retryBackoff: options.retryBackoff,
    onError: (e) => errors.push(e),
  })
  return { adapter, consumer, producer, errors, processors, stateDir }
}

/** Makes FailingProcessors throw: `times` more throws (a transient fault), and always after an event at time `poison` was pushed (a batch it cannot take). */
interface FailSwitch {
  times: number
  thrown: number
  poison?: number
}

/** A processor that throws from advanceWatermark after the batch's events were pushed: it is left half-updated. */
class FailingProcessor implements PartitionProcessor<WindowResult> {
  private poisoned = false
  constructor(private readonly inner: WindowProcessor, private readonly fail: FailSwitch) {}
  push(batch: EventColumns): void {
    this.inner.push(batch)
    if (batch.timestamps.includes(this.fail.poison ?? NaN)) this.poisoned = true
  }
  advanceWatermark(watermark: number): WindowResult[] {
    if (this.fail.times > 0 || this.poisoned) {
      this.fail.times = Math.max(0, this.fail.times - 1)
      this.fail.thrown++
      throw new Error('processor down')
    }
    return this.inner.advanceWatermark(watermark)
  }
  snapshot(): Uint8Array {
    return this.inner.snapshot()
  }
  restore(bytes: Uint8Array): void {
    this.inner.restore(bytes)
  }
  close(): void {
    this.inner.close()
  }
}

/** One message per event, offsets from `first`. */
function messagesOf(events: PartitionEvents, first = 0): { offset: number; value: Buffer }[] {
  return events.timestamps.map((_, i) => ({ offset: first + i, value: encodeBinaryRecords([events.timestamps[i]!], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))
}

function parsed(results: Map<string, string[]>): Map<string, { count: number; values: number[] }> {
  const out = new Map<string, { count: number; values: number[] }>()
  for (const [key, values] of results) {
    for (const value of values) {
      const r = JSON.parse(value)
      const entry = { count: r.count, values: r.values }
      if (out.has(key)) expect(entry, `duplicate ${key} differs`).toEqual(out.get(key))
      out.set(key, entry)
    }
  }
  return out
}

function expectMatchesReference(results: Map<string, string[]>, partition: number, events: PartitionEvents, watermark: number): void {
  const want = referenceWindows(events, SIZE, CHANNELS, watermark)
  const got = parsed(results)
  expect([...got.keys()].sort()).toEqual([...want.keys()].map((id) => `${TOPIC}/${partition}/${id}`).sort())
  for (const [id, w] of want) expect(got.get(`${TOPIC}/${partition}/${id}`)).toEqual({ count: w.count, values: w.values })
}

describe('decoders', () => {
  it('binaryDecoder reads packed little-endian records (several per message, f64 or f32 values) straight into columns', () => {
    const decoder = binaryDecoder({ channels: 3 })
    expect(decoder.recordBytes).toBe(12 + 24)
    const out = new ColumnBuilder(3, 1)
    decoder.decode(encodeBinaryRecords([1.5, -2], [7, 4294967295], [1, 2, 3, 4, 5, NaN], 3), out)
    decoder.decode(encodeBinaryRecords([9], [0], [6, 7, 8], 3), out)
    const v = out.view()
    expect(Array.from(v.timestamps)).toEqual([1.5, -2, 9])
    expect(Array.from(v.keys)).toEqual([7, 4294967295, 0])
    expect(Array.from(v.values)).toEqual([1, 2, 3, 4, 5, NaN, 6, 7, 8])

    const f32 = binaryDecoder({ channels: 1, valueType: 'f32' })
    const record = Buffer.alloc(16)
    record.writeDoubleLE(10, 0)
    record.writeUInt32LE(3, 8)
    record.writeFloatLE(0.5, 12)
    const out32 = new ColumnBuilder(1)
    f32.decode(record, out32)
    expect(Array.from(out32.view().values)).toEqual([0.5])
  })

  it('binaryDecoder refuses a value that is not a whole number of records, or none', () => {
    const decoder = binaryDecoder({ channels: 1 })
    const out = new ColumnBuilder(1)
    expectSluiceError(() => decoder.decode(Buffer.alloc(21), out), 'ERR_MALFORMED_DATA', /not a whole number of 20-byte records/)
    expectSluiceError(() => decoder.decode(Buffer.alloc(0), out), 'ERR_MALFORMED_DATA')
    expectSluiceError(() => decoder.decode(null, out), 'ERR_MALFORMED_DATA', /no value/)
    expectSluiceError(() => binaryDecoder({ channels: 0 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => binaryDecoder({ channels: 1, valueType: 'f16' as 'f32' }), 'ERR_INVALID_ARGUMENT')
  })

  it('jsonDecoder reads objects or arrays of objects; null values are NaN; bad records are refused', () => {
    const decoder = jsonDecoder({ channels: 2 })
    const out = new ColumnBuilder(2)
    decoder.decode(Buffer.from('{"timestamp": 5, "key": 2, "values": [1, null]}'), out)
    decoder.decode(Buffer.from('[{"timestamp": 6, "values": [3, 4]}]'), out)
    const v = out.view()
    expect(Array.from(v.timestamps)).toEqual([5, 6])
    expect(Array.from(v.keys)).toEqual([2, 0])
    expect(Array.from(v.values)).toEqual([1, NaN, 3, 4])
    expectSluiceError(() => decoder.decode(Buffer.from('{"timestamp": 5'), out), 'ERR_MALFORMED_DATA', /invalid JSON/)
    expectSluiceError(() => decoder.decode(Buffer.from('{"key": 1, "values": [1, 2]}'), out), 'ERR_MALFORMED_DATA', /timestamp/)
    expectSluiceError(() => decoder.decode(Buffer.from('{"timestamp": 1, "key": -1, "values": [1, 2]}'), out), 'ERR_MALFORMED_DATA', /key/)
    expectSluiceError(() => decoder.decode(Buffer.from('{"timestamp": 1, "values": [1]}'), out), 'ERR_MALFORMED_DATA', /2 number/)
  })
})

describe('partition snapshots', () => {
  const header = { topic: 'in', partition: 3, offset: 42, maxTimestamp: 1234 }
  it('round-trip their header and processor bytes', () => {
    const bytes = encodePartitionSnapshot(header, Uint8Array.of(9, 8, 7))
    const { header: h, processorBytes } = decodePartitionSnapshot(bytes)
    expect(h).toEqual(header)
    expect(Array.from(processorBytes)).toEqual([9, 8, 7])
    expect(decodePartitionSnapshot(encodePartitionSnapshot({ ...header, maxTimestamp: -Infinity }, new Uint8Array(0))).header.maxTimestamp).toBe(-Infinity)
  })

  it('refuse corrupt bytes, a foreign magic and another version with clear errors', () => {
    const bytes = encodePartitionSnapshot(header, Uint8Array.of(1, 2, 3))
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice()
      bad[i]! ^= 0x40
      expect(() => decodePartitionSnapshot(bad), `byte ${i}`).toThrow()
    }
    const flipped = bytes.slice()
    flipped[20]! ^= 1 // in the JSON header, after the envelope's 16 bytes and the header length
    expectSluiceError(() => decodePartitionSnapshot(flipped), 'ERR_MALFORMED_DATA', /checksum/)
    expectSluiceError(() => decodePartitionSnapshot(bytes.subarray(0, 10)), 'ERR_MALFORMED_DATA', /magic|short/)
    expectSluiceError(() => decodePartitionSnapshot(bytes.subarray(0, bytes.length - 1)), 'ERR_MALFORMED_DATA', /length does not match/)
    const other = bytes.slice()
    new DataView(other.buffer).setUint16(4, PARTITION_SNAPSHOT_VERSION + 1, true)
    expectSluiceError(() => decodePartitionSnapshot(other), 'ERR_MALFORMED_DATA', /checksum/) // a damaged version field
    expectSluiceError(() => decodePartitionSnapshot(withValidCrc(other)), 'ERR_NOT_SUPPORTED', /version 3 is not supported/)
  })

  it('are in the common sluice envelope: magic SLCE, format version PARTITION_SNAPSHOT_VERSION, kind kafka-partition (7), CRC-32', () => {
    const bytes = encodePartitionSnapshot(header, Uint8Array.of(1, 2, 3))
    expectEnvelope(bytes, 7, { version: PARTITION_SNAPSHOT_VERSION })
    const foreign = bytes.slice()
    foreign[0] = 0x58
    expectSluiceError(() => decodePartitionSnapshot(foreign), 'ERR_MALFORMED_DATA', /not a sluice snapshot/)
    const tracker = new WatermarkTracker()
    try {
      expectSluiceError(() => decodePartitionSnapshot(tracker.snapshot()), 'ERR_MALFORMED_DATA', /another kind of object: watermark-tracker, expected kafka-partition/)
    } finally {
      tracker.close()
    }
  })

  it('in the 0.1 layout (SLKP) are refused with ERR_NOT_SUPPORTED and a clear message', () => {
    // The 0.1 layout of the same snapshot: "SLKP" | u16 version 1 | u32 JSON length | JSON | processor bytes | CRC-32.
    const payload = openSnapshot(encodePartitionSnapshot(header, Uint8Array.of(1, 2, 3)), 'kafka-partition')
    const old = withValidCrc(Buffer.concat([Buffer.from('SLKP', 'latin1'), Buffer.from([1, 0]), payload, Buffer.alloc(4)]))
    expectSluiceError(() => decodePartitionSnapshot(old), 'ERR_NOT_SUPPORTED', /Kafka partition snapshot in the 0\.1 layout \(SLKP\).*common sluice envelope \(SLCE\); take a new snapshot/)
  })
})

describe('KafkaConsumerAdapter (in-memory consumer)', () => {
  const events = makeEvents(7, 600, 0, 10, BOUND, KEYS, CHANNELS)
  const finalWatermark = Math.max(...events.timestamps) - BOUND - 1

  it('emits, then stores the snapshot at offset O, then commits O; never commits an offset whose events are not reflected', async () => {
    const { adapter, consumer, producer } = setup()
    await adapter.run()
    await deliverInBatches(consumer, 0, messagesOf(events), [50])
    expectMatchesReference(producer.results(), 0, events, finalWatermark)
    const commits = consumer.log.filter((l) => l.startsWith('commit'))
    expect(commits.length).toBe(12)
    for (const commit of commits) {
      const offset = Number(commit.split('@')[1])
      const at = consumer.log.indexOf(commit)
      expect(consumer.log.slice(0, at)).toContain(`put 0@${offset}`)
      // Results of the batch that ends at offset − 1 were produced before its commit.
      const previousCommit = consumer.log.lastIndexOf(commits[commits.indexOf(commit) - 1] ?? '', at)
      expect(consumer.log.slice(previousCommit + 1, at).some((l) => l.startsWith('send out'))).toBe(true)
    }
    expect(commits.at(-1)).toBe('commit 0@600')
  })

  it('gives the same windows however the partition is cut into batches, late events included', async () => {
    // Every 7th event is 150 ms behind: late under the per-message watermark.
    const lateEvents: PartitionEvents = { timestamps: events.timestamps.map((t, i) => (i % 7 === 3 ? t - 150 : t)), keys: events.keys, values: events.values }
    const outputs: Map<string, { count: number; values: number[] }>[] = []
    const lates: number[] = []
    const rnd = random(3)
    for (const sizes of [[1], [600], [13], Array.from({ length: 50 }, () => 1 + Math.floor(rnd() * 40))]) {
      const { adapter, consumer, producer, processors } = setup({ checkpointInterval: 1e9 })
      await adapter.run()
      await deliverInBatches(consumer, 0, messagesOf(lateEvents), sizes)
      outputs.push(parsed(producer.results()))
      lates.push(processors[0]!.late)
    }
    expect(lates[0]).toBeGreaterThan(0)
    for (let i = 1; i < outputs.length; i++) {
      expect(lates[i]).toBe(lates[0])
      expect([...outputs[i]!.entries()].sort()).toEqual([...outputs[0]!.entries()].sort())
    }
  })

  it('hands a partition to another consumer: the new one restores the checkpoint at the resume offset; results equal one uninterrupted run', async () => {
    const stateDir = tempDir()
    const first = setup({ stateDir, checkpointInterval: 1e9 }) // checkpoints only when asked
    await first.adapter.run()
    const messages = messagesOf(events)
    await deliverInBatches(first.consumer, 0, messages.slice(0, 200), [40])
    await first.adapter.checkpointAll() // the last checkpoint: offset 200
    await deliverInBatches(first.consumer, 0, messages.slice(200, 330), [40]) // then it dies before the next one
    expect(first.consumer.log.filter((l) => l.startsWith('commit'))).toEqual(['commit 0@200'])

    const second = setup({ stateDir })
    await second.adapter.run()
    await deliverInBatches(second.consumer, 0, messages.slice(200), [40]) // the group resumes from the committed offset
    expect(second.adapter.metrics().restores).toBe(1)
    const merged = new Map(first.producer.results())
    for (const [key, values] of second.producer.results()) merged.set(key, [...(merged.get(key) ?? []), ...values])
    expectMatchesReference(merged, 0, events, finalWatermark)
    // Replayed windows were emitted twice, identically (parsed() checks); the state counted nothing twice.
    expect([...merged.values()].some((v) => v.length === 2)).toBe(true)
  })

  it('reloads a partition from the store when a batch does not continue where it stopped (it moved away and back)', async () => {
    const { adapter, consumer, producer } = setup()
    await adapter.run()
    const messages = messagesOf(events)
    await deliverInBatches(consumer, 0, messages.slice(0, 300), [100])
    // Some other consumer processed 300..400 meanwhile; we get the partition back at its commit, 400.
    const other = setup({ stateDir: (adapter as unknown as { options: { stateStore: FileStateStore } }).options.stateStore.directory })
    await other.adapter.run()
    await deliverInBatches(other.consumer, 0, messages.slice(300, 400), [100])
    await deliverInBatches(consumer, 0, messages.slice(400), [100])
    expect(adapter.metrics().restores).toBe(1)
    const merged = new Map(producer.results())
    for (const [key, values] of other.producer.results()) merged.set(key, [...(merged.get(key) ?? []), ...values])
    expectMatchesReference(merged, 0, events, finalWatermark)
  })

  it('refuses a corrupt, foreign-version or mismatched snapshot with topic/partition/offset, starts the partition empty and keeps going', async () => {
    const stateDir = tempDir()
    const store = new FileStateStore(stateDir)
    const good = setup({ stateDir, size: 50 })
    await good.adapter.run()
    await good.consumer.deliver(0, messagesOf(slice(events, 0, 10, CHANNELS)))
    const snapshot = (await store.get(TOPIC, 0, 10))!.bytes
    const corrupt = snapshot.slice()
    corrupt[corrupt.length - 9]! ^= 0xff
    const version = snapshot.slice()
    new DataView(version.buffer).setUint16(4, 99, true)
    withValidCrc(version) // an intact snapshot of a later format version
    await store.put(TOPIC, 1, 10, corrupt)
    await store.put(TOPIC, 2, 10, version)
    await store.put(TOPIC, 3, 10, encodePartitionSnapshot({ topic: TOPIC, partition: 3, offset: 10, maxTimestamp: 5 }, decodePartitionSnapshot(snapshot).processorBytes))

    const { adapter, consumer, errors, producer } = setup({ stateDir }) // windows of size 100, not 50
    await adapter.run()
    const tail = slice(events, 10, 60, CHANNELS)
    for (const partition of [1, 2, 3]) await consumer.deliver(partition, messagesOf(tail, 10))
    expect(errors.map((e) => [e.kind, e.partition, e.offset, e.code])).toEqual([
      ['snapshot', 1, 10, 'ERR_MALFORMED_DATA'],
      ['snapshot', 2, 10, 'ERR_NOT_SUPPORTED'],
      ['snapshot', 3, 10, errors[2]?.code],
    ])
    expect(errors[2]!.code).toMatch(/^ERR_/)
    expect(errors[0]!.message).toMatch(/^in\[1\]@10: snapshot refused/)
    expect(adapter.metrics().events).toBe(150) // all three partitions went on from empty state
    expect(adapter.metrics().restores).toBe(0)
    expect(producer.results().size).toBeGreaterThan(0)
  })

  it('reports bad records with topic/partition/offset; without a dead-letter topic they are only reported', async () => {
    const { adapter, consumer, errors, producer } = setup({ deadLetterTopic: null })
    await adapter.run()
    await consumer.deliver(0, [
      { offset: 0, value: encodeBinaryRecords([100], [1], [1, 2], CHANNELS) },
      { offset: 1, value: Buffer.from('xx') },
      { offset: 2, value: encodeBinaryRecords([101, NaN], [1, 1], [1, 2, 3, 4], CHANNELS) },
      { offset: 3, value: encodeBinaryRecords([102], [1], [5, 6], CHANNELS) },
    ])
    expect(errors.map((e) => [e.kind, e.topic, e.partition, e.offset])).toEqual([['decode', TOPIC, 0, 1], ['timestamp', TOPIC, 0, 2]])
    expect(adapter.metrics().events).toBe(2) // a message is dead-lettered whole: no half of it is counted
    expect(producer.sent.filter((s) => s.topic !== 'out')).toEqual([])
    expect(consumer.log).toContain('commit 0@4')
  })

  it('idleness (manual clock): an assigned partition without data holds the combined watermark back until idle; an idle one stops holding it back and its windows follow', async () => {
    let now = 0
    const { adapter, consumer, producer } = setup({ clock: () => now, idleTimeout: 1000 })
    await adapter.run()
    consumer.assign([0, 1, 2])
    const a = makeEvents(11, 100, 0, 10, BOUND, KEYS, CHANNELS)
    const b = makeEvents(12, 20, 0, 10, BOUND, KEYS, CHANNELS)
    await consumer.deliver(0, messagesOf(slice(a, 0, 20, CHANNELS)))
    await consumer.deliver(1, messagesOf(b))
    expect(adapter.watermark).toBe(-Infinity) // partition 2 has no data yet and is not idle
    now = 500
    await consumer.deliver(0, messagesOf(slice(a, 20, 50, CHANNELS), 20))
    expect(adapter.watermark).toBe(-Infinity)
    now = 1200 // 2 idle (no data for 1200 ms); 1 silent for 1200 ms too: idle
    await consumer.deliver(0, messagesOf(slice(a, 50, 100, CHANNELS), 50))
    const wm0 = Math.max(...a.timestamps) - BOUND - 1
    expect(adapter.watermark).toBe(wm0)
    expect(adapter.partitionWatermark(TOPIC, 1)).toBe(Math.max(...b.timestamps) - BOUND - 1)
    // Partition 1's windows fired up to partition 0's watermark although partition 1 got nothing new.
    const results = producer.results()
    const p1 = new Map([...results].filter(([k]) => k.startsWith(`${TOPIC}/1/`)))
    expectMatchesReference(p1, 1, b, wm0)
    expect(p1.size).toBeGreaterThan(referenceWindows(b, SIZE, CHANNELS, Math.max(...b.timestamps) - BOUND - 1).size)
  })

  for (const checkpointInterval of [0, 1e9]) {
    it(`retries a batch whose processor threw, from the state before the batch (checkpointInterval ${checkpointInterval}): results once, equal to an uninterrupted run`, async () => {
      const failing: FailSwitch = { times: 0, thrown: 0 }
      const { adapter, consumer, producer, errors } = setup({ failing, checkpointInterval, retryBackoff: 1 })
      await adapter.run()
      const messages = messagesOf(events)
      for (let b = 0; b < 12; b++) {
        // Batches 3 and 7 fail twice, 9 three times (the last retry succeeds), each after its events were pushed.
        failing.times = b === 3 || b === 7 ? 2 : b === 9 ? 3 : 0
        await consumer.deliver(0, messages.slice(b * 50, b * 50 + 50))
      }
      expect(failing.thrown).toBe(7)
      for (const [key, values] of producer.results()) expect(values.length, key).toBe(1)
      expectMatchesReference(producer.results(), 0, events, finalWatermark)
      expect(producer.sent.filter((s) => s.topic === 'dlq')).toEqual([])
      expect(errors).toEqual([])
      expect(adapter.metrics()).toMatchObject({ processorRetries: 7, processorFailures: 0, deadLetters: 0, events: 600 })
      await adapter.checkpointAll()
      expect(consumer.log.filter((l) => l.startsWith('commit')).at(-1)).toBe('commit 0@600')
    })

    it(`dead-letters a batch whose processor always throws after the retries, and the partition goes on (checkpointInterval ${checkpointInterval})`, async () => {
      const failing: FailSwitch = { times: 0, thrown: 0 }
      const { adapter, consumer, producer, errors } = setup({ failing, checkpointInterval, retryBackoff: 1 })
      await adapter.run()
      const messages = messagesOf(events)
      failing.poison = events.timestamps[270]
      expect(events.timestamps.filter((t) => t === failing.poison).length).toBe(1)
      await deliverInBatches(consumer, 0, messages, [50])
      expect(failing.thrown).toBe(4) // the first try and 3 retries (the default)
      const dlq = producer.sent.filter((s) => s.topic === 'dlq')
      expect(dlq.map((s) => Number(s.message.headers!['sluice-offset']))).toEqual(Array.from({ length: 50 }, (_, i) => 250 + i))
      for (const { message } of dlq) {
        expect(message.headers!['sluice-kind']).toBe('processor')
        expect(String(message.headers!['sluice-error'])).toMatch(/processor down/)
      }
      expect(dlq.map((s) => s.message.value)).toEqual(messages.slice(250, 300).map((m) => m.value))
      expect(errors.map((e) => [e.kind, e.offset])).toEqual([['processor', 250]])
      // The later batches were processed: the windows are those of the input without the dead-lettered batch, each once.
      const rest = slice(events, 0, 250, CHANNELS)
      const tail = slice(events, 300, 600, CHANNELS)
      const kept: PartitionEvents = { timestamps: [...rest.timestamps, ...tail.timestamps], keys: [...rest.keys, ...tail.keys], values: [...rest.values, ...tail.values] }
      for (const [key, values] of producer.results()) expect(values.length, key).toBe(1)
      expectMatchesReference(producer.results(), 0, kept, Math.max(...kept.timestamps) - BOUND - 1)
      expect(adapter.metrics()).toMatchObject({ processorRetries: 3, processorFailures: 1, deadLetters: 50, events: 550 })
      await adapter.checkpointAll()
      expect(consumer.log.filter((l) => l.startsWith('commit')).at(-1)).toBe('commit 0@600')
    })
  }

  it('waits retryBackoff, doubling, between retries (defaults: 3 retries from 50 ms)', async () => {
    const failing: FailSwitch = { times: 3, thrown: 0 }
    const { adapter, consumer } = setup({ failing, retryBackoff: 20 })
    expect([adapter.processorRetries, adapter.retryBackoff]).toEqual([3, 20])
    await adapter.run()
    const started = performance.now()
    await consumer.deliver(0, messagesOf(events).slice(0, 50))
    expect(performance.now() - started).toBeGreaterThanOrEqual(20 + 40 + 80 - 5)
    expect(adapter.metrics().processorRetries).toBe(3)
    const defaults = setup().adapter
    expect([defaults.processorRetries, defaults.retryBackoff]).toEqual([3, 50])
  })

  it('metrics(): per partition and per adapter, counted against what the test sent', async () => {
    // Partition 0: 600 events, 4 bad records, every 7th event 150 ms late; partition 1: 200 events without a high watermark.
    const lateEvents: PartitionEvents = { timestamps: events.timestamps.map((t, i) => (i % 7 === 3 ? t - 150 : t)), keys: events.keys, values: events.values }
    const wall = 1e6
    const { adapter, consumer, producer, processors } = setup({ checkpointInterval: 0 })
    // This test needs a wallClock: a second adapter on the same fake client (the first is closed before it runs).
    const clocked = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer, decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => {
        const processor = new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] })
        processors.push(processor)
        return processor
      },
      stateStore: new FileStateStore(tempDir()), outputTopic: 'out', deadLetterTopic: 'dlq', keyCount: KEYS, bound: BOUND, wallClock: () => wall, onError: () => undefined,
    })
    adapter.close()
    expect(clocked.metrics()).toMatchObject({ batches: 0, consumerLag: null, partitions: [] })
    expect(clocked.metrics().batchLatencyP50).toBeNaN()
    await clocked.run()
    const messages0 = messagesOf(lateEvents)
    const bad = new Set([10, 100, 101, 400])
    for (const i of bad) messages0[i] = { offset: i, value: Buffer.from('bad') }
    for (let b = 0; b < 12; b++) await consumer.deliver(0, messages0.slice(b * 50, b * 50 + 50), 700)
    const events1 = makeEvents(9, 200, 0, 10, BOUND, KEYS, CHANNELS)
    await deliverInBatches(consumer, 1, messagesOf(events1), [40])
    const m = clocked.metrics()
    const p0 = m.partitions.find((p) => p.partition === 0)!
    const p1 = m.partitions.find((p) => p.partition === 1)!
    const results0 = producer.sent.filter((s) => s.topic === 'out' && String(s.message.key).startsWith('in/0/')).length
    const results1 = producer.sent.filter((s) => s.topic === 'out' && String(s.message.key).startsWith('in/1/')).length
    const kept = lateEvents.timestamps.filter((_, i) => !bad.has(i))
    const watermark0 = Math.max(...kept) - BOUND - 1
    expect(p0).toMatchObject({
      topic: 'in', nextOffset: 600, committedOffset: 600, consumerLag: 100, watermark: watermark0, watermarkLag: wall - watermark0,
      batches: 12, events: 596, results: results0, deadLetters: 4, late: processors[0]!.late, checkpoints: 12,
    })
    expect(p0.late).toBeGreaterThan(0)
    expect(p1).toMatchObject({ nextOffset: 200, consumerLag: null, batches: 5, events: 200, results: results1, deadLetters: 0, checkpoints: 5 })
    expect(results0).toBeGreaterThan(0)
    expect(results1).toBeGreaterThan(0)
    // Snapshot bytes are the bytes the store was given; a FileStateStore writes them whole (checkpoint bytes).
    const stored = await clocked['options'].stateStore.get('in', 0, 600)
    expect(p0.lastSnapshotBytes).toBe(stored!.bytes.length)
    expect(p0.lastCheckpointBytes).toBe(stored!.bytes.length)
    expect(p0.snapshotBytes).toBeGreaterThanOrEqual(12 * 20)
    expect(p0.checkpointBytes).toBe(p0.snapshotBytes)
    expect(m.checkpointBytes).toBe(p0.checkpointBytes + p1.checkpointBytes)
    expect(m.snapshotBytes).toBe(p0.snapshotBytes + p1.snapshotBytes)
    expect(m.checkpointBytes).toBe((clocked['options'].stateStore as FileStateStore).stats().storedBytes)
    expect(m.checkpointMs).toBeCloseTo(p0.checkpointMs + p1.checkpointMs, 6)
    expect(p0.lastCheckpointMs).toBeGreaterThan(0)
    expect(m).toMatchObject({ batches: 17, events: 796, results: results0 + results1, deadLetters: 4, checkpoints: 17, consumerLag: 100 })
    expect(m.watermark).toBe(clocked.watermark)
    expect(m.watermarkLag).toBe(wall - m.watermark)
    for (const x of [p0, p1, m]) {
      expect(x.batchLatencyP50).toBeGreaterThan(0)
      expect(x.batchLatencyP99).toBeGreaterThanOrEqual(x.batchLatencyP50)
    }
    clocked.close()
  })

  it('checkpointBytes counts what the store wrote (an IncrementalStateStore\'s records), snapshotBytes the snapshots it was given', async () => {
    const inner = new FileStateStore(tempDir())
    const store = new IncrementalStateStore(inner, { fullEvery: 4 })
    const { adapter, consumer } = setup({ store })
    await adapter.run()
    await deliverInBatches(consumer, 0, messagesOf(makeEvents(13, 600, 0, 10, BOUND, KEYS, CHANNELS)), [50])
    const m = adapter.metrics()
    expect(m.checkpoints).toBe(12)
    expect(m.checkpointBytes).toBe(store.stats().storedBytes)
    expect(m.checkpointBytes).toBe(inner.stats().storedBytes) // the file store wrote the incremental store's records
    expect(m.snapshotBytes).toBe(store.stats().snapshotBytes)
    expect(m.checkpointBytes).not.toBe(m.snapshotBytes) // (records of small snapshots carry more manifest than they save)
    expect(m.partitions[0]!.checkpointBytes).toBe(m.checkpointBytes)
    adapter.close()
  })

  it('batch latency percentiles come from a bounded window of recent batches', async () => {
    let delay = 0
    // A store whose writes take `delay` ms: every batch checkpoints (checkpointInterval 0), so its latency includes it.
    class SlowStore extends FileStateStore {
      override async put(topic: string, partition: number, offset: number, bytes: Uint8Array): Promise<void> {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay))
        await super.put(topic, partition, offset, bytes)
      }
    }
    const { adapter, consumer } = setup({ store: new SlowStore(tempDir()) })
    await adapter.run()
    const messages = messagesOf(makeEvents(11, BATCH_LATENCY_WINDOW + 20, 0, 10, BOUND, KEYS, CHANNELS))
    const slow = 15 // over 1% of the window: the p99 sees them while they are in it
    delay = 100
    for (let i = 0; i < slow; i++) await consumer.deliver(0, messages.slice(i, i + 1))
    expect(adapter.metrics().batchLatencyP50).toBeGreaterThanOrEqual(99)
    delay = 0
    for (let i = slow; i < BATCH_LATENCY_WINDOW; i++) await consumer.deliver(0, messages.slice(i, i + 1))
    expect(adapter.metrics().partitions[0]!.batches).toBe(BATCH_LATENCY_WINDOW)
    expect(adapter.metrics().batchLatencyP50).toBeLessThan(99)
    expect(adapter.metrics().batchLatencyP99).toBeGreaterThanOrEqual(99)
    for (let i = BATCH_LATENCY_WINDOW; i < BATCH_LATENCY_WINDOW + slow; i++) await consumer.deliver(0, messages.slice(i, i + 1))
    // Now they have left the window.
    const m = adapter.metrics()
    expect(m.batchLatencyP99).toBeLessThan(99)
    expect(m.partitions[0]!.batchLatencyP99).toBeLessThan(99)
  }, 60_000)

  it('checks its options', () => {
    const consumer = new FakeConsumer()
    const base = { consumer, producer: new FakeProducer([]), decoder: binaryDecoder({ channels: 1 }), processor: () => new WindowProcessor({ type: 'tumbling', size: 10 }), stateStore: new FileStateStore(tempDir()), outputTopic: 'out' }
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, consumer: {} as FakeConsumer }), 'ERR_INVALID_TYPE', /run/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, outputTopic: '' }), 'ERR_INVALID_TYPE', /outputTopic/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, bound: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, bound: NaN }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, idleTimeout: 0 }), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, processorRetries: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, processorRetries: 1.5 }), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, retryBackoff: -1 }), 'ERR_OUT_OF_RANGE')
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, processor: 1 as unknown as () => WindowProcessor }), 'ERR_INVALID_TYPE')
  })
})
