// The in-memory Kafka client of the adapter tests: a consumer that calls eachBatch the way KafkaJS does
// (offset order, assignment events) and a producer that keeps what it was sent.
import { expect } from 'vitest'
import type { EachBatchPayload, ProducedMessage } from '../../lib/kafka/index'

export class FakeConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join' }
  readonly log: string[] = []
  private eachBatch?: (payload: EachBatchPayload) => Promise<void>
  private listeners: ((event: { payload: { memberAssignment?: Record<string, number[]> } }) => void)[] = []
  constructor(readonly topic = 'in') {}
  async run(options: { eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.eachBatch = options.eachBatch
  }
  async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    for (const o of offsets) this.log.push(`commit ${o.partition}@${o.offset}`)
  }
  on(_event: string, listener: (event: { payload: { memberAssignment?: Record<string, number[]> } }) => void): void {
    this.listeners.push(listener)
  }
  assign(partitions: number[]): void {
    for (const l of this.listeners) l({ payload: { memberAssignment: { [this.topic]: partitions } } })
  }
  /** highWatermark: the log end offset the batch reports (as KafkaJS does); omitted when not given. */
  deliver(partition: number, messages: { offset: number; value: Buffer | null; key?: Buffer | null }[], highWatermark?: number): Promise<void> {
    return this.eachBatch!({
      batch: { topic: this.topic, partition, ...(highWatermark === undefined ? {} : { highWatermark: String(highWatermark) }), messages: messages.map((m) => ({ offset: String(m.offset), value: m.value, key: m.key ?? null })) },
      heartbeat: async () => undefined,
      resolveOffset: () => undefined,
    })
  }
}

export class FakeProducer {
  readonly sent: { topic: string; message: ProducedMessage }[] = []
  constructor(private readonly log: string[]) {}
  async send(record: { topic: string; messages: ProducedMessage[] }): Promise<void> {
    for (const message of record.messages) this.sent.push({ topic: record.topic, message })
    this.log.push(`send ${record.topic} ${record.messages.length}`)
  }
  results(): Map<string, string[]> {
    const byKey = new Map<string, string[]>()
    for (const { topic, message } of this.sent) {
      if (topic !== 'out') continue
      const list = byKey.get(String(message.key)) ?? []
      list.push(String(message.value))
      byKey.set(String(message.key), list)
    }
    return byKey
  }
}

/** Delivers messages in batches whose sizes come from `sizes` (cycled). */
export async function deliverInBatches(consumer: FakeConsumer, partition: number, messages: { offset: number; value: Buffer | null; key?: Buffer | null }[], sizes: number[]): Promise<void> {
  for (let i = 0, s = 0; i < messages.length; s++) {
    const n = sizes[s % sizes.length]!
    await consumer.deliver(partition, messages.slice(i, i + n))
    i += n
  }
}

/**
 * Results by key of the producers' output; a key emitted twice (a replay) must carry the same window both
 * times. The watermark a result was fired under differs in a replay (batches are cut differently); the
 * window does not, so it is left out.
 */
export function resultsOf(...producers: FakeProducer[]): Map<string, string> {
  const out = new Map<string, string>()
  for (const producer of producers) {
    for (const [key, values] of producer.results()) {
      for (const value of values) {
        const { watermark: _, ...window } = JSON.parse(value) as Record<string, unknown>
        const text = JSON.stringify(window)
        if (out.has(key)) expect(text, `replayed ${key}`).toBe(out.get(key))
        out.set(key, text)
      }
    }
  }
  return out
}

/** A consumer whose offset commits fail from the `failFrom`-th on (the group moved the partition away). */
export class LosingConsumer extends FakeConsumer {
  commits = 0
  constructor(private readonly failFrom: number) {
    super('in')
  }
  override async commitOffsets(offsets: { topic: string; partition: number; offset: string }[]): Promise<void> {
    if (++this.commits >= this.failFrom) throw new Error('rebalance in progress')
    await super.commitOffsets(offsets)
  }
}
