// Sketch aggregates through sluice/kafka against a Kafka-protocol broker (librdkafka's mock cluster via kcat,
// kafkajs consumers in one group): WindowProcessor with DDSketch quantiles and HyperLogLog distinct over
// sliding windows, and PipelineProcessor with those as features (forecast and z-score on top). A first
// consumer checkpoints mid-stream, goes on past the checkpoint, and leaves; a second one restores every
// partition from the checkpoint and replays the rest. Every output message (replayed duplicates included)
// equals an uninterrupted run of the same engine fed the partition's events directly.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { EventTimeWindows, LstmModel, Pipeline, type EventTimeWindowsOptions, type PipelineOptions, type ResultBatch } from '../../lib/index'
import { FileStateStore, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, binaryDecoder, encodeBinaryRecords, type PartitionProcessor } from '../../lib/kafka/index'
import { collectTopic, makeEvents, slice, toMessages, waitFor, type PartitionEvents } from '../support/kafka_data'
import { kcatMissingReason, startMockCluster, type MockCluster } from '../support/mock_kafka'

const skipReason = kcatMissingReason()
if (skipReason) console.warn(skipReason)

const CHANNELS = 2
const KEYS = 3
const SIZE = 100
const DISORDER = 30
const BOUND = DISORDER // makeEvents never puts an event more than DISORDER behind: none is late
const PARTITIONS = 4 // the mock cluster creates topics with 4 partitions
const EVENTS = 400 // per partition

let unique = 0
const name = (what: string) => `${what}-${process.pid}-${++unique}`

const windowOptions: Omit<EventTimeWindowsOptions, 'tracker'> = {
  type: 'sliding', size: SIZE, slide: SIZE / 4, keyCount: KEYS, channels: CHANNELS,
  aggregates: ['count', 'p50', 'p99', 'distinct'], quantiles: [0.9], accuracy: 0.02, distinctPrecision: 10,
}
const FEATURES = CHANNELS * 5
const model = LstmModel.create({ inputSize: FEATURES, hiddenSize: 8, outputSize: FEATURES, seed: 19 })
const pipelineOptions = (): Omit<PipelineOptions, 'inputs' | 'idleTimeout' | 'clock'> => ({
  keyCount: KEYS, channels: CHANNELS, window: { size: SIZE }, bound: BOUND, maxFill: 3,
  features: { aggregates: ['mean', 'p50', 'p99', 'distinct'], quantiles: [0.9], accuracy: 0.02, distinctPrecision: 10 },
  forecaster: { model, steps: 3 }, anomaly: { window: 6, warmup: 3, threshold: 1.5 },
})

/** JSON turns NaN into null: the rows as the output topic carries them. */
const nullable = (x: number) => (Number.isNaN(x) ? null : x)

type Row = Record<string, unknown>

/** The windows of one uninterrupted EventTimeWindows per partition, by output message key. */
function referenceWindows(topic: string, data: PartitionEvents[]): Map<string, Row> {
  const rows = new Map<string, Row>()
  data.forEach((events, p) => {
    const w = new EventTimeWindows({ ...windowOptions, horizon: 4000 }) // the whole partition in one push (the horizon changes no result)
    w.push({ timestamps: Float64Array.from(events.timestamps), keys: Uint32Array.from(events.keys), values: Float64Array.from(events.values) })
    const f = w.advanceWatermark(Math.max(...events.timestamps) - BOUND - 1)
    for (let i = 0; i < f.length; i++) {
      const values = Array.from(f.values.subarray(i * w.valuesPerWindow, (i + 1) * w.valuesPerWindow), nullable)
      rows.set(`${topic}/${p}/${f.key[i]}/${f.start[i]}/${f.end[i]}`, { count: f.count[i], updated: false, values })
    }
    w.close()
  })
  return rows
}

/** The rows of one uninterrupted Pipeline per partition, one process() per message (one event each). */
function referenceRows(topic: string, data: PartitionEvents[]): Map<string, Row> {
  const rows = new Map<string, Row>()
  data.forEach((events, p) => {
    const pipeline = new Pipeline({ ...pipelineOptions(), inputs: 1 })
    for (let i = 0; i < events.timestamps.length; i++) {
      const r: ResultBatch = pipeline.process({ timestamps: Float64Array.of(events.timestamps[i]!), keys: Uint32Array.of(events.keys[i]!), values: Float64Array.from(events.values.slice(i * CHANNELS, (i + 1) * CHANNELS)), now: 0 })
      for (let j = 0; j < r.length; j++) {
        rows.set(`${topic}/${p}/${r.key[j]}/${r.start[j]}/${r.end[j]}`, {
          count: r.count[j], filled: r.filled[j] === 1,
          values: Array.from(r.values.subarray(j * FEATURES, (j + 1) * FEATURES), nullable),
          forecast: Array.from(r.forecast.subarray(j * FEATURES, (j + 1) * FEATURES), nullable),
          score: nullable(r.score[j]!), flagged: r.flagged[j] === 1,
        })
      }
    }
    pipeline.close()
  })
  return rows
}

/** One binary record per message (the reference pipeline takes one process() per message). */
const messagesOf = (events: PartitionEvents, p: number) =>
  events.timestamps.map((t, i) => ({ partition: p, value: encodeBinaryRecords([t], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))

describe.skipIf(skipReason !== undefined)('sketch aggregates through sluice/kafka with a Kafka-protocol broker (librdkafka mock cluster via kcat)', () => {
  let cluster: MockCluster
  let kafka: Kafka
  let producer: Producer

  beforeAll(async () => {
    cluster = await startMockCluster(3)
    kafka = new Kafka({ clientId: 'sluice-sketch-test', brokers: cluster.brokers, logLevel: logLevel.NOTHING })
    producer = kafka.producer()
    await producer.connect()
  })

  afterAll(async () => {
    await producer?.disconnect().catch(() => undefined)
    await cluster?.stop()
    model.close()
  })

  async function produce(topic: string, messages: { partition: number; value: Buffer }[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 200) await producer.send({ topic, messages: messages.slice(i, i + 200) })
  }

  /** Partition by partition interleaved, as a producer of all four would send them. */
  function interleave(streams: { partition: number; value: Buffer }[][]): { partition: number; value: Buffer }[] {
    const out: { partition: number; value: Buffer }[] = []
    for (let i = 0; streams.some((s) => i < s.length); i++) for (const s of streams) if (i < s.length) out.push(s[i]!)
    return out
  }

  async function startConsumer<R>(topic: string, group: string, stateDir: string, processor: () => PartitionProcessor<R>) {
    const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 50, heartbeatInterval: 300, sessionTimeout: 8000, rebalanceTimeout: 8000 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    // Checkpoints only when the test asks (checkpointAll): the first consumer goes on past its checkpoint.
    const adapter = new KafkaConsumerAdapter<R>({
      consumer, producer, decoder: binaryDecoder({ channels: CHANNELS }), processor, stateStore: new FileStateStore(stateDir),
      outputTopic: `${topic}-out`, keyCount: KEYS, bound: BOUND, checkpointInterval: 1e9,
    })
    await adapter.run()
    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      await consumer.disconnect()
      adapter.close()
    }
    onTestFinished(stop)
    return { adapter, stop }
  }

  /**
   * The first consumer takes the first half of every partition and checkpoints, then takes the next fifth
   * (its results are emitted, its state is not checkpointed) and leaves; the second one restores every
   * partition from the checkpoint, replays that fifth and takes the rest. The output topic then holds
   * exactly `expected`'s messages, every copy of a replayed one identical.
   */
  async function handOff<R>(topic: string, data: PartitionEvents[], processor: () => PartitionProcessor<R>, expected: Map<string, Row>, fields: (r: Row) => Row) {
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-sketches-'))
    onTestFinished(() => fs.rmSync(stateDir, { recursive: true, force: true }))
    const group = name('group')
    const part = (from: number, to: number) => interleave(data.map((events, p) => messagesOf(slice(events, from, to, CHANNELS), p)))
    const half = EVENTS / 2, more = EVENTS * 0.7
    await produce(topic, part(0, half))
    const first = await startConsumer(topic, group, stateDir, processor)
    await waitFor(() => first.adapter.metrics().events === PARTITIONS * half, 30_000, 'the first half consumed')
    await first.adapter.checkpointAll()
    await produce(topic, part(half, more))
    await waitFor(() => first.adapter.metrics().events === PARTITIONS * more, 30_000, 'the events past the checkpoint consumed')
    await first.stop()
    await produce(topic, part(more, EVENTS))
    const second = await startConsumer(topic, group, stateDir, processor)
    await waitFor(() => second.adapter.metrics().events === PARTITIONS * (EVENTS - half), 40_000, 'the second consumer to replay and finish')
    expect(second.adapter.metrics().restores).toBe(PARTITIONS)

    const got = await collectTopic(cluster.brokers, `${topic}-out`, (byKey) => byKey.size >= expected.size, 20_000)
    expect([...got.keys()].sort()).toEqual([...expected.keys()].sort())
    let replayed = 0
    for (const [key, messages] of got) {
      replayed += messages.length - 1
      for (const { value } of messages) expect(fields(JSON.parse(value.toString())), key).toEqual(expected.get(key))
    }
    expect(replayed).toBeGreaterThan(0) // results after the checkpoint came out twice, identically
  }

  it('WindowProcessor: sliding windows of DDSketch quantiles and HyperLogLog distinct, handed over from a checkpoint mid-stream, equal an uninterrupted EventTimeWindows', async () => {
    const topic = name('sketch-windows')
    const data = [0, 1, 2, 3].map((p) => makeEvents(700 + p, EVENTS, p * 3_000, 5, DISORDER, KEYS, CHANNELS))
    const expected = referenceWindows(topic, data)
    expect(expected.size).toBeGreaterThan(PARTITIONS * 60)
    await handOff(topic, data, () => new WindowProcessor(windowOptions), expected, (r) => ({ count: r.count, updated: r.updated, values: r.values }))
  }, 120_000)

  it('PipelineProcessor: sketch features (forecast and z-score on top), handed over from a checkpoint mid-stream, equal an uninterrupted Pipeline', async () => {
    const topic = name('sketch-pipeline')
    const data = [0, 1, 2, 3].map((p) => makeEvents(800 + p, EVENTS, p * 3_000, 5, DISORDER, KEYS, CHANNELS))
    const expected = referenceRows(topic, data)
    const rows = [...expected.values()]
    expect(rows.length).toBeGreaterThan(PARTITIONS * 40)
    expect(rows.some((r) => (r.forecast as (number | null)[])[0] !== null)).toBe(true)
    expect(rows.some((r) => r.score !== null)).toBe(true)
    await handOff(topic, data, () => new PipelineProcessor(pipelineOptions()), expected,
      (r) => ({ count: r.count, filled: r.filled, values: r.values, forecast: r.forecast, score: r.score, flagged: r.flagged }))
  }, 120_000)
})
