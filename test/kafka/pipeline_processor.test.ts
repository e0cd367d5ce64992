// sluice/kafka's PipelineProcessor with the in-memory consumer: the adapter feeding one Pipeline per
// partition gives exactly the rows of one Pipeline per partition fed the partition's messages directly
// (one process() per message), however the partition is cut into batches and across a hand-off. Also
// Pipeline.advanceTo, the external-watermark entry the adapter uses for idle partitions.
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type ResultBatch } from '../../lib/index'
import { FileStateStore, KafkaConsumerAdapter, PipelineProcessor, binaryDecoder, decodePartitionSnapshot, encodeBinaryRecords, encodePartitionSnapshot, type PipelineRow } from '../../lib/kafka/index'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, FakeProducer, deliverInBatches } from '../support/fake_kafka'
import { tempDirs } from '../support/temp_dirs'
import { makeEvents, random, type PartitionEvents } from '../support/kafka_data'

const CHANNELS = 2
const KEYS = 6
const SIZE = 100
const BOUND = 30
const TOPIC = 'in'
const PARTITIONS = 3

const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 8, outputSize: CHANNELS, seed: 11 })
const pipelineOptions = () => ({ keyCount: KEYS, channels: CHANNELS, window: { size: SIZE }, bound: BOUND, maxFill: 3, forecaster: { model, steps: 3 }, anomaly: { window: 6, warmup: 3, threshold: 1.5 } })

// Per partition: ~10 events per window over 6 keys (gaps: forward-filled rows, and gaps past maxFill), and
// every 9th event 60 behind (late under the per-message watermark: reported, not rows).
const streams: PartitionEvents[] = Array.from({ length: PARTITIONS }, (_, p) => {
  const e = makeEvents(100 + p, 400, 1000 * p, 10 + 3 * p, 25, KEYS, CHANNELS)
  return { ...e, timestamps: e.timestamps.map((t, i) => (i % 9 === 4 ? t - 60 : t)) }
})

const tempDir = tempDirs('sluice-kafka-pipeline-')

/** One message per event (the way the reference feeds the pipeline: one process() per message). */
function messagesOf(events: PartitionEvents, first = 0): { offset: number; value: Buffer }[] {
  return events.timestamps.map((_, i) => ({ offset: first + i, value: encodeBinaryRecords([events.timestamps[i]!], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))
}

function setup(stateDir: string, checkpointInterval = 1e9, idle: { clock?: () => number; idleTimeout?: number } = {}) {
  const consumer = new FakeConsumer(TOPIC)
  const producer = new FakeProducer(consumer.log)
  const processors: PipelineProcessor[] = []
  const adapter = new KafkaConsumerAdapter<PipelineRow>({
    consumer,
    producer,
    decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => {
      const processor = new PipelineProcessor(pipelineOptions())
      processors.push(processor)
      return processor
    },
    stateStore: new FileStateStore(stateDir),
    outputTopic: 'out',
    keyCount: KEYS,
    bound: BOUND,
    checkpointInterval,
    ...idle,
  })
  return { adapter, consumer, producer, processors }
}

type Row = Omit<PipelineRow, 'key' | 'start' | 'end'>

/** Output messages by message key (topic/partition/key/start/end); a key seen twice must carry the same row. */
function rowsOf(producer: FakeProducer): Map<string, Row> {
  const out = new Map<string, Row>()
  for (const [key, values] of producer.results()) {
    for (const value of values) {
      const { count, filled, values: v, forecast, score, flagged } = JSON.parse(value)
      const row = { count, filled, values: v, forecast, score, flagged }
      if (out.has(key)) expect(row, `duplicate ${key} differs`).toEqual(out.get(key))
      out.set(key, row)
    }
  }
  return out
}

/** A result batch's rows as the output topic carries them (JSON: NaN is null). */
function referenceRows(partition: number, batch: ResultBatch, into: Map<string, Row>): void {
  const nullable = (x: number) => (Number.isNaN(x) ? null : x)
  for (let r = 0; r < batch.length; r++) {
    const id = `${TOPIC}/${partition}/${batch.key[r]}/${batch.start[r]}/${batch.end[r]}`
    expect(into.has(id), `reference row ${id} twice`).toBe(false)
    into.set(id, {
      count: batch.count[r]!,
      filled: batch.filled[r] === 1,
      values: Array.from(batch.values.subarray(r * CHANNELS, (r + 1) * CHANNELS), nullable) as number[],
      forecast: Array.from(batch.forecast.subarray(r * CHANNELS, (r + 1) * CHANNELS), nullable) as number[],
      score: nullable(batch.score[r]!) as number,
      flagged: batch.flagged[r] === 1,
    })
  }
}

/** One Pipeline per partition, one process() per message, directly. */
function reference(): { rows: Map<string, Row>; late: number[] } {
  const rows = new Map<string, Row>()
  const late: number[] = []
  streams.forEach((events, p) => {
    const pipeline = new Pipeline({ ...pipelineOptions(), inputs: 1 })
    for (let i = 0; i < events.timestamps.length; i++) {
      const batch = pipeline.process({ timestamps: Float64Array.of(events.timestamps[i]!), keys: Uint32Array.of(events.keys[i]!), values: Float64Array.from(events.values.slice(i * CHANNELS, (i + 1) * CHANNELS)), now: 0 })
      referenceRows(p, batch, rows)
    }
    late.push(pipeline.metrics().lateEvents)
    pipeline.close()
  })
  return { rows, late }
}

const sorted = (rows: Map<string, Row>) => [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

describe('PipelineProcessor in the Kafka adapter', () => {
  const want = reference()

  it('the reference exercises forecasts, scores, flags, forward fill and late events', () => {
    const rows = [...want.rows.values()]
    expect(rows.some((r) => r.filled)).toBe(true)
    expect(rows.some((r) => r.forecast[0] !== null)).toBe(true)
    expect(rows.some((r) => r.score !== null)).toBe(true)
    expect(rows.some((r) => r.flagged)).toBe(true)
    expect(want.late.every((n) => n > 0)).toBe(true)
  })

  it('gives exactly the rows of one Pipeline per partition fed directly, however the partitions are cut into batches', async () => {
    const rnd = random(5)
    for (const sizes of [[1], [13], Array.from({ length: 60 }, () => 1 + Math.floor(rnd() * 40))]) {
      const { adapter, consumer, producer, processors } = setup(tempDir())
      await adapter.run()
      consumer.assign([0, 1, 2])
      // Interleave the partitions batch by batch, as a consumer of all three would.
      const messages = streams.map((events) => messagesOf(events))
      for (let at = 0, s = 0; messages.some((m) => at < m.length); s++) {
        const n = sizes[s % sizes.length]!
        for (let p = 0; p < PARTITIONS; p++) if (at < messages[p]!.length) await consumer.deliver(p, messages[p]!.slice(at, at + n))
        at += n
      }
      expect(sorted(rowsOf(producer)), `batch sizes ${sizes.slice(0, 3)}…`).toEqual(sorted(want.rows))
      expect(processors.map((p) => p.late)).toEqual(want.late)
      await adapter.close()
    }
  })

  it('hands partitions to another consumer: restoring the checkpoint and replaying gives the rows of never stopping', async () => {
    const stateDir = tempDir()
    const first = setup(stateDir)
    await first.adapter.run()
    const messages = streams.map((events) => messagesOf(events))
    for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(first.consumer, p, messages[p]!.slice(0, 170), [17])
    await first.adapter.checkpointAll() // the last checkpoint: offset 170
    for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(first.consumer, p, messages[p]!.slice(170, 260), [30]) // then it dies
    await first.adapter.close()

    const second = setup(stateDir)
    await second.adapter.run()
    for (let p = 0; p < PARTITIONS; p++) await deliverInBatches(second.consumer, p, messages[p]!.slice(170), [23]) // resumes at the committed offset
    expect(second.adapter.metrics().restores).toBe(PARTITIONS)
    // Replayed rows come out twice, identically (rowsOf checks); the union is the uninterrupted rows.
    const merged = new FakeProducer([])
    merged.sent.push(...first.producer.sent, ...second.producer.sent)
    expect(sorted(rowsOf(merged))).toEqual(sorted(want.rows))
    expect(second.processors.map((p) => p.late)).toEqual(want.late)
    await second.adapter.close()
  })

  it('idleness (manual clock): an idle partition follows the combined watermark, giving the rows of its Pipeline advanced to it (advanceTo)', async () => {
    let now = 0
    const { adapter, consumer, producer } = setup(tempDir(), 1e9, { clock: () => now, idleTimeout: 1000 })
    await adapter.run()
    consumer.assign([0, 1, 2])
    const a = streams[0]!, b = makeEvents(12, 60, 0, 10, 20, KEYS, CHANNELS)
    const messagesA = messagesOf(a)
    await deliverInBatches(consumer, 0, messagesA.slice(0, 100), [25])
    await consumer.deliver(1, messagesOf(b))
    now = 1200 // partitions 1 and 2 silent for 1200: idle; partition 0 alone moves the combined watermark
    await deliverInBatches(consumer, 0, messagesA.slice(100), [25])
    const wm0 = Math.max(...a.timestamps) - BOUND - 1
    expect(adapter.watermark).toBe(wm0)

    const pipeline = new Pipeline({ ...pipelineOptions(), inputs: 1 })
    const want1 = new Map<string, Row>()
    for (let i = 0; i < b.timestamps.length; i++) {
      referenceRows(1, pipeline.process({ timestamps: Float64Array.of(b.timestamps[i]!), keys: Uint32Array.of(b.keys[i]!), values: Float64Array.from(b.values.slice(i * CHANNELS, (i + 1) * CHANNELS)), now: 0 }), want1)
    }
    const ownRows = want1.size
    referenceRows(1, pipeline.advanceTo(wm0), want1)
    pipeline.close()
    expect(want1.size).toBeGreaterThan(ownRows) // the combined watermark fired windows partition 1's own could not
    const got = new Map([...rowsOf(producer)].filter(([k]) => k.startsWith(`${TOPIC}/1/`)))
    expect(sorted(got)).toEqual(sorted(want1))
    const got0 = new Map([...rowsOf(producer)].filter(([k]) => k.startsWith(`${TOPIC}/0/`)))
    expect(sorted(got0)).toEqual(sorted(new Map([...want.rows].filter(([k]) => k.startsWith(`${TOPIC}/0/`)))))
    adapter.close()
  })

  it('holds rows back from a snapshot only when advanceWatermark did not take them (ERR_INVALID_STATE), and checks its options', () => {
    const processor = new PipelineProcessor(pipelineOptions())
    const e = streams[0]!
    processor.push({ timestamps: Float64Array.from(e.timestamps.slice(0, 50)), keys: Uint32Array.from(e.keys.slice(0, 50)), values: Float64Array.from(e.values.slice(0, 50 * CHANNELS)) })
    expectSluiceError(() => processor.snapshot(), 'ERR_INVALID_STATE', /not taken/)
    expect(processor.advanceWatermark(-Infinity).length).toBeGreaterThan(0)
    expect(processor.snapshot().length).toBeGreaterThan(0)
    processor.close()
    expectSluiceError(() => new PipelineProcessor(null as never), 'ERR_INVALID_TYPE')
    expectSluiceError(() => new PipelineProcessor({ ...pipelineOptions(), window: { size: 0 } }), 'ERR_OUT_OF_RANGE')
  })

  it('a pipeline snapshot is not a partition snapshot, nor the other way round (ERR_MALFORMED_DATA, naming both kinds)', () => {
    const pipeline = new Pipeline(pipelineOptions())
    try {
      const bytes = pipeline.snapshot()
      expectSluiceError(() => decodePartitionSnapshot(bytes), 'ERR_MALFORMED_DATA', /another kind of object: pipeline, expected kafka-partition$/)
      const partition = encodePartitionSnapshot({ topic: TOPIC, partition: 0, offset: 0, maxTimestamp: -Infinity }, bytes)
      expectSluiceError(() => pipeline.restore(partition), 'ERR_MALFORMED_DATA', /another kind of object: kafka-partition, expected pipeline$/)
      pipeline.restore(decodePartitionSnapshot(partition).processorBytes)
    } finally {
      pipeline.close()
    }
  })
})

describe('Pipeline.advanceTo', () => {
  const events = streams[1]!
  const feed = (pipeline: Pipeline, rows: Map<string, Row>) => {
    for (let i = 0; i < events.timestamps.length; i += 20) {
      const to = Math.min(i + 20, events.timestamps.length)
      referenceRows(1, pipeline.process({ timestamps: Float64Array.from(events.timestamps.slice(i, to)), keys: Uint32Array.from(events.keys.slice(i, to)), values: Float64Array.from(events.values.slice(i * CHANNELS, to * CHANNELS)), now: 0 }), rows)
    }
  }
  // A bound of 10 windows: the pipeline's own watermark stays far behind, so advanceTo has windows to fire.
  const lagging = () => ({ ...pipelineOptions(), bound: 10 * SIZE, window: { size: SIZE, horizon: 16 * SIZE } })

  it('fires what an external watermark closes through the usual rows path: advanceTo then finish gives the rows of finish alone', () => {
    const direct = new Pipeline(lagging())
    const stepped = new Pipeline(lagging())
    const want = new Map<string, Row>(), got = new Map<string, Row>()
    feed(direct, want)
    feed(stepped, got)
    const max = Math.max(...events.timestamps)
    const partial = stepped.advanceTo(max - 4 * SIZE)
    expect(partial.length).toBeGreaterThan(0)
    expect(partial.watermark).toBe(max - 4 * SIZE)
    expect(Math.max(...partial.end)).toBeLessThanOrEqual(max - 4 * SIZE + 1)
    referenceRows(1, partial, got)
    expect(stepped.advanceTo(max - 5 * SIZE).length).toBe(0) // going back changes nothing
    expect(stepped.metrics().watermark).toBe(max - 4 * SIZE)
    referenceRows(1, stepped.finish(), got)
    referenceRows(1, direct.finish(), want)
    expect(sorted(got)).toEqual(sorted(want))
  })

  it('advanceToAsync gives the rows of advanceTo (the model on a worker thread)', async () => {
    const sync = new Pipeline(lagging()), async = new Pipeline(lagging())
    const a = new Map<string, Row>(), b = new Map<string, Row>()
    feed(sync, a)
    feed(async, b)
    const to = Math.max(...events.timestamps) - 2 * SIZE
    const want = sync.advanceTo(to)
    expect(want.forecast.some((x) => !Number.isNaN(x))).toBe(true)
    referenceRows(1, want, a)
    referenceRows(1, await async.advanceToAsync(to), b)
    expect(sorted(b)).toEqual(sorted(a))
    sync.close()
    async.close()
  })

  it('makes later events at or below the watermark late; refuses a non-finite watermark before changing anything', () => {
    const pipeline = new Pipeline(pipelineOptions())
    pipeline.advanceTo(5000)
    const batch = pipeline.process({ timestamps: Float64Array.of(4999, 6000), keys: Uint32Array.of(0, 1), values: new Float64Array(2 * CHANNELS), now: 0 })
    expect(Array.from(batch.late.timestamps)).toEqual([4999])
    expect(batch.watermark).toBe(6000 - BOUND - 1)
    for (const bad of [NaN, Infinity]) expectSluiceError(() => pipeline.advanceTo(bad), 'ERR_INVALID_ARGUMENT')
    expectSluiceError(() => pipeline.advanceTo('1' as never), 'ERR_INVALID_TYPE')
    expect(pipeline.metrics().watermark).toBe(6000 - BOUND - 1)
    pipeline.close()
    expectSluiceError(() => pipeline.advanceTo(6000), 'ERR_INVALID_STATE')
  })
})
