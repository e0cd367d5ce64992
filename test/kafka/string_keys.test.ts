// sluice/kafka keyed by strings end to end: the JSON decoder's string keys (a field, or the Kafka message
// key as the entity key), through the adapter (in-memory consumer) into WindowProcessor({ keys: 'string' }),
// against a plain Map-keyed recomputation of the tumbling windows; bad keys are dead-lettered.
import { describe, expect, it } from 'vitest'
import { ColumnBuilder, KafkaConsumerAdapter, PipelineProcessor, WindowProcessor, binaryDecoder, encodeByteKeyRecords, jsonDecoder, type PipelineRow, type SluiceKafkaError, type StateStore, type WindowResult } from '../../lib/kafka/index'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, FakeProducer, deliverInBatches } from '../support/fake_kafka'

const SIZE = 100

/** The latest snapshot per partition, in memory. */
class MemoryStore implements StateStore {
  private readonly saved = new Map<string, { offset: number; bytes: Uint8Array }>()
  async get(topic: string, partition: number, atOrBefore: number) {
    const s = this.saved.get(`${topic}/${partition}`)
    return s && s.offset <= atOrBefore ? s : undefined
  }
  async put(topic: string, partition: number, offset: number, bytes: Uint8Array) {
    this.saved.set(`${topic}/${partition}`, { offset, bytes })
  }
  async prune(): Promise<void> {}
}

/**
 * Messages i = 0 … length − 1 at time 3i with value i, the message key hosts[(i · stride) mod hosts.length];
 * and the tumbling windows a Map-keyed recomputation gives (count and sum per `${key}@${start}`) over all but
 * the messages `skipped`, limited to those the final watermark closes.
 */
function hostStream(hosts: string[], length: number, stride: number, skipped: number[] = []) {
  const messages: { offset: number; value: Buffer; key: Buffer | null }[] = []
  const expected = new Map<string, { count: number; sum: number }>()
  for (let i = 0; i < length; i++) {
    const key = hosts[(i * stride) % hosts.length]!
    const t = i * 3
    messages.push({ offset: i, value: Buffer.from(JSON.stringify({ timestamp: t, values: i })), key: Buffer.from(key) })
    if (skipped.includes(i)) continue
    const w = `${key}@${Math.floor(t / SIZE) * SIZE}`
    const e = expected.get(w) ?? { count: 0, sum: 0 }
    e.count++
    e.sum += i
    expected.set(w, e)
  }
  const closed = [...expected].filter(([w]) => Number(w.split('@')[1]) + SIZE - 1 <= (length - 1) * 3 - 1)
  return { messages, closed }
}

describe('jsonDecoder with string keys', () => {
  it('takes string or numeric keys, or the message key; refuses bad ones', () => {
    const out = new ColumnBuilder(1, 4, true)
    const decoder = jsonDecoder({ channels: 1, keys: 'string' })
    decoder.decode(Buffer.from('[{"timestamp":1,"key":"web-01","values":2},{"timestamp":2,"key":7,"values":3},{"timestamp":3,"key":"","values":4}]'), out)
    expect(out.view().keys).toEqual(['web-01', '7', ''])
    expect(() => decoder.decode(Buffer.from('{"timestamp":1,"values":2}'), out)).toThrow(/must be a string or a number/)
    expect(() => decoder.decode(Buffer.from('{"timestamp":1,"key":"\\ud800","values":2}'), out)).toThrow(/well-formed/)
    const byMessage = jsonDecoder({ channels: 1, keys: 'string', keyFromMessage: true })
    byMessage.decode(Buffer.from('{"timestamp":5,"key":99,"values":1}'), out, Buffer.from('sensor-é'))
    expect(out.view().keys.at(-1)).toBe('sensor-é')
    expect(() => byMessage.decode(Buffer.from('{"timestamp":5,"values":1}'), out, null)).toThrow(/no key/)
    expect(() => byMessage.decode(Buffer.from('{"timestamp":5,"values":1}'), out, Buffer.from([0xc3, 0x28]))).toThrow(/UTF-8/)
    expectSluiceError(() => jsonDecoder({ channels: 1, keyFromMessage: true }), 'ERR_INVALID_ARGUMENT')
  })
})

describe('KafkaConsumerAdapter keyed by message keys (strings)', () => {
  it('gives the windows of a Map-keyed recomputation, keys back as strings, bad keys dead-lettered', async () => {
    const consumer = new FakeConsumer()
    const producer = new FakeProducer(consumer.log)
    const errors: SluiceKafkaError[] = []
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer,
      decoder: jsonDecoder({ channels: 1, keys: 'string', keyFromMessage: true }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: SIZE, keys: 'string', keyTtl: 1000, aggregates: ['count', 'sum'] }),
      stateStore: new MemoryStore(),
      outputTopic: 'out', deadLetterTopic: 'dlq', bound: 0, onError: (e) => errors.push(e),
    })
    await adapter.run()
    const { messages, closed } = hostStream(['web-01', 'web-02', 'db-é', '日本', ''], 400, 7, [10, 20])
    messages[10]!.key = null                      // no key: dead-lettered
    messages[20]!.key = Buffer.from([0xff, 0xfe])  // not UTF-8: dead-lettered
    await deliverInBatches(consumer, 0, messages, [7, 30, 1])
    const windows = new Map<string, { count: number; sum: number }>()
    for (const { topic, message } of producer.sent) {
      if (topic !== 'out') continue
      const r = JSON.parse(String(message.value)) as { key: string; start: number; count: number; values: number[] }
      expect(typeof r.key).toBe('string')
      windows.set(`${r.key}@${r.start}`, { count: r.count, sum: r.values[1]! })
    }
    // Every window the final watermark closed came out, as recomputed.
    expect(closed.length).toBeGreaterThan(40)
    for (const [w, e] of closed) expect(windows.get(w), w).toEqual(e)
    expect(windows.size).toBe(closed.length)
    expect(producer.sent.filter((s) => s.topic === 'dlq')).toHaveLength(2)
    expect(errors.map((e) => e.code)).toEqual(['ERR_MALFORMED_DATA', 'ERR_MALFORMED_DATA'])
  })

  it('PipelineProcessor keyed by message keys: rows of a Map-keyed recomputation, keys as strings', async () => {
    const consumer = new FakeConsumer()
    const producer = new FakeProducer(consumer.log)
    const adapter = new KafkaConsumerAdapter<PipelineRow>({
      consumer, producer,
      decoder: jsonDecoder({ channels: 1, keys: 'string', keyFromMessage: true }),
      processor: () => new PipelineProcessor({ keys: 'string', keyCount: 8, window: { size: SIZE }, bound: 0, features: { aggregates: ['count', 'sum'] } }),
      stateStore: new MemoryStore(),
      outputTopic: 'out', deadLetterTopic: 'dlq', bound: 0,
    })
    await adapter.run()
    const { messages, closed } = hostStream(['web-01', 'db-é', '日本', ''], 300, 5)
    await deliverInBatches(consumer, 0, messages, [11, 40, 3])
    const rows = new Map<string, { count: number; sum: number }>()
    for (const { topic, message } of producer.sent) {
      if (topic !== 'out') continue
      const r = JSON.parse(String(message.value)) as { key: string; start: number; count: number; values: number[] }
      expect(typeof r.key).toBe('string')
      if (r.count > 0) rows.set(`${r.key}@${r.start}`, { count: r.values[0]!, sum: r.values[1]! })
    }
    expect(closed.length).toBeGreaterThan(25)
    for (const [w, e] of closed) expect(rows.get(w), w).toEqual(e)
    expect(rows.size).toBe(closed.length)
  })
})

describe('maxKeys through the adapter', () => {
  it('PipelineProcessor with maxKeys: a message bringing a key past it is dead-lettered alone; the rows equal a run without it', async () => {
    const run = async (messages: { offset: number; value: Buffer; key: Buffer | null }[]) => {
      const consumer = new FakeConsumer()
      const producer = new FakeProducer(consumer.log)
      const errors: SluiceKafkaError[] = []
      const adapter = new KafkaConsumerAdapter<PipelineRow>({
        consumer, producer,
        decoder: jsonDecoder({ channels: 1, keys: 'string', keyFromMessage: true }),
        processor: () => new PipelineProcessor({ keys: 'string', maxKeys: 3, keyTtl: 40, window: { size: SIZE }, bound: 0, features: { aggregates: ['count', 'sum'] } }),
        stateStore: new MemoryStore(),
        outputTopic: 'out', deadLetterTopic: 'dlq', bound: 0, onError: (e) => errors.push(e), processorRetries: 0,
      })
      await adapter.run()
      await deliverInBatches(consumer, 0, messages, [9, 25, 2])
      const rows = producer.sent.filter((s) => s.topic === 'out').map((s) => { const r = JSON.parse(String(s.message.value)); return [r.key, r.start, r.count, r.values] })
      return { rows, dead: producer.sent.filter((s) => s.topic === 'dlq').map((s) => Number(s.message.headers!['sluice-offset'])), errors }
    }
    // Four hosts, three live at most: while three are live the fourth's messages are refused; once a host
    // goes quiet and expires (keyTtl) there is room and the fourth comes in.
    const { messages } = hostStream(['a', 'b', 'c', 'd'], 300, 1)
    for (const m of messages) {
      const i = m.offset
      const host = i < 150 ? ['a', 'b', 'c', i % 10 === 5 ? 'd' : 'a'][i % 4]! : ['b', 'c', 'd'][i % 3]!
      m.key = Buffer.from(host)
    }
    // Before 150 'a', 'b' and 'c' are live all along: every 'd' message is refused. After it 'd' is refused
    // until 'a' has expired; which message that is depends on keyTtl's rule (tested with the pipeline).
    const early = messages.filter((m) => m.offset < 150 && String(m.key) === 'd').map((m) => m.offset)
    expect(early.length).toBeGreaterThan(3)
    const all = await run(messages)
    const refused = all.dead
    expect(refused.filter((o) => o < 150)).toEqual(early)
    expect(refused.every((o) => String(messages[o]!.key) === 'd')).toBe(true)
    expect(all.errors.map((e) => [e.kind, e.code])).toEqual(refused.map(() => ['key', 'ERR_OUT_OF_RANGE']))
    const without = await run(messages.filter((m) => !refused.includes(m.offset)).map((m, offset) => ({ ...m, offset })))
    expect(without.dead).toEqual([])
    expect(all.rows.length).toBeGreaterThan(20)
    expect(all.rows.some((r) => r[0] === 'd')).toBe(true) // after 'a' expired, 'd' came in
    expect(all.rows).toEqual(without.rows)
  })
})

describe('binaryDecoder with byte keys', () => {
  it('decodes length-prefixed keys into packed bytes; refuses a message that ends inside a record, appending nothing', () => {
    const out = new ColumnBuilder(2, 1, 'bytes')
    const decoder = binaryDecoder({ channels: 2, keys: 'bytes' })
    expect(decoder.keys).toBe('bytes')
    decoder.decode(encodeByteKeyRecords([1, 2], [Buffer.from([0xff, 0]), ''], [1, 2, 3, 4], 2), out)
    decoder.decode(encodeByteKeyRecords([3], ['日本'], [5, 6], 2), out)
    const view = out.view()
    expect(Array.from(view.timestamps)).toEqual([1, 2, 3])
    expect(Array.from(view.values)).toEqual([1, 2, 3, 4, 5, 6])
    const { bytes, offsets } = view.keys as { bytes: Uint8Array; offsets: Uint32Array }
    expect(Array.from(offsets)).toEqual([0, 2, 2, 8])
    expect(Buffer.from(bytes.subarray(6, 8 + 0)).length).toBe(2)
    expect(Buffer.from(bytes.subarray(2, 8)).toString()).toBe('日本')
    const whole = encodeByteKeyRecords([4], ['abc'], [7, 8], 2)
    for (const cut of [1, 9, 12, whole.length - 1]) {
      expect(() => decoder.decode(whole.subarray(0, cut), out)).toThrow(/ends inside/)
      expect(out.length).toBe(3)
    }
    expect(() => decoder.decode(Buffer.alloc(0), out)).toThrow(/empty/)
    expect(() => decoder.decode(whole, new ColumnBuilder(2, 4, 'string'))).toThrow(/byte keys/)
  })
})
