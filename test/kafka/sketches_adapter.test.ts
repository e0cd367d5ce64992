// Sketch aggregates through the Kafka adapter with the in-memory consumer (runs where kcat is missing, beside
// test/kafka/sketches_broker.test.ts): WindowProcessor (sliding DDSketch / HyperLogLog windows) and
// PipelineProcessor (those as features under a forecast and z-score) give exactly an uninterrupted run of
// one engine per partition, however the partitions are cut into batches and across a hand-off from a
// checkpoint mid-stream (replayed results identical).
import { afterAll, describe, expect, it } from 'vitest'
import { LstmModel } from '../../lib/index'
import { FileStateStore, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, binaryDecoder, type PartitionProcessor } from '../../lib/kafka/index'
import { FakeConsumer, FakeProducer, deliverInBatches } from '../support/fake_kafka'
import { makeEvents, random } from '../support/kafka_data'
import { BOUND, CHANNELS, DISORDER, FEATURES, KEYS, messagesOf, pipelineOptions, referenceRows, referenceWindows, rowFields, windowFields, windowOptions, type Row } from '../support/kafka_sketches'
import { tempDirs } from '../support/temp_dirs'

const TOPIC = 'in'
const PARTITIONS = 3
const EVENTS = 300

const model = LstmModel.create({ inputSize: FEATURES, hiddenSize: 8, outputSize: FEATURES, seed: 23 })
afterAll(() => model.close())
const tempDir = tempDirs('sluice-kafka-sketches-')
const data = Array.from({ length: PARTITIONS }, (_, p) => makeEvents(900 + p, EVENTS, 2_000 * p, 5 + p, DISORDER, KEYS, CHANNELS))
const messages = data.map((events) => messagesOf(events).map((value, offset) => ({ offset, value })))

function setup<R>(processor: () => PartitionProcessor<R>, stateDir = tempDir()) {
  const consumer = new FakeConsumer(TOPIC)
  const producer = new FakeProducer(consumer.log)
  const processors: PartitionProcessor<R>[] = []
  const adapter = new KafkaConsumerAdapter<R>({
    consumer, producer, decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => {
      const made = processor()
      processors.push(made)
      return made
    },
    stateStore: new FileStateStore(stateDir), outputTopic: 'out', keyCount: KEYS, bound: BOUND, checkpointInterval: 1e9,
  })
  return { adapter, consumer, producer, processors }
}

/** Output messages by key; every copy of a key (replays) must carry the same fields. */
function outputOf(producers: FakeProducer[], fields: (r: Row) => Row): Map<string, Row> {
  const out = new Map<string, Row>()
  for (const producer of producers) {
    for (const [key, values] of producer.results()) {
      for (const value of values) {
        const row = fields(JSON.parse(value))
        if (out.has(key)) expect(row, `copies of ${key} differ`).toEqual(out.get(key))
        out.set(key, row)
      }
    }
  }
  return out
}

const sorted = (rows: Map<string, Row>) => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

const kinds: { kind: string; processor: () => PartitionProcessor<unknown>; fields: (r: Row) => Row; expected: () => Map<string, Row> }[] = [
  { kind: 'WindowProcessor (sliding windows of p50, p99, q0.9 and distinct)', processor: () => new WindowProcessor(windowOptions), fields: windowFields, expected: () => referenceWindows(TOPIC, data) },
  { kind: 'PipelineProcessor (p50, p99, q0.9 and distinct as features, forecast, z-score)', processor: () => new PipelineProcessor(pipelineOptions(model)), fields: rowFields, expected: () => referenceRows(TOPIC, data, model) },
]

describe('sketch aggregates through the Kafka adapter (in-memory consumer)', () => {
  for (const { kind, processor, fields, expected } of kinds) {
    const want = expected()

    it(`${kind}: equal one uninterrupted engine per partition, however the partitions are cut into batches`, async () => {
      expect(want.size).toBeGreaterThan(PARTITIONS * 40)
      const rnd = random(3)
      for (const sizes of [[1], [17], Array.from({ length: 40 }, () => 1 + Math.floor(rnd() * 50))]) {
        const { adapter, consumer, producer } = setup(processor)
        await adapter.run()
        consumer.assign([0, 1, 2])
        for (let at = 0, s = 0; messages.some((m) => at < m.length); s++) {
          const n = sizes[s % sizes.length]!
          for (let p = 0; p < PARTITIONS; p++) if (at < messages[p]!.length) await consumer.deliver(p, messages[p]!.slice(at, at + n))
          at += n
        }
        expect(sorted(outputOf([producer], fields)), `batch sizes ${sizes.slice(0, 3)}…`).toEqual(sorted(want))
        await adapter.close()
      }
    })

    it(`${kind}: hands partitions over from a checkpoint mid-stream; the replayed results are identical and the whole equals never stopping`, async () => {
      const stateDir = tempDir()
      const first = setup(processor, stateDir)
      await first.adapter.run()
      for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(first.consumer, p, messages[p]!.slice(0, 130), [13])
      await first.adapter.checkpointAll() // the last checkpoint: offset 130
      for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(first.consumer, p, messages[p]!.slice(130, 210), [20]) // then it dies
      await first.adapter.close()
      const second = setup(processor, stateDir)
      await second.adapter.run()
      for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(second.consumer, p, messages[p]!.slice(130), [29]) // resumes at the committed offset
      expect(second.adapter.metrics().restores).toBe(PARTITIONS)
      const replayed = [...first.producer.results().keys()].filter((key) => second.producer.results().has(key))
      expect(replayed.length).toBeGreaterThan(0)
      expect(sorted(outputOf([first.producer, second.producer], fields))).toEqual(sorted(want))
      await second.adapter.close()
    })
  }
})
