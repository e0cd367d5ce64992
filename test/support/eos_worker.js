#!/usr/bin/env node
// One exactly-once worker for test/kafka/eos_kill.test.ts and bench/kafka.bench.js: an
// @confluentinc/kafka-javascript consumer → KafkaConsumerAdapter (delivery 'exactly-once',
// PipelineProcessor with an LSTM forecaster) → a transactional producer. The producer is wrapped in a
// journal: begin / send / sendOffsets / commit / abort records appended to a file and fsynced, so the test
// can rebuild what the transactions committed, whatever the crash point (librdkafka's mock cluster keeps
// aborted records visible to read_committed readers and ignores offsets sent in transactions). With
// `delivery: 'at-least-once'` it runs the same pipeline with a plain producer (the benchmark's peer).
//
//   node test/support/eos_worker.js '{"brokers":[...],"topic":"in","group":"g","journal":"j.log",...}'
'use strict'
const fs = require('node:fs')
const path = require('node:path')
const { createRequire } = require('node:module')
const { LstmModel } = require('sluice')
const { KafkaConsumerAdapter, PipelineProcessor, FileStateStore, binaryDecoder } = require('sluice/kafka')

const config = JSON.parse(process.argv[2])
const CHANNELS = 2

/** The pipeline every partition runs; the test's reference builds the same one. */
function pipelineOptions() {
  const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: config.hiddenSize ?? 8, outputSize: CHANNELS, seed: 11 })
  return { keyCount: config.keyCount, channels: CHANNELS, window: { size: config.windowSize }, bound: config.bound, maxFill: 3, forecaster: { model, mode: 'state' }, anomaly: { window: 6, warmup: 3, threshold: 1.5 } }
}

const tell = (message) => process.send && process.connected && process.send(message, () => undefined)
const trace = (what) => process.env.SLUICE_EOS_TRACE && console.error(`eos_worker ${config.incarnation} ${Date.now() % 100000} ${what}`)

/** Appends one JSON line and fsyncs it before the call it records goes on (or after, for commit). */
function openJournal(file) {
  const fd = fs.openSync(file, 'a')
  return (record) => {
    fs.writeSync(fd, `${JSON.stringify(record)}\n`)
    fs.fsyncSync(fd)
  }
}

/** A transactional producer whose transactions are journaled; a commit is recorded only once the broker confirmed it. */
function journaled(producer, append, incarnation) {
  let next = 0
  const text = (v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('base64') : String(v))
  return {
    send: (record) => producer.send(record),
    async transaction() {
      const id = `${incarnation}.${next++}`
      trace(`transaction ${id}`)
      const transaction = await producer.transaction()
      append({ t: 'begin', id })
      return {
        async send(record) {
          append({ t: 'send', id, topic: record.topic, messages: record.messages.map((m) => ({ key: text(m.key), value: text(m.value) })) })
          return transaction.send(record)
        },
        async sendOffsets(offsets) {
          append({ t: 'offsets', id, offsets: offsets.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: Number(p.offset) }))) })
          return transaction.sendOffsets(offsets)
        },
        async commit() {
          await transaction.commit()
          append({ t: 'commit', id })
        },
        async abort() {
          append({ t: 'abort', id })
          return transaction.abort()
        },
      }
    },
  }
}

async function main() {
  const from = config.confluentDir ?? process.cwd()
  const { KafkaJS } = createRequire(path.join(from, 'package.json'))('@confluentinc/kafka-javascript')
  const kafka = new KafkaJS.Kafka({ kafkaJS: { clientId: `sluice-eos-${process.pid}`, brokers: config.brokers, logLevel: KafkaJS.logLevel.NOTHING } })
  const consumerConfig = { kafkaJS: { groupId: config.group, fromBeginning: true, autoCommit: false, maxWaitTimeInMs: 20, sessionTimeout: config.sessionTimeout ?? 6000 } }
  if (config.resumeAt) {
    // The mock cluster ignores offsets sent in a transaction: the test hands the offsets of the committed
    // transactions (from the journal) to a fresh group, which is what a broker's group would hold.
    const seed = kafka.consumer(consumerConfig)
    await seed.connect()
    await seed.commitOffsets(config.resumeAt.map(({ partition, offset }) => ({ topic: config.topic, partition, offset: String(offset) })))
    await seed.disconnect()
    trace(`seeded ${JSON.stringify(config.resumeAt)}`)
  }
  const consumer = kafka.consumer(consumerConfig)
  const exactlyOnce = (config.delivery ?? 'exactly-once') === 'exactly-once'
  // One transactionalId for every incarnation of this worker: a restarted one fences the killed one and aborts its open transaction.
  // The at-least-once peer gets the same idempotent producer, without transactions.
  const producer = kafka.producer({ kafkaJS: { ...(exactlyOnce ? { transactionalId: config.transactionalId } : {}), idempotent: true, maxInFlightRequests: 1 } })
  await Promise.all([consumer.connect(), producer.connect()])
  trace('connected')
  await consumer.subscribe({ topic: config.topic })
  const append = config.journal ? openJournal(config.journal) : undefined
  const adapter = new KafkaConsumerAdapter({
    consumer,
    producer: append ? journaled(producer, append, config.incarnation ?? 0) : producer,
    delivery: config.delivery ?? 'exactly-once',
    decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => new PipelineProcessor(pipelineOptions()),
    stateStore: new FileStateStore(config.stateDir),
    outputTopic: config.outputTopic,
    keyCount: config.keyCount,
    bound: config.bound,
    checkpointInterval: config.checkpointInterval ?? 0,
    onError: (error) => {
      trace(`error ${error.message}`)
      tell({ type: 'error', kind: error.kind, message: error.message })
    },
    onBatch: () => {
      const now = Date.now()
      firstBatchAt ||= now
      lastBatchAt = now
    },
  })
  let firstBatchAt = 0
  let lastBatchAt = 0
  const report = () => {
    const { events, batches, checkpoints, checkpointMs, checkpointBytes, batchLatencyP50, batchLatencyP99 } = adapter.metrics()
    tell({ type: 'progress', events, batches, checkpoints, checkpointMs, checkpointBytes, batchLatencyP50, batchLatencyP99, firstBatchAt, lastBatchAt })
  }
  if (config.reportEveryMs) setInterval(report, config.reportEveryMs).unref()
  process.on('message', async (message) => {
    if (message !== 'stop') return
    await adapter.checkpointAll()
    tell({ type: 'final', ...adapter.metrics(), partitions: undefined })
    await consumer.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
    process.exit(0)
  })
  await adapter.run()
  tell({ type: 'running' })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
