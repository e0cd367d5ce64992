#!/usr/bin/env node
// N worker processes (examples/kafka-consumer.js) in one consumer group over a 4-partition topic of
// librdkafka's loopback mock cluster (started with kcat). Two runs per N:
//   backlog: E events produced up front; events/s per process and in total (first to last batch);
//   live:    events produced at a fixed rate with wall-clock timestamps; end-to-end latency percentiles
//            (produce → decoded, windowed, results produced and checkpointed by a worker).
// Bounded: every run stops after its events or --seconds. Needs kcat (apt-get install kcat) and `npm run build:ts`.
//
//   node bench/kafka.bench.js [--workers 1,2,4] [--events 400000] [--per-message 100] [--rate 50000] [--seconds 30]
//
// --delivery: instead, one worker (test/support/eos_worker.js, @confluentinc/kafka-javascript) runs a
// PipelineProcessor with an LSTM state step over a 4-partition backlog, exactly-once (a transaction per
// checkpoint interval) and at-least-once (commitOffsets per checkpoint) in the same run, alternating;
// events/s from its first to its last batch, checkpoint (snapshot + store + transaction or commit) ms per batch.
//
//   node bench/kafka.bench.js --delivery [--events 400000] [--repeat 2] [--checkpoint-interval 200]
'use strict'
const { fork, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : fallback
}
const workerCounts = arg('workers', '1,2,4').split(',').map(Number)
const totalEvents = Number(arg('events', 400_000))
const perMessage = Number(arg('per-message', 100))
const rate = Number(arg('rate', 50_000))
const liveSeconds = Number(arg('live-seconds', 3))
const limitSeconds = Number(arg('seconds', 30))
const checkpointInterval = Number(arg('checkpoint-interval', 200))
const CHANNELS = 2
const KEYS = 64
const PARTITIONS = 4

if (spawnSync('kcat', ['-V']).status !== 0) {
  console.log('kafka.bench: kcat not found (apt-get install kcat): skipped')
  process.exit(0)
}
const { Kafka, logLevel, CompressionTypes } = require('kafkajs')
const { encodeBinaryRecords } = require('sluice/kafka')

function startMock() {
  return new Promise((resolve, reject) => {
    const child = spawn('kcat', ['-b', 'dummy:9092', '-X', 'test.mock.num.brokers=3', '-d', 'mock', '-C', '-q', '-t', '__keepalive'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    const timer = setTimeout(() => reject(new Error('no mock bootstrap address')), 10_000)
    const onData = (chunk) => {
      log += chunk
      const match = /Mock cluster \S+ bootstrap\.servers=(\S+)/.exec(log)
      if (!match) return
      clearTimeout(timer)
      child.stderr.off('data', onData)
      child.stderr.resume()
      resolve({ child, brokers: match[1].split(',') })
    }
    child.stderr.on('data', onData)
    child.once('exit', () => reject(new Error('kcat exited')))
  })
}

function batchOf(partition, from, n, timestampOf) {
  const ts = new Float64Array(n)
  const keys = new Uint32Array(n)
  const values = new Float64Array(n * CHANNELS)
  for (let i = 0; i < n; i++) {
    ts[i] = timestampOf(from + i)
    keys[i] = (from + i) % KEYS
    values[i * CHANNELS] = (from + i) % 97
    values[i * CHANNELS + 1] = (from + i) % 13
  }
  return { partition, value: encodeBinaryRecords(ts, keys, values, CHANNELS) }
}

// librdkafka's mock cluster keeps at most 5 MiB (or 100,000 message sets) per partition and drops the oldest
// message sets beyond that (rdkafka_mock.c: mpart->max_size, max_cnt; no setting changes them). A backlog of
// 10^6 events is 250,000 per partition, 7 MB uncompressed: the mock deleted its first 2 MB before the worker
// started, which stopped every 10^6 run at ~740,000 events. The backlog is therefore produced gzip-compressed
// (the consumer decompresses it; measured here: see docs/benchmarks.md), and checked to be whole.
async function produceBacklog(producer, admin, topic, perPartition) {
  let sent = 0
  for (let first = 0; first < perPartition; first += perMessage * 50) {
    const messages = []
    for (let p = 0; p < PARTITIONS; p++) {
      for (let m = first; m < Math.min(first + perMessage * 50, perPartition); m += perMessage) messages.push(batchOf(p, m, Math.min(perMessage, perPartition - m), (i) => i))
    }
    sent += messages.length
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages })
  }
  const offsets = await admin.fetchTopicOffsets(topic)
  const lost = offsets.filter(({ low }) => Number(low) > 0)
  const total = offsets.reduce((sum, { high }) => sum + Number(high), 0)
  if (lost.length > 0 || total !== sent) {
    throw new Error(`the mock cluster did not keep the whole backlog of ${topic} (${sent} messages sent; per partition log start..end ${offsets.map(({ partition, low, high }) => `${partition}: ${low}..${high}`).join(', ')}): it keeps 5 MiB per partition`)
  }
}

async function runWorkers(brokers, topic, count, mode, expectedEvents) {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-bench-'))
  const config = {
    brokers, topic, group: `${topic}-group`, outputTopic: `${topic}-out`, deadLetterTopic: `${topic}-dlq`, stateDir,
    channels: CHANNELS, keyCount: KEYS, window: { type: 'tumbling', size: 1000 }, bound: 0, checkpointInterval,
    sessionTimeout: 6000, latency: mode === 'live', reportEveryMs: 100, paused: mode === 'backlog',
  }
  const workers = []
  for (let i = 0; i < count; i++) {
    const child = fork(path.join(__dirname, '..', 'examples', 'kafka-consumer.js'), [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const worker = { child, events: 0, assigned: [], final: undefined, crashes: 0 }
    child.on('error', () => undefined) // a worker that died: its numbers are missing from the table
    child.on('message', (m) => {
      if (m.type === 'progress') worker.events = m.events
      if (m.type === 'assigned') worker.assigned = m.partitions
      if (m.type === 'final') worker.final = m
      if (m.type === 'crash') worker.crashes++
    })
    workers.push(worker)
  }
  return {
    workers,
    go: () => workers.forEach((w) => w.child.connected && w.child.send('go')),
    ready: () => workers.every((w) => w.assigned.length > 0) && workers.reduce((s, w) => s + w.assigned.length, 0) === PARTITIONS,
    done: () => workers.reduce((s, w) => s + w.events, 0) >= expectedEvents,
    async stop() {
      for (const w of workers) if (w.child.connected) w.child.send('stop')
      await waitUntil(() => workers.every((w) => w.final || w.child.exitCode !== null), 10_000)
      for (const w of workers) w.child.kill('SIGKILL')
      fs.rmSync(stateDir, { recursive: true, force: true })
      return workers.map((w) => w.final)
    },
  }
}

async function waitUntil(condition, ms) {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  return condition()
}

// One eos_worker per delivery mode over the same kind of backlog (a topic each), alternating modes.
async function deliveryRuns(brokers, producer, admin) {
  const { createRequire } = require('node:module')
  const from = process.env.SLUICE_CONFLUENT_KAFKA_DIR ? path.resolve(process.env.SLUICE_CONFLUENT_KAFKA_DIR) : path.join(__dirname, '..')
  try {
    createRequire(path.join(from, 'package.json')).resolve('@confluentinc/kafka-javascript')
  } catch {
    console.log(`kafka.bench --delivery: @confluentinc/kafka-javascript not found from ${from} (see .ci/run, or set SLUICE_CONFLUENT_KAFKA_DIR): skipped`)
    return
  }
  const repeat = Number(arg('repeat', 2))
  const perPartition = Math.floor(totalEvents / PARTITIONS)
  const rows = []
  for (let r = 0; r < repeat; r++) {
    for (const delivery of ['exactly-once', 'at-least-once']) {
      const topic = `bench-${delivery}-${r}`
      await produceBacklog(producer, admin, topic, perPartition)
      const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-bench-'))
      const config = {
        brokers, topic, group: `${topic}-group`, outputTopic: `${topic}-out`, stateDir, confluentDir: from, delivery, transactionalId: `${topic}-tx`,
        keyCount: KEYS, windowSize: 1000, bound: 0, checkpointInterval, reportEveryMs: 100,
      }
      const child = fork(path.join(__dirname, '..', 'test', 'support', 'eos_worker.js'), [JSON.stringify(config)], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      let progress = { events: 0 }
      child.on('message', (m) => {
        if (m.type === 'progress') progress = m
      })
      const finished = await waitUntil(() => progress.events >= perPartition * PARTITIONS, limitSeconds * 1000)
      child.kill('SIGKILL')
      fs.rmSync(stateDir, { recursive: true, force: true })
      const seconds = (progress.lastBatchAt - progress.firstBatchAt) / 1000
      rows.push({
        delivery, events: progress.events, finished, eventsPerSecond: Math.round(progress.events / seconds), batches: progress.batches,
        checkpoints: progress.checkpoints, checkpointMsPerBatch: +(progress.checkpointMs / progress.batches).toFixed(3),
        checkpointKBPerBatch: +(progress.checkpointBytes / progress.batches / 1024).toFixed(1),
        batchMsP50: +progress.batchLatencyP50.toFixed(1), batchMsP99: +progress.batchLatencyP99.toFixed(1),
      })
    }
  }
  console.log(`\nPipelineProcessor (tumbling 1000, LSTM state step, hidden 8) over librdkafka's mock cluster, one worker, ${PARTITIONS} partitions, ${perMessage} records/message, ${KEYS} keys, checkpoint every ${checkpointInterval} ms, ${os.cpus().length} CPUs`)
  console.table(rows)
}

async function main() {
  const { child: kcat, brokers } = await startMock()
  if (process.argv.includes('--delivery')) {
    const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    const admin = kafka.admin()
    await Promise.all([producer.connect(), admin.connect()])
    try {
      await deliveryRuns(brokers, producer, admin)
    } finally {
      await producer.disconnect().catch(() => undefined)
      await admin.disconnect().catch(() => undefined)
      kcat.kill()
    }
    return
  }
  const kafka = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  const admin = kafka.admin()
  await Promise.all([producer.connect(), admin.connect()])
  const rows = []
  try {
    for (const count of workerCounts) {
      // Backlog: throughput.
      const topic = `bench-backlog-${count}`
      const perPartition = Math.floor(totalEvents / PARTITIONS)
      await produceBacklog(producer, admin, topic, perPartition)
      const backlog = await runWorkers(brokers, topic, count, 'backlog', perPartition * PARTITIONS)
      await waitUntil(backlog.ready, limitSeconds * 1000)
      await new Promise((r) => setTimeout(r, 1000)) // let the group settle (no late rebalance)
      backlog.go()
      const finished = await waitUntil(backlog.done, limitSeconds * 1000)
      const crashes = backlog.workers.reduce((s, w) => s + w.crashes, 0)
      const finals = await backlog.stop()
      const perProcess = finals.map((f) => (f ? Math.round(f.eventsPerSecond) : 0))
      const busy = finals.filter((f) => f && f.events > 0)
      const first = Math.min(...busy.map((f) => f.firstBatchAt))
      const last = Math.max(...busy.map((f) => f.lastBatchAt))
      const events = finals.reduce((s, f) => s + (f ? f.events : 0), 0)
      rows.push({ workers: count, run: 'backlog', events, finished, crashes, perProcess: perProcess.join(' / '), total: Math.round(events / ((last - first) / 1000)) })

      // Live: latency at a fixed rate.
      const liveTopic = `bench-live-${count}`
      const live = await runWorkers(brokers, liveTopic, count, 'live', 0)
      await waitUntil(live.ready, limitSeconds * 1000)
      const tick = 20
      const perTick = Math.max(1, Math.round((rate * tick) / 1000 / PARTITIONS))
      const start = Date.now()
      let sent = 0
      for (let k = 0; Date.now() - start < liveSeconds * 1000; k++) {
        const messages = []
        for (let p = 0; p < PARTITIONS; p++) for (let m = 0; m < perTick; m += perMessage) messages.push(batchOf(p, k * perTick + m, Math.min(perMessage, perTick - m), () => Date.now()))
        await producer.send({ topic: liveTopic, messages })
        sent += perTick * PARTITIONS
        const wait = start + (k + 1) * tick - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      }
      await waitUntil(() => live.workers.reduce((s, w) => s + w.events, 0) >= sent, 10_000)
      const liveFinals = await live.stop()
      const lat = liveFinals.filter(Boolean).map((f) => f.latencyMs)
      const worst = (q) => Math.max(...lat.map((l) => l[q] ?? 0))
      rows.push({ workers: count, run: `live ${Math.round(sent / liveSeconds)}/s`, events: liveFinals.reduce((s, f) => s + (f ? f.events : 0), 0), finished: true, perProcess: '', total: '', p50: worst('p50'), p95: worst('p95'), p99: worst('p99'), max: worst('max') })
    }
  } finally {
    await producer.disconnect().catch(() => undefined)
    await admin.disconnect().catch(() => undefined)
    kcat.kill()
  }
  console.log(`\nsluice/kafka over librdkafka's mock cluster (loopback, ${PARTITIONS} partitions, ${perMessage} records/message, ${CHANNELS} channels, ${KEYS} keys, tumbling 1000, checkpoint every ${checkpointInterval} ms, ${os.cpus().length} CPUs)`)
  console.log('latency: produce → processed, results produced (worst worker, ms)')
  console.table(rows)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
