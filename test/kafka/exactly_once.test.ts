// Exactly-once delivery without a broker: an in-memory transactional producer that makes sent messages and
// offsets visible only when its transaction commits (what a broker shows a read_committed reader), driven
// by the in-memory consumer. The broker tests (broker.test.ts, eos_kill.test.ts) repeat this over Kafka.
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { FileStateStore, IncrementalStateStore, KafkaConsumerAdapter, KafkaStateStore, WindowProcessor, binaryDecoder, decodePartitionSnapshot, encodeBinaryRecords, type ProducedMessage, type SluiceKafkaError, type StateStore, type TransactionOffsets, type WindowResult, type EachBatchPayload } from '../../lib/kafka/index'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, deliverInBatches } from '../support/fake_kafka'
import { makeEvents, referenceWindows, type PartitionEvents } from '../support/kafka_data'
import { tempDirs } from '../support/temp_dirs'

const CHANNELS = 2
const KEYS = 8
const SIZE = 100
const BOUND = 30
const TOPIC = 'in'
const tempDir = tempDirs('sluice-kafka-eos-')

/** The broker side: committed messages and group offsets, as a read_committed reader and a restarted consumer see them. */
class FakeTransactionBroker {
  readonly committed: { topic: string; message: ProducedMessage }[] = []
  readonly groupOffsets = new Map<number, number>()
  readonly log: string[] = []
  aborted = 0
  /** Makes the n-th commit() from now fail (1 = the next one). */
  failCommitIn = 0
  /** Makes the n-th send() into a transaction from now fail (a message that timed out). */
  failSendIn = 0
  /** commit() calls so far; the one numbered hangAt never returns (the worker dies in it, before the broker got it) and onHang is called. */
  commits = 0
  hangAt = 0
  onHang?: () => void
  hang(): Promise<never> {
    this.onHang?.()
    return new Promise<never>(() => undefined)
  }
}

class FakeTransactionalProducer {
  constructor(private readonly broker: FakeTransactionBroker) {}
  async send(): Promise<void> {
    throw new Error('exactly-once must send through the transaction')
  }
  async transaction() {
    const { broker } = this
    const pending: { topic: string; message: ProducedMessage }[] = []
    let offsets: TransactionOffsets | undefined
    broker.log.push('begin')
    return {
      send: async (record: { topic: string; messages: ProducedMessage[] }) => {
        await new Promise((resolve) => setImmediate(resolve)) // delivered later, as a client lingers
        if (broker.failSendIn > 0 && --broker.failSendIn === 0) throw new Error('Local: Message timed out')
        for (const message of record.messages) pending.push({ topic: record.topic, message })
      },
      sendOffsets: async (o: TransactionOffsets) => {
        offsets = o
        broker.log.push(`offsets ${o.topics.flatMap((t) => t.partitions.map((p) => `${p.partition}@${p.offset}`)).join(',')}`)
      },
      commit: async () => {
        if (++broker.commits === broker.hangAt) return broker.hang()
        if (broker.failCommitIn > 0 && --broker.failCommitIn === 0) throw new Error('coordinator went away')
        broker.committed.push(...pending)
        for (const t of offsets?.topics ?? []) for (const p of t.partitions) broker.groupOffsets.set(p.partition, Number(p.offset))
        broker.log.push('commit')
      },
      abort: async () => {
        broker.aborted++
        broker.log.push('abort')
      },
    }
  }
}

/** The in-memory consumer, with seek() recorded so the test resumes where the adapter asked. */
class SeekingConsumer extends FakeConsumer {
  readonly seeks: { partition: number; offset: string }[] = []
  seek(position: { topic: string; partition: number; offset: string }): void {
    this.seeks.push({ partition: position.partition, offset: position.offset })
  }
}

/**
 * A KafkaStateStore over the broker's committed records of topic 'state' (what its read_committed reader
 * sees): records put through a transaction appear once it committed, never if it aborted. A new store reads
 * the topic from the beginning, as a restarted worker's does.
 */
function committedStateStore(broker: FakeTransactionBroker): KafkaStateStore {
  let eachMessage: ((payload: { partition: number; message: { offset: string; key: Buffer | null; value: Buffer | null } }) => Promise<void>) | undefined
  let read = 0
  const records = () => broker.committed.filter((c) => c.topic === 'state')
  return new KafkaStateStore({
    topic: 'state',
    // Its own producer sends only tombstones of pruned snapshots (outside transactions).
    producer: { send: async (record) => void broker.committed.push(...record.messages.map((message) => ({ topic: record.topic, message }))) },
    consumer: { subscribe: async () => undefined, run: async (options) => void (eachMessage = options.eachMessage) },
    admin: {
      fetchTopicOffsets: async () => {
        const all = records()
        for (; read < all.length; read++) {
          const { key, value } = all[read]!.message
          await eachMessage!({ partition: 0, message: { offset: String(read), key: Buffer.from(String(key)), value: value === null ? null : Buffer.from(value) } })
        }
        return [{ partition: 0, high: String(all.length) }]
      },
    },
  })
}

/** idle: sliding windows (several open past a partition's own watermark, to fire one by one once it is idle), a manual clock, idleTimeout. */
function setup(broker: FakeTransactionBroker, stateDir: string, checkpointInterval = 0, fullEvery = 1, idle?: { store: StateStore; clock: () => number; idleTimeout: number; slide: number }) {
  const consumer = new SeekingConsumer()
  const errors: SluiceKafkaError[] = []
  const adapter = new KafkaConsumerAdapter<WindowResult>({
    consumer,
    producer: new FakeTransactionalProducer(broker),
    delivery: 'exactly-once',
    groupId: 'g',
    decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => new WindowProcessor({ ...(idle ? { type: 'sliding', slide: idle.slide } : { type: 'tumbling' }), size: SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }),
    stateStore: idle?.store ?? new FileStateStore(stateDir),
    outputTopic: 'out',
    deadLetterTopic: 'dlq',
    keyCount: KEYS,
    bound: BOUND,
    checkpointInterval,
    idleTimeout: idle?.idleTimeout,
    clock: idle?.clock,
    fullEvery,
    onError: (e) => errors.push(e),
  })
  return { adapter, consumer, errors }
}

function messagesOf(events: PartitionEvents): { offset: number; value: Buffer }[] {
  return events.timestamps.map((_, i) => ({ offset: i, value: encodeBinaryRecords([events.timestamps[i]!], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))
}

/** The committed output: each window once (a second copy fails), its count and values. */
function committedWindows(broker: FakeTransactionBroker): Map<string, { count: number; values: number[] }> {
  const seen = new Map<string, { count: number; values: number[] }>()
  for (const { topic, message } of broker.committed) {
    if (topic !== 'out') continue
    const key = String(message.key)
    expect(seen.has(key), `${key} committed twice`).toBe(false)
    const r = JSON.parse(String(message.value))
    seen.set(key, { count: r.count, values: r.values })
  }
  return seen
}

/** The committed output equals the reference: every window once, none twice, none missing. */
function expectCommittedOnce(broker: FakeTransactionBroker, events: PartitionEvents): void {
  const seen = committedWindows(broker)
  const want = referenceWindows(events, SIZE, CHANNELS, Math.max(...events.timestamps) - BOUND - 1)
  expect([...seen.keys()].sort()).toEqual([...want.keys()].map((id) => `${TOPIC}/0/${id}`).sort())
  for (const [id, w] of want) expect(seen.get(`${TOPIC}/0/${id}`)).toEqual({ count: w.count, values: w.values })
}

describe('KafkaConsumerAdapter exactly-once (in-memory transactional producer)', () => {
  const events = makeEvents(11, 600, 0, 10, BOUND, KEYS, CHANNELS)
  const messages = messagesOf(events)

  it('commits results and offsets in one transaction per checkpoint (sendOffsets, not commitOffsets), snapshot stored before the commit', async () => {
    const broker = new FakeTransactionBroker()
    const { adapter, consumer } = setup(broker, tempDir())
    await adapter.run()
    await deliverInBatches(consumer, 0, messages, [50])
    expect(consumer.log.filter((l) => l.startsWith('commit'))).toEqual([]) // no plain offset commits
    expect(broker.log.filter((l) => l === 'commit').length).toBe(12)
    expect(broker.log.slice(0, 3)).toEqual(['begin', 'offsets 0@50', 'commit'])
    expect(broker.groupOffsets.get(0)).toBe(600)
    expect(adapter.metrics().partitions[0]!.committedOffset).toBe(600)
    expectCommittedOnce(broker, events)
  })

  it('rides the batches of a checkpoint interval in one open transaction; checkpointAll() commits it', async () => {
    const broker = new FakeTransactionBroker()
    const { adapter, consumer } = setup(broker, tempDir(), 1e9)
    await adapter.run()
    await deliverInBatches(consumer, 0, messages, [50])
    expect(broker.log).toEqual(['begin'])
    expect(broker.committed.length).toBe(0)
    await adapter.checkpointAll()
    expect(broker.log).toEqual(['begin', 'offsets 0@600', 'commit'])
    expectCommittedOnce(broker, events)
  })

  it('a send() that fails after its batch went on fails the commit: aborted, sought back, the committed output is exact', async () => {
    const broker = new FakeTransactionBroker()
    const { adapter, consumer, errors } = setup(broker, tempDir(), 1e9)
    await adapter.run()
    await deliverInBatches(consumer, 0, messages.slice(0, 200), [50])
    await adapter.checkpointAll()
    broker.failSendIn = 2
    await deliverInBatches(consumer, 0, messages.slice(200, 400), [50]) // the batches go on; the failure shows at the commit
    expect(broker.log).toEqual(['begin', 'offsets 0@200', 'commit', 'begin'])
    await adapter.checkpointAll()
    expect(broker.log.slice(3)).toEqual(['begin', 'abort'])
    expect(errors.map((e) => [e.kind, e.code, e.offset])).toEqual([['transaction', 'ERR_INVALID_STATE', 200]])
    expect(errors[0]!.message).toMatch(/send\(\) failed.*Message timed out/)
    expect(consumer.seeks).toEqual([{ partition: 0, offset: '200' }])
    await deliverInBatches(consumer, 0, messages.slice(200), [50])
    await adapter.checkpointAll()
    expectCommittedOnce(broker, events)
  })

  for (const fullEvery of [1, 5]) {
  const deltas = fullEvery > 1 ? ' (deltas: fullEvery 5)' : ''
  it(`a failed commit aborts the transaction, seeks back to the last commit and restores its snapshot (not the aborted one): the committed output is exact${deltas}`, async () => {
    const broker = new FakeTransactionBroker()
    const stateDir = tempDir()
    const { adapter, consumer, errors } = setup(broker, stateDir, 0, fullEvery)
    await adapter.run()
    await deliverInBatches(consumer, 0, messages.slice(0, 200), [50])
    broker.failCommitIn = 1
    await deliverInBatches(consumer, 0, messages.slice(200, 250), [50]) // its snapshot at 250 is stored, the commit fails
    expect(broker.aborted).toBe(1)
    expect(consumer.seeks).toEqual([{ partition: 0, offset: '200' }])
    expect(errors.map((e) => [e.kind, e.code, e.offset])).toEqual([['transaction', 'ERR_INVALID_STATE', 200]])
    expect(await new FileStateStore(stateDir).get(TOPIC, 0, 250)).toMatchObject({ offset: 250 }) // the aborted transaction's snapshot exists
    // With deltas the committed 200 is the third delta on the full record at 50: the restore reads that chain.
    const at200 = decodePartitionSnapshot((await new FileStateStore(stateDir).get(TOPIC, 0, 200))!.bytes).header.delta
    expect(at200).toEqual(fullEvery > 1 ? { base: 50, previous: 150 } : undefined)
    // The consumer resumes where the adapter seeked: the snapshot at 200 is restored, 200.. replayed.
    await deliverInBatches(consumer, 0, messages.slice(200), [50])
    expect(adapter.metrics().restores).toBe(1)
    expectCommittedOnce(broker, events)
  })

  it(`a crash leaves the open transaction uncommitted; the next owner resumes at the committed offsets and restores the committed snapshot${deltas}`, async () => {
    const broker = new FakeTransactionBroker()
    const stateDir = tempDir()
    const first = setup(broker, stateDir, 1e9, fullEvery)
    await first.adapter.run()
    await deliverInBatches(first.consumer, 0, messages.slice(0, 300), [50])
    await first.adapter.checkpointAll() // committed at 300
    await deliverInBatches(first.consumer, 0, messages.slice(300, 450), [50]) // in the open transaction when it dies
    const second = setup(broker, stateDir, 1e9, fullEvery)
    await second.adapter.run()
    await deliverInBatches(second.consumer, 0, messages.slice(broker.groupOffsets.get(0)), [50])
    await second.adapter.checkpointAll()
    expect(second.adapter.metrics().restores).toBe(1)
    expectCommittedOnce(broker, events)
  })
  }

  it('a rebalance that takes away a partition with uncommitted results aborts the transaction and seeks the kept partitions back', async () => {
    const broker = new FakeTransactionBroker()
    const { adapter, consumer, errors } = setup(broker, tempDir(), 1e9)
    await adapter.run()
    consumer.assign([0, 1])
    await deliverInBatches(consumer, 0, messages.slice(0, 100), [50])
    await deliverInBatches(consumer, 1, messages.slice(0, 60), [30])
    consumer.assign([1]) // partition 0 moves to another consumer, which resumes from its last commit (none): its results must not commit
    await new Promise((resolve) => setTimeout(resolve, 10)) // the assignment is handled on the adapter's queue
    await adapter.checkpointAll()
    expect(broker.log).toEqual(['begin', 'abort'])
    expect(broker.committed).toEqual([])
    expect(consumer.seeks).toEqual([{ partition: 1, offset: '0' }]) // not the partition that moved away
    expect(errors.every((e) => e.kind === 'transaction')).toBe(true)
    // The kept partition is restored at once from its last commit (none: empty at 0); the moved one is gone.
    expect(adapter.heldPartitions()).toEqual([{ topic: TOPIC, partition: 1, nextOffset: 0 }])
  })

  it('checks its options: a transactional producer, seek(), KafkaJS needs groupId, idleTimeout only with a transactional store, a known delivery', () => {
    const base = {
      consumer: new SeekingConsumer(), producer: new FakeTransactionalProducer(new FakeTransactionBroker()), decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS }), stateStore: new FileStateStore(tempDir()), outputTopic: 'out',
      delivery: 'exactly-once' as const, groupId: 'g',
    }
    expect(() => new KafkaConsumerAdapter(base)).not.toThrow()
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, producer: { send: async () => undefined } }), 'ERR_INVALID_TYPE', /transaction\(\)/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, consumer: new FakeConsumer() }), 'ERR_INVALID_TYPE', /seek\(\)/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, groupId: undefined }), 'ERR_INVALID_ARGUMENT', /groupId/)
    // idleTimeout: only with a store whose records commit with the transaction (two checkpoints at one offset).
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, idleTimeout: 1000 }), 'ERR_NOT_SUPPORTED', /idleTimeout.*KafkaStateStore/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, idleTimeout: 1000, stateStore: new IncrementalStateStore(new FileStateStore(tempDir())) }), 'ERR_NOT_SUPPORTED', /idleTimeout/)
    expect(() => new KafkaConsumerAdapter({ ...base, idleTimeout: 1000, stateStore: committedStateStore(new FakeTransactionBroker()) })).not.toThrow()
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, delivery: 'at-most-once' as never }), 'ERR_INVALID_ARGUMENT', /delivery/)
  })

  it('says which call fails when the client cannot do transactions (ERR_NOT_SUPPORTED from transaction()); nothing is produced or committed', async () => {
    const consumer = new SeekingConsumer()
    const errors: SluiceKafkaError[] = []
    const adapter = new KafkaConsumerAdapter({
      consumer, producer: { send: async () => undefined, transaction: async () => { throw new Error('Broker 0 not found in the cached metadata') } },
      delivery: 'exactly-once', groupId: 'g', decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS }), stateStore: new FileStateStore(tempDir()), outputTopic: 'out', onError: (e) => errors.push(e),
    })
    await adapter.run()
    await expect(consumer.deliver(0, messages.slice(0, 10))).rejects.toMatchObject({ code: 'ERR_NOT_SUPPORTED', kind: 'transaction', message: expect.stringMatching(/producer\.transaction\(\) failed.*Broker 0 not found/) })
    expect(errors.length).toBe(1)
    expect(consumer.log).toEqual([])
  })
})

// idleTimeout: an idle partition's windows fire while its offset stays put, so each such transaction carries a
// second checkpoint record at an offset already committed. Sliding windows (size 100, slide 10): ten are open
// past a partition's own watermark. Partition 1 gets events in [0, 800), goes silent and idles while
// partition 0 moves slowly (one message per batch), so its last windows fire one transaction at a time;
// later it gets events in [5000, 5500) (ahead of everything, so nothing is late in any run), then idles again
// until the end. Every run follows one schedule of batches and clock readings; a restarted run skips what
// the broker's group offsets say is committed.
describe('KafkaConsumerAdapter exactly-once with idleTimeout (checkpoint records in the transaction)', () => {
  const IDLE = 1000
  const SLIDE = 10
  const p0 = makeEvents(21, 600, 0, 10, BOUND, KEYS, CHANNELS)
  const p1 = makeEvents(22, 80, 0, 10, BOUND, KEYS, CHANNELS)
  const p1Later = makeEvents(23, 50, 5000, 10, BOUND, KEYS, CHANNELS)
  const p1All = { timestamps: [...p1.timestamps, ...p1Later.timestamps], keys: [...p1.keys, ...p1Later.keys], values: [...p1.values, ...p1Later.values] }
  const messages = [messagesOf(p0), messagesOf(p1All)]
  /** Absolute message ranges per step, with the clock reading at which they are delivered. */
  const schedule: { partition: number; from: number; to: number; now: number }[] = []
  {
    let now = 0
    schedule.push({ partition: 1, from: 0, to: 80, now })
    for (let i = 0; i < 100; i++) schedule.push({ partition: 0, from: i, to: i + 1, now: (now += 100) })
    schedule.push({ partition: 1, from: 80, to: 130, now })
    for (let i = 100; i < 550; i += 50) schedule.push({ partition: 0, from: i, to: i + 50, now: (now += 100) })
    schedule.push({ partition: 0, from: 550, to: 600, now: (now += 10 * IDLE) }) // partition 1 idle again: its last windows follow
  }

  /** Runs the schedule from the broker's committed offsets until it ends or the worker crashes (hangAt); a failed transaction's seeks are followed. */
  async function run(broker: FakeTransactionBroker): Promise<{ crashed: boolean; adapter: KafkaConsumerAdapter<WindowResult> }> {
    let now = 0
    const { adapter, consumer } = setup(broker, tempDir(), 0, 1, { store: committedStateStore(broker), clock: () => now, idleTimeout: IDLE, slide: SLIDE })
    await adapter.run()
    const next = [broker.groupOffsets.get(0) ?? 0, broker.groupOffsets.get(1) ?? 0]
    let seeks = 0
    const crashed = new Promise<true>((resolve) => (broker.onHang = () => resolve(true)))
    for (const step of schedule) {
      now = step.now
      const from = next[step.partition]!
      if (step.to <= from) continue
      const delivered = consumer.deliver(step.partition, messages[step.partition]!.slice(from, step.to))
      if (await Promise.race([delivered.then(() => false), crashed])) return { crashed: true, adapter }
      next[step.partition] = step.to
      for (; seeks < consumer.seeks.length; seeks++) next[consumer.seeks[seeks]!.partition] = Number(consumer.seeks[seeks]!.offset)
    }
    return { crashed: false, adapter }
  }

  // One uninterrupted run: which commits carried an idle checkpoint of partition 1 (offset 80 again).
  async function uninterrupted() {
    const broker = new FakeTransactionBroker()
    const offsetsPerCommit: string[] = []
    const log = broker.log
    const { adapter } = await run(broker)
    adapter.close()
    for (let i = 0, last = ''; i < log.length; i++) {
      if (log[i]!.startsWith('offsets')) last = log[i]!
      if (log[i] === 'commit') offsetsPerCommit.push(last)
    }
    const idleCommits = offsetsPerCommit.flatMap((offsets, i) => (/\b1@80\b/.test(offsets) && i > 0 && /\b1@80\b/.test(offsetsPerCommit.slice(0, i).join(' ')) ? [i + 1] : []))
    return { windows: committedWindows(broker), idleCommits }
  }

  it('an uninterrupted run fires every window of the idle partition once, in transactions that checkpoint it again at its committed offset', async () => {
    const { windows, idleCommits } = await uninterrupted()
    // Partition 1's windows open past its own watermark after [0, 800) fire as partition 0's watermark passes
    // their ends, a few transactions apart (one message of partition 0 moves it by about 10).
    expect(idleCommits.length).toBeGreaterThanOrEqual(5)
    // Each of its events is in SIZE / SLIDE windows, each fired once (all fire by the end: the last batch
    // moves partition 0's watermark past partition 1's last window).
    const counts = (p: number) => [...windows].filter(([key]) => key.startsWith(`${TOPIC}/${p}/`)).reduce((sum, [, w]) => sum + w.count, 0)
    expect(counts(1)).toBe((SIZE / SLIDE) * p1All.timestamps.length)
    expect(counts(0)).toBeGreaterThan(0)
  })

  it('a crash just before or just after a commit that checkpoints an idle partition again, then a restart: the committed output equals the uninterrupted run', async () => {
    const { windows, idleCommits } = await uninterrupted()
    const middle = idleCommits[Math.floor(idleCommits.length / 2)]!
    const last = idleCommits[idleCommits.length - 1]!
    for (const hangAt of [idleCommits[0]!, idleCommits[0]! + 1, middle, middle + 1, last, last + 1]) {
      const broker = new FakeTransactionBroker()
      broker.hangAt = hangAt
      const first = await run(broker)
      expect(first.crashed, `hang at commit ${hangAt}`).toBe(true)
      first.adapter.close()
      const second = await run(broker) // a new worker: a fresh state store reader, resuming at the group's offsets
      expect(second.crashed).toBe(false)
      expect(second.adapter.metrics().restores).toBeGreaterThan(0)
      second.adapter.close()
      expect(committedWindows(broker), `crash in commit ${hangAt}`).toEqual(windows)
    }
  })

  it('a failed commit of such a transaction aborts it, restores the idle partition from its committed record, and its windows fire again into the next one', async () => {
    const { windows, idleCommits } = await uninterrupted()
    for (const failing of [idleCommits[0]!, idleCommits[3]!]) {
      const broker = new FakeTransactionBroker()
      broker.failCommitIn = failing
      const { crashed, adapter } = await run(broker)
      expect(crashed).toBe(false)
      expect(broker.aborted).toBe(1)
      // Restored at once (it gets no batch before its events at 5000): its windows fire again, still at offset 80.
      expect(broker.log.slice(broker.log.indexOf('abort')).some((line) => /\b1@80\b/.test(line))).toBe(true)
      adapter.close()
      expect(committedWindows(broker), `failed commit ${failing}`).toEqual(windows)
    }
  })
})

/**
 * Shaped like @confluentinc/kafka-javascript's KafkaJS consumer: no group events; its underlying client
 * (`_getInternalClient()`) emits 'rebalance' (error code −175 assign, −174 revoke, with the partitions) when
 * librdkafka's rebalance_cb runs, while assignment() still lists a revoked partition until the client applies
 * the deferred unassign.
 */
class LibrdkafkaLikeConsumer {
  readonly internal = new EventEmitter()
  readonly seeks: { partition: number; offset: string }[] = []
  /** What assignment() returns (the client updates it later than it calls rebalance_cb). */
  current: { topic: string; partition: number }[] = []
  private eachBatch!: (payload: EachBatchPayload) => Promise<void>
  _getInternalClient(): EventEmitter {
    return this.internal
  }
  async run(options: { eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.eachBatch = options.eachBatch
  }
  async commitOffsets(): Promise<void> {
    throw new Error('exactly-once commits offsets through sendOffsets')
  }
  assignment() {
    return this.current
  }
  seek(position: { topic: string; partition: number; offset: string }): void {
    this.seeks.push({ partition: position.partition, offset: position.offset })
  }
  rebalance(code: -175 | -174, partitions: number[]): void {
    this.internal.emit('rebalance', { code, message: code === -175 ? 'Local: Assign partitions' : 'Local: Revoke partitions' }, partitions.map((partition) => ({ topic: TOPIC, partition })))
  }
  deliver(partition: number, messages: { offset: number; value: Buffer }[]): Promise<void> {
    return this.eachBatch({ batch: { topic: TOPIC, partition, messages: messages.map((m) => ({ offset: String(m.offset), value: m.value })) }, heartbeat: async () => undefined, resolveOffset: () => undefined })
  }
}

describe('KafkaConsumerAdapter exactly-once with @confluentinc/kafka-javascript\'s rebalance callback (in memory)', () => {
  const events = makeEvents(31, 300, 0, 10, BOUND, KEYS, CHANNELS)
  const messages = messagesOf(events)

  function librdkafkaSetup(broker: FakeTransactionBroker, checkpointInterval: number, producer: { send(): Promise<void>; transaction(): Promise<unknown> } = new FakeTransactionalProducer(broker)) {
    const consumer = new LibrdkafkaLikeConsumer()
    const errors: SluiceKafkaError[] = []
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer: producer as FakeTransactionalProducer, delivery: 'exactly-once', decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }),
      stateStore: new FileStateStore(tempDir()), outputTopic: 'out', keyCount: KEYS, bound: BOUND, checkpointInterval, onError: (e) => errors.push(e),
    })
    return { adapter, consumer, errors }
  }

  it('a revocation aborts the open transaction when the callback runs (no batch or timer commit needed), and the partitions kept resume from their last commit', async () => {
    const broker = new FakeTransactionBroker()
    const { adapter, consumer, errors } = librdkafkaSetup(broker, 1e9)
    await adapter.run()
    consumer.current = [0, 1].map((partition) => ({ topic: TOPIC, partition }))
    consumer.rebalance(-175, [0, 1])
    await consumer.deliver(0, messages.slice(0, 100))
    await consumer.deliver(1, messages.slice(0, 60))
    expect(broker.log).toEqual(['begin'])
    // Eager protocol: everything is revoked; assignment() still lists both (the unassign is deferred).
    consumer.rebalance(-174, [0, 1])
    await new Promise((resolve) => setImmediate(resolve))
    expect(broker.log).toEqual(['begin', 'abort'])
    expect(adapter.heldPartitions()).toEqual([])
    expect(consumer.seeks).toEqual([]) // neither partition is ours to seek any more
    expect(errors.map((e) => [e.kind, e.partition])).toEqual([['transaction', 0], ['transaction', 1]])
    // Partition 1 comes back: consumption resumes at its committed offset (none: 0) and everything commits once.
    consumer.current = [{ topic: TOPIC, partition: 1 }]
    consumer.rebalance(-175, [1])
    await consumer.deliver(1, messages)
    await adapter.checkpointAll()
    expect(broker.log).toEqual(['begin', 'abort', 'begin', 'offsets 1@300', 'commit'])
    const want = referenceWindows(events, SIZE, CHANNELS, Math.max(...events.timestamps) - BOUND - 1)
    expect(broker.committed.map(({ message }) => String(message.key)).sort()).toEqual([...want.keys()].map((id) => `${TOPIC}/1/${id}`).sort())
    adapter.close()
  })

  it('a revocation that arrives while a batch is being produced makes that batch\'s commit abort instead (assignment() still lists the partition)', async () => {
    const broker = new FakeTransactionBroker()
    let consumer!: LibrdkafkaLikeConsumer
    const inner = new FakeTransactionalProducer(broker)
    // The rebalance callback runs while the batch's results are being sent.
    const producer = {
      send: () => inner.send(),
      async transaction() {
        const transaction = await inner.transaction()
        return { ...transaction, send: async (record: { topic: string; messages: ProducedMessage[] }) => { consumer.rebalance(-174, [0]); await transaction.send(record) } }
      },
    }
    const setupResult = librdkafkaSetup(broker, 0, producer)
    consumer = setupResult.consumer
    await setupResult.adapter.run()
    consumer.current = [0, 1].map((partition) => ({ topic: TOPIC, partition }))
    consumer.rebalance(-175, [0, 1])
    await consumer.deliver(0, messages.slice(0, 100))
    expect(broker.log).toEqual(['begin', 'abort'])
    expect(broker.committed).toEqual([])
    expect(setupResult.adapter.heldPartitions()).toEqual([])
    setupResult.adapter.close()
  })
})
