// Exactly-once output over a Kafka-protocol broker with @confluentinc/kafka-javascript (transactions):
// a worker (test/support/eos_worker.js: PipelineProcessor with an LSTM state step, delivery 'exactly-once') is
// killed with SIGKILL at 20 random points and restarted each time; what its transactions committed must
// equal one uninterrupted naive run: every row once, none missing.
//
// librdkafka's mock cluster (kcat) runs the transaction calls but neither hides aborted records from
// read_committed readers nor stores offsets sent in a transaction. So on the mock the committed output is
// rebuilt from the worker's journal (begin/send/sendOffsets/commit/abort, fsynced; a transaction counts
// only with its commit record, written once commit() resolved) and each restart is handed the offsets of
// the committed transactions (what a broker's group would hold). With SLUICE_KAFKA_BROKERS set to a real
// broker, the same run also reads the output topic with a read_committed consumer and checks it the same way,
// and restarts resume from the group's own offsets.
import { fork, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { LstmModel, Pipeline, type ResultBatch } from '../../lib/index'
import { FileStateStore, KafkaConsumerAdapter, KafkaStateStore, WindowProcessor, binaryDecoder, decodePartitionSnapshot, encodeBinaryRecords, type StateStore, type TransactionalProducer, type WindowResult } from '../../lib/kafka/index'
import { repoRoot } from '../helpers'
import { kafkaClients, loadConfluentKafka } from '../support/kafka_clients'
import { collectTopic, makeEvents, random, slice, waitFor, type PartitionEvents } from '../support/kafka_data'
import { kcatMissingReason, startMockCluster, type MockCluster } from '../support/mock_kafka'

const realBrokers = process.env.SLUICE_KAFKA_BROKERS?.split(',').filter(Boolean)
const confluent = kafkaClients().find((c) => c.name === '@confluentinc/kafka-javascript')!
const skipReason = confluent.skipReason ?? (realBrokers ? undefined : kcatMissingReason())
if (skipReason) console.warn(`exactly-once broker tests skipped: ${skipReason}`)

const CHANNELS = 2
const KEYS = 6
const SIZE = 100
const BOUND = 30
const PARTITIONS = 4
const EVENTS = 12000 // per partition: enough that the 20 short-lived incarnations leave work for the last one (exactly-once got faster: 4000 ran out after 16)
const PER_MESSAGE = 4
const KILLS = 20

const streams: PartitionEvents[] = Array.from({ length: PARTITIONS }, (_, p) => makeEvents(900 + p, EVENTS, 2000 * p, 10 + p, 25, KEYS, CHANNELS))

type Row = { count: number; filled: boolean; values: (number | null)[]; forecast: (number | null)[]; score: number | null; flagged: boolean }

/** One Pipeline per partition fed each message directly (the worker's pipeline options), rows keyed as the adapter keys them. */
function referenceRows(topic: string): Map<string, Row> {
  const model = LstmModel.create({ inputSize: CHANNELS, hiddenSize: 8, outputSize: CHANNELS, seed: 11 })
  const rows = new Map<string, Row>()
  const nullable = (x: number) => (Number.isNaN(x) ? null : x)
  const add = (p: number, batch: ResultBatch) => {
    for (let r = 0; r < batch.length; r++) {
      const id = `${topic}/${p}/${batch.key[r]}/${batch.start[r]}/${batch.end[r]}`
      expect(rows.has(id), `reference row ${id} twice`).toBe(false)
      rows.set(id, {
        count: batch.count[r]!, filled: batch.filled[r] === 1,
        values: Array.from(batch.values.subarray(r * CHANNELS, (r + 1) * CHANNELS), nullable), forecast: Array.from(batch.forecast.subarray(r * CHANNELS, (r + 1) * CHANNELS), nullable),
        score: nullable(batch.score[r]!), flagged: batch.flagged[r] === 1,
      })
    }
  }
  streams.forEach((events, p) => {
    const pipeline = new Pipeline({ keyCount: KEYS, channels: CHANNELS, window: { size: SIZE }, bound: BOUND, maxFill: 3, forecaster: { model, mode: 'state' }, anomaly: { window: 6, warmup: 3, threshold: 1.5 }, inputs: 1 })
    for (let i = 0; i < EVENTS; i += PER_MESSAGE) {
      const part = slice(events, i, Math.min(i + PER_MESSAGE, EVENTS), CHANNELS)
      add(p, pipeline.process({ timestamps: Float64Array.from(part.timestamps), keys: Uint32Array.from(part.keys), values: Float64Array.from(part.values), now: 0 }))
    }
    pipeline.close()
  })
  model.close?.()
  return rows
}

interface JournalRecord { t: 'begin' | 'send' | 'offsets' | 'commit' | 'abort'; id: string; topic?: string; messages?: { key: string | null; value: string | null }[]; offsets?: { partition: number; offset: number }[] }

/** The journal's transactions: committed output messages in order, committed offsets, and how many never committed. A torn last line (killed mid-write) is ignored. */
function readJournal(file: string, outputTopic: string) {
  const records: JournalRecord[] = []
  for (const line of fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n') : []) {
    try {
      if (line) records.push(JSON.parse(line))
    } catch {
      // the last line of a killed worker
    }
  }
  const committed = new Set(records.filter((r) => r.t === 'commit').map((r) => r.id))
  const begun = new Set(records.filter((r) => r.t === 'begin').map((r) => r.id))
  const output: { key: string; value: string }[] = []
  const everySent: string[] = []
  const offsets = new Map<number, number>()
  for (const r of records) {
    if (r.t === 'send' && r.topic === outputTopic) {
      for (const m of r.messages!) everySent.push(m.key!)
      if (committed.has(r.id)) for (const m of r.messages!) output.push({ key: m.key!, value: m.value! })
    }
    if (r.t === 'offsets' && committed.has(r.id)) for (const o of r.offsets!) offsets.set(o.partition, o.offset)
  }
  return { output, offsets, everySent, transactions: begun.size, uncommitted: [...begun].filter((id) => !committed.has(id)).length }
}

/** Output messages → rows by key; a key twice is a duplicate (reported, not merged). */
function rowsOf(messages: { key: string; value: string }[]): { rows: Map<string, Row>; duplicates: string[] } {
  const rows = new Map<string, Row>()
  const duplicates: string[] = []
  for (const { key, value } of messages) {
    if (rows.has(key)) duplicates.push(key)
    const { count, filled, values, forecast, score, flagged } = JSON.parse(value)
    rows.set(key, { count, filled, values, forecast, score, flagged })
  }
  return { rows, duplicates }
}

describe.skipIf(skipReason !== undefined)(`exactly-once output with @confluentinc/kafka-javascript transactions (${realBrokers ? 'SLUICE_KAFKA_BROKERS' : 'librdkafka mock cluster via kcat'})`, () => {
  let cluster: MockCluster | undefined
  let brokers: string[]
  const confluentDir = process.env.SLUICE_CONFLUENT_KAFKA_DIR ? path.resolve(process.env.SLUICE_CONFLUENT_KAFKA_DIR) : repoRoot

  beforeAll(async () => {
    if (realBrokers) brokers = realBrokers
    else {
      cluster = await startMockCluster(3)
      brokers = cluster.brokers
    }
  })
  afterAll(async () => {
    await cluster?.stop()
  })

  it(`a worker killed (SIGKILL) at ${KILLS} random points and restarted each time commits exactly the rows of one uninterrupted run`, { timeout: 300_000 }, async () => {
    const topic = `eos-${process.pid}-${Date.now() % 100000}`
    const outputTopic = `${topic}-out`
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-eos-'))
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
    const journal = path.join(dir, 'journal.log')

    const producer = confluent.producer(brokers)
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const messages = streams.flatMap((events, p) => {
      const out: { partition: number; value: Buffer }[] = []
      for (let i = 0; i < EVENTS; i += PER_MESSAGE) {
        const part = slice(events, i, Math.min(i + PER_MESSAGE, EVENTS), CHANNELS)
        out.push({ partition: p, value: encodeBinaryRecords(part.timestamps, part.keys, part.values, CHANNELS) })
      }
      return out
    })
    for (let i = 0; i < messages.length; i += 250) await producer.send({ topic, messages: messages.slice(i, i + 250) })
    const ends = new Map(streams.map((_, p) => [p, Math.ceil(EVENTS / PER_MESSAGE)]))

    const start = (incarnation: number): ChildProcess => {
      const { offsets } = readJournal(journal, outputTopic)
      const config = {
        brokers, topic, outputTopic, journal, incarnation, confluentDir, stateDir: path.join(dir, 'state'),
        transactionalId: `${topic}-worker`, keyCount: KEYS, windowSize: SIZE, bound: BOUND, checkpointInterval: 40,
        // Mock: a fresh group per incarnation, seeded with the journal's committed offsets (the mock keeps none of a transaction's).
        group: realBrokers ? `${topic}-group` : `${topic}-group-${incarnation}`,
        resumeAt: realBrokers ? undefined : [...offsets].map(([partition, offset]) => ({ partition, offset })),
      }
      const child = fork(path.join(repoRoot, 'test', 'support', 'eos_worker.js'), [JSON.stringify(config)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      onTestFinished(() => void child.kill('SIGKILL'))
      return child
    }
    const committedToEnd = () => {
      const { offsets } = readJournal(journal, outputTopic)
      return [...ends].every(([p, end]) => offsets.get(p) === end)
    }
    const begins = () => (fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.includes('"t":"begin"')).length : 0)

    const rnd = random(2026)
    for (let kill = 0; kill < KILLS; kill++) {
      const before = begins()
      const child = start(kill)
      const exited = new Promise((resolve) => child.once('exit', resolve))
      await waitFor(() => begins() > before || committedToEnd(), 60_000, `incarnation ${kill} to open a transaction`)
      expect(committedToEnd(), `the input ran out after ${kill} kills`).toBe(false)
      // A random point after its first transaction began: before, between or after its commits.
      await new Promise((resolve) => setTimeout(resolve, rnd() * 120))
      child.kill('SIGKILL')
      await exited
    }
    const last = start(KILLS)
    await waitFor(committedToEnd, 120_000, 'the last incarnation to commit every partition to its end')
    last.kill('SIGKILL')

    const { output, everySent, transactions, uncommitted } = readJournal(journal, outputTopic)
    const want = referenceRows(topic)
    const { rows, duplicates } = rowsOf(output)
    expect(duplicates).toEqual([])
    expect(rows.size).toBe(want.size)
    expect(new Map([...rows].sort())).toEqual(new Map([...want].sort()))
    // The kills landed inside transactions: their rows were sent again by the next incarnation, so the
    // output without the transaction boundaries would hold duplicates.
    expect(uncommitted).toBeGreaterThan(0)
    expect(everySent.length).toBeGreaterThan(output.length)
    console.log(`exactly-once kill test: ${transactions} transactions, ${uncommitted} never committed, ${everySent.length - output.length} rows sent in them, ${output.length} rows committed`)

    if (realBrokers) {
      // A real broker hides what aborted transactions wrote: a read_committed reader sees the same rows.
      const { module } = loadConfluentKafka()
      const { Kafka } = module!.KafkaJS
      const reader = new Kafka({ kafkaJS: { brokers, logLevel: module!.KafkaJS.logLevel.NOTHING } }).consumer({ kafkaJS: { groupId: `${topic}-reader`, fromBeginning: true }, 'isolation.level': 'read_committed' })
      await reader.connect()
      onTestFinished(() => reader.disconnect())
      await reader.subscribe({ topic: outputTopic })
      const read: { key: string; value: string }[] = []
      await reader.run({ eachMessage: async ({ message }: { message: { key: Buffer; value: Buffer } }) => void read.push({ key: message.key.toString(), value: message.value.toString() }) })
      await waitFor(() => read.length >= want.size, 60_000, 'the read_committed reader to see every row')
      await new Promise((resolve) => setTimeout(resolve, 2000)) // duplicates would arrive after the last row
      const seen = rowsOf(read)
      expect(seen.duplicates).toEqual([])
      expect(new Map([...seen.rows].sort())).toEqual(new Map([...want].sort()))
    }
  })

  it('a second member joining the group revokes the first one\'s partitions: its open transaction aborts in the rebalance callback, before the new assignment arrives', { timeout: 90_000 }, async () => {
    const topic = `eos-rebalance-${process.pid}-${Date.now() % 100000}`
    const group = `${topic}-group`
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-eos-rebalance-'))
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
    const producer = confluent.producer(brokers)
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const perPartition = 200
    const messages = streams.flatMap((events, p) => {
      const out: { partition: number; value: Buffer }[] = []
      for (let i = 0; i < perPartition; i += PER_MESSAGE) {
        const part = slice(events, i, i + PER_MESSAGE, CHANNELS)
        out.push({ partition: p, value: encodeBinaryRecords(part.timestamps, part.keys, part.values, CHANNELS) })
      }
      return out
    })
    await producer.send({ topic, messages })

    // What happened, in order: the first member's transaction calls and its client's rebalance callbacks.
    const log: string[] = []
    const member = async (name: string, logged: boolean) => {
      const consumer = confluent.consumer(brokers, { groupId: group, maxWaitTimeInMs: 50, heartbeatInterval: 300, sessionTimeout: 8000, rebalanceTimeout: 8000 })
      await consumer.connect()
      onTestFinished(() => consumer.disconnect().catch(() => undefined))
      await consumer.subscribe({ topic })
      const transactional = confluent.producer(brokers, { transactionalId: `${topic}-${name}` })
      await transactional.connect()
      onTestFinished(() => transactional.disconnect().catch(() => undefined))
      const note = (what: string) => logged && log.push(what)
      if (logged) {
        // The adapter handles a revocation on its queue, after the callback: this entry comes first.
        ;(consumer as unknown as { _getInternalClient(): NodeJS.EventEmitter })._getInternalClient().on('rebalance', (error: { code: number }, assignment: unknown[]) => note(`${error.code === -174 ? 'revoke' : 'assign'} ${assignment.length}`))
      }
      const producer: TransactionalProducer = {
        send: (record) => transactional.send(record),
        async transaction() {
          const transaction = await transactional.transaction()
          note('begin')
          return {
            send: (record) => transaction.send(record),
            sendOffsets: (offsets) => transaction.sendOffsets(offsets),
            commit: async () => { note('commit'); return transaction.commit() },
            abort: async () => { note('abort'); return transaction.abort() },
          }
        },
      }
      const adapter = new KafkaConsumerAdapter<WindowResult>({
        consumer, producer, delivery: 'exactly-once', decoder: binaryDecoder({ channels: CHANNELS }),
        processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS }),
        stateStore: new FileStateStore(path.join(dir, name)), outputTopic: `${topic}-out`, keyCount: KEYS, bound: BOUND,
        checkpointInterval: 1e9, // nothing commits on its own: only a rebalance ends the transaction
        onError: () => undefined,
      })
      void adapter.run()
      onTestFinished(() => adapter.close())
      return adapter
    }
    const first = await member('a', true)
    await waitFor(() => first.metrics().events === PARTITIONS * perPartition, 30_000, 'the first member to consume every partition')
    expect(log.filter((l) => !l.startsWith('assign'))).toEqual(['begin'])
    await member('b', false)
    await waitFor(() => log.includes('abort'), 30_000, 'the first member to abort')
    await waitFor(() => log.slice(log.indexOf('abort')).some((l) => l.startsWith('assign')), 30_000, 'the first member\'s new assignment')
    // Eager protocol: everything is revoked, the transaction aborts at once, then the new share is assigned.
    // (The client emits each callback twice: its librdkafka binding, then its KafkaJS layer.)
    const after = log.slice(log.indexOf('begin')).filter((entry, i, all) => entry !== all[i - 1])
    expect(after.slice(0, 3)).toEqual(['begin', `revoke ${PARTITIONS}`, 'abort'])
    expect(after[3]).toMatch(/^assign [1-3]$/)
    expect(after).not.toContain('commit')
  })

  it('idleTimeout: an idle partition\'s windows fire into transactions that also write its checkpoint record again at its committed offset (KafkaStateStore through the transaction); a fresh reader restores the last one', { timeout: 90_000 }, async () => {
    const topic = `eos-idle-${process.pid}-${Date.now() % 100000}`
    const stateTopic = `${topic}-state`
    const outputTopic = `${topic}-out`
    const plain = confluent.producer(brokers)
    await plain.connect()
    onTestFinished(() => plain.disconnect())
    await plain.send({ topic: stateTopic, messages: [{ key: 'created', value: null }] }) // the state topic exists before it is read
    const encode = (events: PartitionEvents, from: number, to: number) => {
      const part = slice(events, from, to, CHANNELS)
      return encodeBinaryRecords(part.timestamps, part.keys, part.values, CHANNELS)
    }
    const idle = makeEvents(41, 40, 0, 10, BOUND, KEYS, CHANNELS) // partition 1: one message, then nothing
    const moving = makeEvents(42, 300, 0, 10, BOUND, KEYS, CHANNELS) // partition 0: one message of 10 every 100 ms
    await plain.send({ topic, messages: [{ partition: 1, value: encode(idle, 0, 40) }] })

    const openStore = async (reader: string) => {
      const consumer = confluent.stateConsumer(brokers, reader)
      const admin = confluent.admin(brokers)
      await Promise.all([consumer.connect(), admin.connect()])
      onTestFinished(async () => {
        await consumer.disconnect()
        await admin.disconnect()
      })
      return new KafkaStateStore({ topic: stateTopic, producer: plain, consumer, admin, timeoutMs: 10_000 })
    }
    const store = await openStore(`${topic}-state-a`)
    // Every checkpoint record put at partition 1's offset, in order.
    const puts: Uint8Array[] = []
    const recording: StateStore = {
      transactional: true,
      put: (t, p, offset, bytes, transaction) => {
        if (p === 1) puts.push(bytes)
        return store.put(t, p, offset, bytes, transaction)
      },
      get: (t, p, offset) => store.get(t, p, offset),
      prune: (t, p, keepFrom) => store.prune(t, p, keepFrom),
    }
    const consumer = confluent.consumer(brokers, { groupId: `${topic}-group`, maxWaitTimeInMs: 50, heartbeatInterval: 300, sessionTimeout: 8000, rebalanceTimeout: 8000 })
    await consumer.connect()
    onTestFinished(() => consumer.disconnect().catch(() => undefined))
    await consumer.subscribe({ topic })
    const transactional = confluent.producer(brokers, { transactionalId: `${topic}-tx` })
    await transactional.connect()
    onTestFinished(() => transactional.disconnect().catch(() => undefined))
    const errors: string[] = []
    // Sliding windows: several are open past partition 1's own watermark, and fire only once it is idle.
    const windows = () => new WindowProcessor({ type: 'sliding', size: SIZE, slide: 10, keyCount: KEYS, channels: CHANNELS })
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer: transactional, delivery: 'exactly-once', decoder: binaryDecoder({ channels: CHANNELS }), processor: windows,
      stateStore: recording, outputTopic, keyCount: KEYS, bound: BOUND, idleTimeout: 1000, checkpointInterval: 100, onError: (e) => errors.push(e.message),
    })
    void adapter.run()
    onTestFinished(() => adapter.close())
    await waitFor(() => adapter.metrics().partitions.some((p) => p.partition === 1 && p.committedOffset === 1), 30_000, 'partition 1 to be consumed and committed')
    const before = adapter.metrics().partitions.find((p) => p.partition === 1)!.results
    for (let i = 0; i < 30; i++) {
      await plain.send({ topic, messages: [{ partition: 0, value: encode(moving, i * 10, i * 10 + 10) }] })
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    await waitFor(() => adapter.metrics().partitions.some((p) => p.partition === 0 && p.committedOffset === 30), 30_000, 'partition 0 to be committed to its end')
    expect(errors).toEqual([])
    const p1 = adapter.metrics().partitions.find((p) => p.partition === 1)!
    expect(p1.results).toBeGreaterThan(before) // windows fired while it was idle, its offset still 1
    expect(p1.committedOffset).toBe(1)
    expect(puts.length).toBeGreaterThanOrEqual(2) // two checkpoints or more at offset 1

    // The output: each of partition 1's windows once, all of them (each event in SIZE / 10 windows).
    const out = await collectTopic(brokers, outputTopic, (byKey) => [...byKey.keys()].filter((k) => k.startsWith(`${topic}/1/`)).length > 0)
    const mine = [...out].filter(([key]) => key.startsWith(`${topic}/1/`))
    expect(mine.every(([, list]) => list.length === 1)).toBe(true)
    expect(mine.reduce((sum, [, [m]]) => sum + JSON.parse(m!.value.toString()).count, 0)).toBe((SIZE / 10) * idle.timestamps.length)

    // A fresh reader of the state topic restores the last record at offset 1: nothing is left to fire. The
    // first one (before the idle windows fired) would fire them again.
    const fresh = await (await openStore(`${topic}-state-b`)).get(topic, 1, 1)
    expect(Buffer.from(fresh!.bytes)).toEqual(Buffer.from(puts.at(-1)!))
    const firedAfterRestore = (bytes: Uint8Array) => {
      const processor = windows()
      processor.restore(decodePartitionSnapshot(bytes).processorBytes)
      const fired = processor.advanceWatermark(1e9).length
      processor.close()
      return fired
    }
    expect(firedAfterRestore(fresh!.bytes)).toBe(0)
    expect(firedAfterRestore(puts[0]!)).toBeGreaterThan(0)
  })
})

// Needs only kcat: kafkajs is a devDependency.
describe.skipIf(realBrokers !== undefined || kcatMissingReason() !== undefined)('kafkajs transactions against the mock cluster', () => {
  it('fail in the transactional producer\'s connect() (the mock names controller 0, its brokers count from 1)', async () => {
    const cluster = await startMockCluster(3)
    onTestFinished(() => cluster.stop())
    const kafkajs = kafkaClients().find((c) => c.name === 'kafkajs')!
    const producer = kafkajs.producer(cluster.brokers, { transactionalId: `kafkajs-${process.pid}` })
    onTestFinished(() => producer.disconnect().catch(() => undefined))
    await expect(producer.connect()).rejects.toThrow(/Broker 0 not found in the cached metadata/)
  })
})
