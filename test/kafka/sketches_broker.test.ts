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
import { LstmModel } from '../../lib/index'
import { FileStateStore, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, binaryDecoder, type PartitionProcessor } from '../../lib/kafka/index'
import { collectTopic, makeEvents, slice, waitFor, type PartitionEvents } from '../support/kafka_data'
import { BOUND, CHANNELS, DISORDER, FEATURES, KEYS, messagesOf, pipelineOptions, referenceRows, referenceWindows, rowFields, windowFields, windowOptions, type Row } from '../support/kafka_sketches'
import { kcatMissingReason, startMockCluster, type MockCluster } from '../support/mock_kafka'

const skipReason = kcatMissingReason()
if (skipReason) console.warn(skipReason)

const PARTITIONS = 4 // the mock cluster creates topics with 4 partitions
const EVENTS = 400 // per partition

let unique = 0
const name = (what: string) => `${what}-${process.pid}-${++unique}`

const model = LstmModel.create({ inputSize: FEATURES, hiddenSize: 8, outputSize: FEATURES, seed: 19 })

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
    const part = (from: number, to: number) => interleave(data.map((events, p) => messagesOf(slice(events, from, to, CHANNELS)).map((value) => ({ partition: p, value }))))
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
    await handOff(topic, data, () => new WindowProcessor(windowOptions), expected, windowFields)
  }, 120_000)

  it('PipelineProcessor: sketch features (forecast and z-score on top), handed over from a checkpoint mid-stream, equal an uninterrupted Pipeline', async () => {
    const topic = name('sketch-pipeline')
    const data = [0, 1, 2, 3].map((p) => makeEvents(800 + p, EVENTS, p * 3_000, 5, DISORDER, KEYS, CHANNELS))
    const expected = referenceRows(topic, data, model)
    const rows = [...expected.values()]
    expect(rows.length).toBeGreaterThan(PARTITIONS * 40)
    expect(rows.some((r) => (r.forecast as (number | null)[])[0] !== null)).toBe(true)
    expect(rows.some((r) => r.score !== null)).toBe(true)
    await handOff(topic, data, () => new PipelineProcessor(pipelineOptions(model)), expected, rowFields)
  }, 120_000)
})
