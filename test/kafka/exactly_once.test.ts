// Exactly-once delivery without a broker: an in-memory transactional producer that makes sent messages and
// offsets visible only when its transaction commits (what a broker shows a read_committed reader), driven
// by the in-memory consumer. The broker tests (broker.test.ts, eos_kill.test.ts) repeat this over Kafka.
import { describe, expect, it } from 'vitest'
import { FileStateStore, KafkaConsumerAdapter, WindowProcessor, binaryDecoder, decodePartitionSnapshot, encodeBinaryRecords, type ProducedMessage, type SluiceKafkaError, type TransactionOffsets, type WindowResult } from '../../lib/kafka/index'
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
        for (const message of record.messages) pending.push({ topic: record.topic, message })
      },
      sendOffsets: async (o: TransactionOffsets) => {
        offsets = o
        broker.log.push(`offsets ${o.topics.flatMap((t) => t.partitions.map((p) => `${p.partition}@${p.offset}`)).join(',')}`)
      },
      commit: async () => {
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

function setup(broker: FakeTransactionBroker, stateDir: string, checkpointInterval = 0, fullEvery = 1) {
  const consumer = new SeekingConsumer()
  const errors: SluiceKafkaError[] = []
  const adapter = new KafkaConsumerAdapter<WindowResult>({
    consumer,
    producer: new FakeTransactionalProducer(broker),
    delivery: 'exactly-once',
    groupId: 'g',
    decoder: binaryDecoder({ channels: CHANNELS }),
    processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: ['count', 'sum', 'min', 'max'] }),
    stateStore: new FileStateStore(stateDir),
    outputTopic: 'out',
    deadLetterTopic: 'dlq',
    keyCount: KEYS,
    bound: BOUND,
    checkpointInterval,
    fullEvery,
    onError: (e) => errors.push(e),
  })
  return { adapter, consumer, errors }
}

function messagesOf(events: PartitionEvents): { offset: number; value: Buffer }[] {
  return events.timestamps.map((_, i) => ({ offset: i, value: encodeBinaryRecords([events.timestamps[i]!], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS) }))
}

/** The committed output equals the reference: every window once, none twice, none missing. */
function expectCommittedOnce(broker: FakeTransactionBroker, events: PartitionEvents): void {
  const seen = new Map<string, { count: number; values: number[] }>()
  for (const { topic, message } of broker.committed) {
    if (topic !== 'out') continue
    const key = String(message.key)
    expect(seen.has(key), `${key} committed twice`).toBe(false)
    const r = JSON.parse(String(message.value))
    seen.set(key, { count: r.count, values: r.values })
  }
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
    expect(adapter.heldPartitions()).toEqual([])
  })

  it('checks its options: a transactional producer, seek(), KafkaJS needs groupId, no idleTimeout yet, a known delivery', () => {
    const base = {
      consumer: new SeekingConsumer(), producer: new FakeTransactionalProducer(new FakeTransactionBroker()), decoder: binaryDecoder({ channels: CHANNELS }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS }), stateStore: new FileStateStore(tempDir()), outputTopic: 'out',
      delivery: 'exactly-once' as const, groupId: 'g',
    }
    expect(() => new KafkaConsumerAdapter(base)).not.toThrow()
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, producer: { send: async () => undefined } }), 'ERR_INVALID_TYPE', /transaction\(\)/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, consumer: new FakeConsumer() }), 'ERR_INVALID_TYPE', /seek\(\)/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, groupId: undefined }), 'ERR_INVALID_ARGUMENT', /groupId/)
    expectSluiceError(() => new KafkaConsumerAdapter({ ...base, idleTimeout: 1000 }), 'ERR_NOT_SUPPORTED', /idleTimeout/)
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
