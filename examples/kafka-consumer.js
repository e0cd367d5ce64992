#!/usr/bin/env node
// One worker of a consumer group: kafkajs consumer → sluice/kafka adapter (tumbling windows per partition)
// → results topic, with snapshots in a file store. Run several of these with the same group id to scale
// out; kill one and the others take over its partitions from its last checkpoint.
//
//   node examples/kafka-consumer.js '{"brokers":["127.0.0.1:9092"],"topic":"events","group":"sluice"}'
//
// Keys (`keys` in the config):
//   'dense' (default): binary records {timestamp f64, key u32, values f64×channels} little-endian
//     (sluice/kafka's binaryDecoder), ids below keyCount; what bench/kafka.bench.js produces;
//   'bytes': binary records with a length-prefixed byte key {timestamp f64, key length u16, key bytes,
//     values} (binaryDecoder({ keys: 'bytes' }), encodeByteKeyRecords): host names, device ids, any bytes;
//   'message': JSON records {"timestamp", "values"} keyed by the Kafka message key (a string, e.g. the
//     host that sent them; jsonDecoder({ keys: 'string', keyFromMessage: true })).
// With interned keys nobody counts them in advance: the key space grows; maxKeys caps the live keys (a
// message that brings one more is dead-lettered) and keyTtl frees keys idle that long in event time.
// bench/kafka.bench.js starts a loopback mock cluster and N of these workers.
'use strict'
const { Kafka, logLevel } = require('kafkajs')
const { KafkaConsumerAdapter, WindowProcessor, FileStateStore, binaryDecoder, jsonDecoder } = require('sluice/kafka')

const config = {
  topic: 'events',
  group: 'sluice',
  outputTopic: 'events-windows',
  deadLetterTopic: 'events-dead-letters',
  stateDir: './sluice-state',
  channels: 2,
  keys: 'dense', // or 'bytes' or 'message' (see above)
  keyCount: 64, // dense ids only
  maxKeys: undefined, // interned keys: the most live keys (default 2^28)
  keyTtl: 60_000, // interned keys: free a key after this much event time without events
  window: { type: 'tumbling', size: 1000 },
  aggregates: ['count', 'sum', 'min', 'max'],
  bound: 0,
  checkpointInterval: 0,
  sessionTimeout: 6000,
  latency: false, // event timestamps are wall-clock ms of production: report end-to-end latency
  reportEveryMs: 100,
  paused: false,
  ...JSON.parse(process.argv[2] ?? process.env.SLUICE_KAFKA_WORKER ?? '{}'),
}
if (!config.brokers) {
  console.error('usage: node examples/kafka-consumer.js \'{"brokers":["host:port"],"topic":"events","group":"sluice"}\'')
  process.exit(2)
}

const tell = (message) => {
  if (!process.send) console.log(JSON.stringify(message))
  else if (process.connected) process.send(message, (error) => error && undefined) // the parent may be gone
}

async function main() {
  const kafka = new Kafka({ clientId: `sluice-worker-${process.pid}`, brokers: config.brokers, logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: config.group, sessionTimeout: config.sessionTimeout, rebalanceTimeout: config.sessionTimeout, heartbeatInterval: 300, maxWaitTimeInMs: 50 })
  const producer = kafka.producer()
  await Promise.all([consumer.connect(), producer.connect()])
  await consumer.subscribe({ topic: config.topic, fromBeginning: true })

  let stopping = false
  let released = !config.paused
  const latencies = []
  let firstBatchAt = 0
  let lastBatchAt = 0
  const dense = config.keys === 'dense'
  const decoder = dense ? binaryDecoder({ channels: config.channels })
    : config.keys === 'bytes' ? binaryDecoder({ channels: config.channels, keys: 'bytes' })
      : jsonDecoder({ channels: config.channels, keys: 'string', keyFromMessage: true })
  const keyOptions = dense ? { keyCount: config.keyCount }
    : { keys: config.keys === 'bytes' ? 'bytes' : 'string', maxKeys: config.maxKeys, keyTtl: config.keyTtl }
  const adapter = new KafkaConsumerAdapter({
    consumer,
    producer,
    decoder,
    processor: () => new WindowProcessor({ ...config.window, ...keyOptions, channels: config.channels, aggregates: config.aggregates }),
    stateStore: new FileStateStore(config.stateDir),
    outputTopic: config.outputTopic,
    deadLetterTopic: config.deadLetterTopic,
    ...(dense && { keyCount: config.keyCount }),
    bound: config.bound,
    checkpointInterval: config.checkpointInterval,
    onError: (error) => tell({ type: 'error', kind: error.kind, code: error.code, topic: error.topic, partition: error.partition, offset: error.offset, message: error.message }),
    onBatch: ({ events }) => {
      const now = Date.now()
      if (firstBatchAt === 0) firstBatchAt = now
      lastBatchAt = now
      if (config.latency) for (let i = 0; i < events.timestamps.length; i += 16) latencies.push(now - events.timestamps[i])
      if (config.reportEveryMs === 0) tell({ type: 'progress', ...adapter.metrics() })
    },
  })
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => tell({ type: 'assigned', partitions: payload.memberAssignment[config.topic] ?? [] }))
  // kafkajs gives up on errors it deems non-retriable (the mock cluster answers some joins during a
  // rebalance with INVALID_REQUEST): reconnect and run again; the adapter reloads partitions from the store.
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    tell({ type: 'crash', message: payload.error.message, restart: payload.restart })
    if (payload.restart || stopping) return
    const reconnect = async () => {
      try {
        await consumer.disconnect()
        await consumer.connect()
        await consumer.subscribe({ topic: config.topic, fromBeginning: true })
        await adapter.run()
        if (!released) consumer.pause([{ topic: config.topic }])
      } catch (error) {
        tell({ type: 'crash', message: `reconnect failed: ${error.message}` })
        if (!stopping) setTimeout(reconnect, 1000)
      }
    }
    setTimeout(reconnect, 200)
  })

  let reported = -1
  if (config.reportEveryMs > 0) {
    setInterval(() => {
      const metrics = adapter.metrics()
      if (metrics.batches !== reported) tell({ type: 'progress', ...metrics })
      reported = metrics.batches
    }, config.reportEveryMs).unref()
  }

  const stop = async () => {
    if (stopping) return
    stopping = true
    await consumer.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
    const metrics = adapter.metrics()
    const seconds = Math.max(lastBatchAt - firstBatchAt, 1) / 1000
    latencies.sort((a, b) => a - b)
    const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : null)
    tell({ type: 'final', ...metrics, firstBatchAt, lastBatchAt, seconds, eventsPerSecond: metrics.events / seconds, latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) } })
    adapter.close()
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop) // the parent is gone
  process.on('error', () => undefined) // a send racing the parent's exit
  process.on('message', (message) => {
    if (message === 'stop') void stop()
    if (message === 'go') {
      released = true
      try {
        consumer.resume([{ topic: config.topic }])
      } catch {
        // reconnecting after a crash: it runs unpaused once it is back
      }
    }
  })
  await adapter.run()
  // paused: join the group but wait for 'go' (the benchmark starts all workers on a full backlog at once).
  if (config.paused) consumer.pause([{ topic: config.topic }])
  tell({ type: 'running' })
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
