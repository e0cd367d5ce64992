// sluice/kafka against a Kafka-protocol broker: librdkafka's mock cluster started by kcat, driven with
// each client that installs here (kafkajs, @confluentinc/kafka-javascript: test/support/kafka_clients.ts;
// consumer groups, offset commits, rebalances). Results are checked against a naive per-partition
// recomputation of the same tumbling windows.
import { fork, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { FileStateStore, IncrementalStateStore, KafkaConsumerAdapter, KafkaStateStore, WindowProcessor, binaryDecoder, decodePartitionSnapshot, encodeBinaryRecords, encodeByteKeyRecords, type SluiceKafkaError, type StateStore, type StoredSnapshot, type WindowResult } from '../../lib/kafka/index'
import { repoRoot } from '../helpers'
import { collectTopic, makeEvents, referenceWindows, slice, toMessages, waitFor, type PartitionEvents, type ReferenceWindow } from '../support/kafka_data'
import { kafkaClients, type TestProducer } from '../support/kafka_clients'
import { kcatMissingReason, startMockCluster, type MockCluster } from '../support/mock_kafka'

const kcatMissing = kcatMissingReason()
if (kcatMissing) console.warn(kcatMissing)
const clients = kafkaClients()
for (const client of clients) if (client.skipReason) console.warn(client.skipReason)

const SIZE = 100
const CHANNELS = 2
const KEYS = 8
const DISORDER = 30
const BOUND = DISORDER
const AGGREGATES = ['count', 'sum', 'min', 'max'] as const
const PARTITIONS = 4 // the mock cluster creates topics with 4 partitions

let unique = 0
const name = (what: string) => `${what}-${process.pid}-${++unique}`

describe.each(clients)('sluice/kafka with a Kafka-protocol broker (librdkafka mock cluster via kcat), $name', (client) => {
  const skipReason = kcatMissing ?? client.skipReason
  let cluster: MockCluster
  let producer: TestProducer

  beforeAll(async () => {
    if (skipReason) return
    cluster = await startMockCluster(3)
    producer = client.producer(cluster.brokers)
    await producer.connect()
  })

  afterAll(async () => {
    await producer?.disconnect().catch(() => undefined)
    await cluster?.stop()
  })

  async function startAdapter(topic: string, options: { idleTimeout?: number; deadLetterTopic?: string; onError?: (e: SluiceKafkaError) => void; group?: string; stateStore?: StateStore; fullEvery?: number } = {}) {
    // A session long enough that a loaded machine (CI runs test files in parallel) does not expire a member
    // between heartbeats (with 3 s, CI once saw the first consumer's offset commits refused, "the coordinator
    // is not aware of this member", and its partitions replayed). The mock cluster only lets a new member in
    // once a departed one's session has run out (measured: ~session), so it is kept well under the waits.
    const consumer = client.consumer(cluster.brokers, { groupId: options.group ?? name('group'), maxWaitTimeInMs: 50, heartbeatInterval: 300, sessionTimeout: 8000, rebalanceTimeout: 8000 })
    await consumer.connect()
    await consumer.subscribe({ topic })
    const processors = new Map<number, WindowProcessor>()
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-'))
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer,
      producer,
      decoder: binaryDecoder({ channels: CHANNELS }),
      processor: (_topic, partition) => {
        const processor = new WindowProcessor({ type: 'tumbling', size: SIZE, keyCount: KEYS, channels: CHANNELS, aggregates: [...AGGREGATES] })
        processors.set(partition, processor)
        return processor
      },
      stateStore: options.stateStore ?? new FileStateStore(stateDir),
      outputTopic: `${topic}-out`,
      deadLetterTopic: options.deadLetterTopic,
      keyCount: KEYS,
      bound: BOUND,
      idleTimeout: options.idleTimeout,
      onError: options.onError,
      fullEvery: options.fullEvery,
    })
    await adapter.run()
    let stopped = false
    const stop = async () => {
      if (stopped) return
      stopped = true
      await consumer.disconnect()
      adapter.close()
      fs.rmSync(stateDir, { recursive: true, force: true })
    }
    // Each test stops its consumers when it ends: idle group members left running slow the mock cluster down.
    onTestFinished(stop)
    return { adapter, consumer, processors, stop }
  }

  /** A KafkaStateStore over `stateTopic` with its own reader and admin (disconnected when the test ends). */
  async function openKafkaStore(stateTopic: string): Promise<KafkaStateStore> {
    const consumer = client.stateConsumer(cluster.brokers, name('state-reader'))
    const admin = client.admin(cluster.brokers)
    await Promise.all([consumer.connect(), admin.connect()])
    onTestFinished(async () => {
      await consumer.disconnect()
      await admin.disconnect()
    })
    // The state topic exists before the store reads it (the docs ask to create it; the mock creates it on first use).
    await producer.send({ topic: stateTopic, messages: [{ key: 'created', value: null }] })
    return new KafkaStateStore({ topic: stateTopic, producer, consumer, admin, timeoutMs: 10_000 })
  }

  /** Half of a 4-partition stream through one adapter, a checkpoint and its leaving the group (the next
   * consumer gets every partition at the committed offsets), the rest through a second adapter that restores
   * every partition from a fresh store: the output equals an uninterrupted run. */
  async function handOffThroughStore(topic: string, openStore: () => Promise<StateStore>, seed: number, fullEvery?: number): Promise<void> {
    const group = name('group')
    const data = [0, 1, 2, 3].map((p) => makeEvents(seed + p, 300, p * 5_000, 10, DISORDER, KEYS, CHANNELS))
    await produce(topic, interleave(data.map((events, p) => toMessages(slice(events, 0, 150, CHANNELS), CHANNELS, 5, p))))
    const first = await startAdapter(topic, { group, stateStore: await openStore(), fullEvery })
    await waitFor(() => first.adapter.metrics().events === 600, 20_000, 'the first half consumed')
    await first.adapter.checkpointAll()
    await first.stop()
    await produce(topic, interleave(data.map((events, p) => toMessages(slice(events, 150, 300, CHANNELS), CHANNELS, 5, p))))
    const second = await startAdapter(topic, { group, stateStore: await openStore(), fullEvery })
    await waitFor(() => second.adapter.metrics().events === 600, 20_000, 'the second half consumed')
    expect(second.adapter.metrics().restores).toBe(PARTITIONS)
    const expected = new Map<number, Map<string, ReferenceWindow>>()
    data.forEach((events, p) => expected.set(p, referenceWindows(events, SIZE, CHANNELS, Math.max(...events.timestamps) - BOUND - 1)))
    await expectOutput(topic, expected)
  }

  /** The output topic equals the reference: same windows, same aggregates; duplicates (at-least-once output) identical. */
  async function expectOutput(topic: string, expected: Map<number, Map<string, ReferenceWindow>>) {
    const want = new Map<string, ReferenceWindow>()
    for (const [partition, windows] of expected) for (const [id, w] of windows) want.set(`${topic}/${partition}/${id}`, w)
    let got: Awaited<ReturnType<typeof collectTopic>>
    try {
      got = await collectTopic(cluster.brokers, `${topic}-out`, (byKey) => byKey.size >= want.size, 10_000)
    } catch (error) {
      const seen = await collectTopic(cluster.brokers, `${topic}-out`, () => true)
      const missing = [...want.keys()].filter((k) => !seen.has(k))
      throw new Error(`${(error as Error).message}; ${missing.length} of ${want.size} windows missing, e.g. ${missing.slice(0, 5).join(' ')}; unexpected: ${[...seen.keys()].filter((k) => !want.has(k)).slice(0, 5).join(' ')}`)
    }
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort())
    for (const [key, messages] of got) {
      const w = want.get(key)!
      for (const { value } of messages) {
        const r = JSON.parse(value.toString())
        expect({ key: r.key, start: r.start, end: r.end, count: r.count, values: r.values }, key).toEqual(w)
      }
    }
  }

  async function produce(topic: string, messages: { partition: number; value: Buffer }[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 200) await producer.send({ topic, messages: messages.slice(i, i + 200) })
  }

  function interleave(streams: { partition: number; value: Buffer }[][]): { partition: number; value: Buffer }[] {
    const out: { partition: number; value: Buffer }[] = []
    for (let i = 0; streams.some((s) => i < s.length); i++) for (const s of streams) if (i < s.length) out.push(s[i]!)
    return out
  }

  it.skipIf(skipReason)('gives each partition its own watermark: a partition far ahead in event time is not held back by one far behind, none is cut short', async () => {
    const topic = name('skewed')
    // Partition 0 runs 10^6 ms ahead of partition 1; 2 is in between; 3 is slower (larger step).
    const bases = [1_000_000, 0, 500_000, 0]
    const steps = [10, 10, 10, 25]
    const data = bases.map((base, p) => makeEvents(100 + p, 400, base, steps[p]!, DISORDER, KEYS, CHANNELS))
    const { adapter, processors } = await startAdapter(topic)
    await produce(topic, interleave(data.map((events, p) => toMessages(events, CHANNELS, 4, p))))
    await waitFor(() => adapter.metrics().events === 1600, 20_000, 'all events consumed')

    const expected = new Map<number, Map<string, ReferenceWindow>>()
    const watermarks: number[] = []
    data.forEach((events, p) => {
      const wm = Math.max(...events.timestamps) - BOUND - 1
      watermarks.push(wm)
      expect(adapter.partitionWatermark(topic, p)).toBe(wm)
      expected.set(p, referenceWindows(events, SIZE, CHANNELS, wm))
    })
    // The combined watermark is the slowest partition's; the per-partition windows did not wait for it.
    expect(adapter.watermark).toBe(Math.min(...watermarks))
    expect(expected.get(0)!.size).toBeGreaterThan(0)
    await expectOutput(topic, expected)
    for (const processor of processors.values()) expect(processor.late).toBe(0)
  })

  it.skipIf(skipReason)('does not let an idle partition hold back the watermark; its open windows follow the others; a partition without data holds it back only until it is idle', async () => {
    const topic = name('idle')
    const data = [0, 1, 2].map((p) => makeEvents(200 + p, p === 2 ? 40 : 300, 0, 10, DISORDER, KEYS, CHANNELS))
    // Partitions 0 and 1 keep sending every ~120 ms (well under the idle timeout: an idle partition that comes
    // back finds its windows advanced, as in Flink); partition 2 stops after its first 40 events.
    const { adapter } = await startAdapter(topic, { idleTimeout: 1000 })
    const head = data.map((events, p) => toMessages(slice(events, 0, 40, CHANNELS), CHANNELS, 4, p))
    await produce(topic, interleave(head))
    await waitFor(() => adapter.metrics().events === 120, 20_000, 'first events consumed')
    for (let from = 40; from < 300; from += 20) {
      await produce(topic, interleave([0, 1].map((p) => toMessages(slice(data[p]!, from, from + 20, CHANNELS), CHANNELS, 5, p))))
      await new Promise((resolve) => setTimeout(resolve, 120))
    }
    await waitFor(() => adapter.metrics().events === 640, 20_000, 'all events consumed')

    const own = data.map((events) => Math.max(...events.timestamps) - BOUND - 1)
    const combined = Math.min(own[0]!, own[1]!)
    expect(adapter.watermark).toBe(combined) // not held back by idle 2 (own[2] is far lower), nor by 3 (no data)
    expect(own[2]!).toBeLessThan(combined - 1000)
    expect(adapter.partitionWatermark(topic, 2)).toBe(own[2])
    expect(adapter.partitionWatermark(topic, 3)).toBeUndefined()
    const expected = new Map<number, Map<string, ReferenceWindow>>([
      [0, referenceWindows(data[0]!, SIZE, CHANNELS, own[0]!)],
      [1, referenceWindows(data[1]!, SIZE, CHANNELS, own[1]!)],
      // Idle partition 2 followed the combined watermark: all its windows fired, not only those below its own watermark.
      [2, referenceWindows(data[2]!, SIZE, CHANNELS, combined)],
    ])
    expect(expected.get(2)!.size).toBeGreaterThan(referenceWindows(data[2]!, SIZE, CHANNELS, own[2]!).size)
    await expectOutput(topic, expected)
  })

  it.skipIf(skipReason)('sends poison messages (undecodable, non-finite timestamp, key out of range, no value) to the dead-letter topic with their offsets and keeps the partition going', async () => {
    const topic = name('poison')
    const deadLetterTopic = `${topic}-dlq`
    const errors: SluiceKafkaError[] = []
    const { adapter } = await startAdapter(topic, { deadLetterTopic, onError: (e) => errors.push(e) })
    const events = makeEvents(300, 200, 0, 10, DISORDER, KEYS, CHANNELS)
    const good = toMessages(events, CHANNELS, 4, 1)
    const poison: { value: Buffer | null; kind: string }[] = [
      { value: Buffer.from('not a record'), kind: 'decode' },
      { value: encodeBinaryRecords([NaN], [1], [1, 2], CHANNELS), kind: 'timestamp' },
      { value: encodeBinaryRecords([Infinity], [1], [1, 2], CHANNELS), kind: 'timestamp' },
      { value: encodeBinaryRecords([500], [KEYS], [1, 2], CHANNELS), kind: 'key' },
      { value: null, kind: 'decode' },
    ]
    const sent: { offset: string; kind: string }[] = []
    for (let i = 0; i < good.length; i += 10) {
      await producer.send({ topic, messages: good.slice(i, i + 10) })
      if (sent.length < poison.length) {
        const bad = poison[sent.length]!
        const [meta] = await producer.send({ topic, messages: [{ partition: 1, key: `bad-${sent.length}`, value: bad.value }] })
        sent.push({ offset: meta!.baseOffset!, kind: bad.kind })
      }
    }
    expect(sent.length).toBe(poison.length)
    await waitFor(() => adapter.metrics().events === 200, 20_000, 'all good events consumed')

    const dead = await collectTopic(cluster.brokers, deadLetterTopic, (byKey) => byKey.size >= poison.length)
    sent.forEach(({ offset, kind }, i) => {
      const [letter] = dead.get(`bad-${i}`)!
      expect(letter!.headers['sluice-topic']).toBe(topic)
      expect(letter!.headers['sluice-partition']).toBe('1')
      expect(letter!.headers['sluice-offset']).toBe(offset)
      expect(letter!.headers['sluice-kind']).toBe(kind)
    })
    expect(errors.map((e) => [e.partition, String(e.offset), e.kind])).toEqual(sent.map(({ offset, kind }) => [1, offset, kind]))
    const wm = Math.max(...events.timestamps) - BOUND - 1
    await expectOutput(topic, new Map([[1, referenceWindows(events, SIZE, CHANNELS, wm)]]))
  })

  it.skipIf(skipReason)('byte keys: binaryDecoder({ keys: \'bytes\' }) into WindowProcessor({ keys: \'bytes\' }) gives a Map-keyed recomputation; a key past maxKeys dead-letters its message only', async () => {
    const topic = name('bytekeys')
    const deadLetterTopic = `${topic}-dlq`
    const errors: SluiceKafkaError[] = []
    const consumer = client.consumer(cluster.brokers, { groupId: name('group'), maxWaitTimeInMs: 50, heartbeatInterval: 300, sessionTimeout: 8000, rebalanceTimeout: 8000 })
    await consumer.connect()
    await consumer.subscribe({ topic })
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-kafka-'))
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer,
      decoder: binaryDecoder({ channels: 1, keys: 'bytes' }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keys: 'bytes', maxKeys: 4, aggregates: ['count', 'sum'] }),
      stateStore: new FileStateStore(stateDir), outputTopic: `${topic}-out`, deadLetterTopic, bound: 0, onError: (e) => errors.push(e),
    })
    await adapter.run()
    onTestFinished(async () => {
      await consumer.disconnect()
      adapter.close()
      fs.rmSync(stateDir, { recursive: true, force: true })
    })
    // Byte keys that are not UTF-8, empty and long; the fifth distinct key comes only after four are live.
    const keys = [Buffer.from([0xff, 0x00, 0xfe]), Buffer.alloc(0), Buffer.from('host-é'), Buffer.alloc(300, 7), Buffer.from([0x80])]
    const messages: { value: Buffer; key: string }[] = []
    const want = new Map<string, { count: number; sum: number }>()
    let maxTimestamp = -Infinity
    for (let m = 0; m < 60; m++) {
      // Message m: records of keys (m mod 4) and, from m = 30 on in every third message, the fifth key too.
      const own = [keys[m % 4]!, keys[m % 4]!, ...(m >= 30 && m % 3 === 0 ? [keys[4]!] : [])]
      const timestamps = own.map((_, i) => m * 20 + i * 3)
      const values = own.map((_, i) => m + i)
      messages.push({ value: encodeByteKeyRecords(timestamps, own, values, 1), key: `m${m}` })
      if (own.length === 3) continue // refused: the fifth key does not fit
      own.forEach((k, i) => {
        const id = `${k.toString('base64')}@${Math.floor(timestamps[i]! / SIZE) * SIZE}`
        const w = want.get(id) ?? { count: 0, sum: 0 }
        w.count++
        w.sum += values[i]!
        want.set(id, w)
        maxTimestamp = Math.max(maxTimestamp, timestamps[i]!)
      })
    }
    for (let i = 0; i < messages.length; i += 10) await producer.send({ topic, messages: messages.slice(i, i + 10).map((m) => ({ ...m, partition: 0 })) })
    await waitFor(() => adapter.metrics().events === 50 * 2, 20_000, 'all accepted events consumed') // 10 messages refused
    const closed = [...want].filter(([id]) => Number(id.split('@')[1]) + SIZE - 1 <= maxTimestamp - 1)
    const got = await collectTopic(cluster.brokers, `${topic}-out`, (byKey) => byKey.size >= closed.length)
    const windows = new Map<string, { count: number; sum: number }>()
    for (const [, list] of got) {
      for (const { value } of list) {
        const r = JSON.parse(value.toString()) as { key: string; keyEncoding: string; start: number; count: number; values: number[] }
        expect(r.keyEncoding).toBe('base64')
        windows.set(`${r.key}@${r.start}`, { count: r.count, sum: r.values[1]! })
      }
    }
    expect(closed.length).toBeGreaterThan(30)
    expect(new Map(closed)).toEqual(windows)
    const refused = messages.filter((_, m) => m >= 30 && m % 3 === 0).map((m) => m.key)
    const dead = await collectTopic(cluster.brokers, deadLetterTopic, (byKey) => byKey.size >= refused.length)
    expect([...dead.keys()].sort()).toEqual([...refused].sort())
    for (const [, [letter]] of dead) expect([letter!.headers['sluice-kind'], letter!.headers['sluice-code']]).toEqual(['key', 'ERR_OUT_OF_RANGE'])
    expect(errors.map((e) => e.kind)).toEqual(refused.map(() => 'key'))
  })

  it.skipIf(skipReason || client.name !== 'kafkajs')('examples/kafka-consumer.js keyed by the message keys (keys: \'message\'): the windows of a Map-keyed recomputation', async () => {
    const topic = name('example-keys')
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-example-'))
    onTestFinished(() => fs.rmSync(stateDir, { recursive: true, force: true }))
    const hosts = ['web-01', 'db-é', '日本', 'cache']
    const messages: { partition: number; key: string; value: Buffer }[] = []
    const want = new Map<string, { key: string; count: number; sum: number }>()
    for (let i = 0; i < 200; i++) {
      const key = hosts[(i * 3) % hosts.length]!, partition = i % 2, t = i * 7
      messages.push({ partition, key, value: Buffer.from(JSON.stringify({ timestamp: t, values: [i, 1] })) })
      const id = `${topic}/${partition}/${key}/${Math.floor(t / SIZE) * SIZE}/${Math.floor(t / SIZE) * SIZE + SIZE}`
      const w = want.get(id) ?? { key, count: 0, sum: 0 }
      w.count++
      w.sum += i
      want.set(id, w)
    }
    // Closed by each partition's final watermark (its max timestamp − 1, bound 0).
    const last = [0, 1].map((p) => Math.max(...messages.filter((m) => m.partition === p).map((m) => JSON.parse(m.value.toString()).timestamp as number)))
    const closed = [...want].filter(([id]) => Number(id.split('/').at(-1)) - 1 <= last[Number(id.split('/')[1])]! - 1)
    await producer.send({ topic, messages })
    const child = fork(path.join(repoRoot, 'examples', 'kafka-consumer.js'), [JSON.stringify({
      brokers: cluster.brokers, topic, group: name('group'), outputTopic: `${topic}-out`, stateDir, keys: 'message',
      channels: 2, window: { type: 'tumbling', size: SIZE }, aggregates: ['count', 'sum'], reportEveryMs: 0,
    })], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    onTestFinished(() => void child.kill('SIGKILL'))
    const got = await collectTopic(cluster.brokers, `${topic}-out`, (byKey) => byKey.size >= closed.length)
    expect(closed.length).toBeGreaterThan(20)
    expect(new Set(got.keys())).toEqual(new Set(closed.map(([id]) => id)))
    for (const [id, w] of closed) {
      const r = JSON.parse(got.get(id)![0]!.value.toString()) as { key: string; count: number; values: number[] }
      expect({ key: r.key, count: r.count, sum: r.values[1] }, id).toEqual(w)
    }
  })

  it.skipIf(skipReason)('KafkaStateStore carries the partitions from one consumer to the next through a state topic; a fresh store reads them back, pruned ones are gone', async () => {
    const topic = name('statetopic')
    const stateTopic = `${topic}-state`
    const openStore = () => openKafkaStore(stateTopic)
    await handOffThroughStore(topic, openStore, 500)

    const store = await openStore()
    await store.put('in', 2, 10, Uint8Array.of(1, 2, 3))
    await store.put('in', 2, 20, Uint8Array.of(4, 5))
    await store.prune('in', 2, 20)
    const reader = await openStore()
    expect(await reader.get('in', 2, 25)).toEqual({ offset: 20, bytes: Uint8Array.of(4, 5) })
    expect(await reader.get('in', 2, 15)).toBeUndefined() // offset 10 was pruned (tombstone)
    expect(await reader.get('in', 1, 100)).toBeUndefined()
  })

  it.skipIf(skipReason)('deltas per changed key (fullEvery) over KafkaStateStore: a hand-off restores each partition from its chain of full record and deltas in the state topic', async () => {
    const topic = name('deltas')
    const stateTopic = `${topic}-state`
    await handOffThroughStore(topic, () => openKafkaStore(stateTopic), 900, 4)
    // The state topic holds delta records (a link to the record before), read back by a fresh store.
    const reader = await openKafkaStore(stateTopic)
    let deltas = 0
    for (let p = 0; p < PARTITIONS; p++) {
      const newest = await reader.get(topic, p, Infinity)
      expect(newest).toBeDefined()
      for (let at: StoredSnapshot | undefined = newest; at; ) {
        const { header } = decodePartitionSnapshot(at.bytes)
        if (!header.delta) break
        deltas++
        at = await reader.get(topic, p, header.delta.previous)
        expect(at?.offset).toBe(header.delta.previous)
      }
    }
    expect(deltas).toBeGreaterThan(0)
  })

  it.skipIf(skipReason)('IncrementalStateStore over KafkaStateStore: a hand-off restores chains of increments from the state topic; a fresh reader gets every snapshot back byte for byte, pruned chains are gone', async () => {
    const topic = name('incremental')
    const stateTopic = `${topic}-state`
    const openStore = async () => new IncrementalStateStore(await openKafkaStore(stateTopic), { fullEvery: 3 })
    await handOffThroughStore(topic, openStore, 700)

    // Store level: snapshots of a processor with many keys, put and pruned as the adapter does.
    const store = await openStore()
    const processor = new WindowProcessor({ type: 'tumbling', size: 1000, keyCount: 5000, channels: CHANNELS, aggregates: [...AGGREGATES] })
    onTestFinished(() => processor.close())
    const events = makeEvents(77, 8000, 0, 1, DISORDER, 5000, CHANNELS)
    const snapshots: Uint8Array[] = []
    for (let b = 0; b < 8; b++) {
      const part = slice(events, b * 1000, (b + 1) * 1000, CHANNELS)
      processor.push({ timestamps: Float64Array.from(part.timestamps), keys: Uint32Array.from(part.keys), values: Float64Array.from(part.values) })
      processor.advanceWatermark(Math.max(...part.timestamps) - BOUND - 1)
      snapshots.push(processor.snapshot())
      await store.put('in', 0, (b + 1) * 10, snapshots[b]!)
      if (b > 0) await store.prune('in', 0, b * 10)
    }
    expect(store.stats()).toMatchObject({ fullPuts: 3, incrementalPuts: 5 })
    const reader = await openStore()
    for (const b of [7, 6]) expect(Buffer.from((await reader.get('in', 0, (b + 1) * 10))!.bytes).equals(Buffer.from(snapshots[b]!))).toBe(true)
    expect(await reader.get('in', 0, 55)).toBeUndefined() // the chain of 40..60 was dropped once the full at 70 was in
  })

  // examples/kafka-consumer.js is a kafkajs worker; test/kafka/eos_kill.test.ts kills workers of the other client.
  it.skipIf(skipReason || client.name !== 'kafkajs')('hands partitions over when a worker process is killed mid-stream: the results equal an uninterrupted run, no event lost or counted twice', async () => {
    const topic = name('handoff')
    const group = name('workers')
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-handoff-'))
    onTestFinished(() => fs.rmSync(stateDir, { recursive: true, force: true }))
    const data = [0, 1, 2, 3].map((p) => makeEvents(400 + p, 600, p * 7_000, 10, DISORDER, KEYS, CHANNELS))
    const workerConfig = {
      brokers: cluster.brokers, topic, group, outputTopic: `${topic}-out`, deadLetterTopic: `${topic}-dlq`, stateDir,
      channels: CHANNELS, keyCount: KEYS, window: { type: 'tumbling', size: SIZE }, aggregates: AGGREGATES, bound: BOUND,
      checkpointInterval: 100, sessionTimeout: 3000, reportEveryMs: 0,
    }
    const workers: { child: ChildProcess; assigned: number[]; events: number; restores: number; final?: Record<string, number> }[] = []
    const start = () => {
      const child = fork(path.join(repoRoot, 'examples', 'kafka-consumer.js'), [JSON.stringify(workerConfig)], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
      const worker = { child, assigned: [] as number[], running: false, events: 0, restores: 0, final: undefined as Record<string, number> | undefined, log: [] as string[] }
      child.on('message', (m: { type: string; partitions?: number[]; events?: number; restores?: number }) => {
        if (m.type === 'assigned') worker.assigned = m.partitions!
        if (m.type === 'running') worker.running = true
        worker.log.push(`${Date.now() % 100000} ${m.type} ${m.partitions ?? m.events ?? (m as { message?: string }).message ?? ''}`)
        if (m.type === 'progress') Object.assign(worker, { events: m.events, restores: m.restores })
        if (m.type === 'final') worker.final = m as unknown as Record<string, number>
      })
      onTestFinished(() => void child.kill('SIGKILL'))
      workers.push(worker)
      return worker
    }

    // A alone takes the first two thirds and checkpoints every partition past the first third; B joins;
    // A is killed mid-stream; B ends up with every partition, each resumed from A's snapshots.
    const logs = () => `A ${JSON.stringify(a.log)} B ${JSON.stringify(b?.log)}`
    await produce(topic, interleave(data.map((events, p) => toMessages(slice(events, 0, 200, CHANNELS), CHANNELS, 4, p))))
    const a = start()
    let b: ReturnType<typeof start> | undefined
    await waitFor(() => a.assigned.length === PARTITIONS, 20_000, 'the first worker to get every partition')
    await produce(topic, interleave(data.map((events, p) => toMessages(slice(events, 200, 400, CHANNELS), CHANNELS, 4, p))))
    const checkpointed = (p: number) => fs.readdirSync(stateDir).some((f) => f.startsWith(`${topic}.${p}.`) && f.endsWith('.snap') && Number(f.split('.')[2]) > 50)
    await waitFor(() => [0, 1, 2, 3].every(checkpointed), 20_000, "A's checkpoints past the first third")
    b = start()
    await waitFor(() => b!.running, 20_000, 'the second worker to join')
    a.child.kill('SIGKILL') // no goodbye: no leave-group, no last commit
    await produce(topic, interleave(data.map((events, p) => toMessages(slice(events, 400, 600, CHANNELS), CHANNELS, 4, p))))
    await waitFor(() => b!.assigned.length === PARTITIONS, 30_000, 'the survivor to take every partition').catch((e) => {
      throw new Error(`${e.message}: ${logs()}`)
    })

    const expected = new Map<number, Map<string, ReferenceWindow>>()
    data.forEach((events: PartitionEvents, p) => expected.set(p, referenceWindows(events, SIZE, CHANNELS, Math.max(...events.timestamps) - BOUND - 1)))
    await expectOutput(topic, expected)
    b.child.send('stop')
    await waitFor(() => b.final !== undefined, 10_000, 'the survivor to stop')
    // The survivor resumed the killed worker's partitions from their snapshots, not from scratch.
    expect(b.final!.restores).toBeGreaterThanOrEqual(PARTITIONS)
    expect(b.final!.deadLetters).toBe(0)
  })
})
