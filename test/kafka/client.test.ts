// The adapter with a consumer shaped like @confluentinc/kafka-javascript's KafkaJS API (no autoCommit in
// run(), no group events, assignment() instead, highWatermark '-1001' when unknown), in memory.
import { describe, expect, it } from 'vitest'
import { FileStateStore, KafkaConsumerAdapter, WindowProcessor, binaryDecoder, encodeBinaryRecords, type EachBatchPayload } from '../../lib/kafka/index'
import { tempDirs } from '../support/temp_dirs'

const tempDir = tempDirs('sluice-kafka-client-')

class LibrdkafkaLikeConsumer {
  runOptions: Record<string, unknown> | undefined
  current: { topic: string; partition: number }[] = []
  eachBatch!: (payload: EachBatchPayload) => Promise<void>
  /** What @confluentinc/kafka-javascript's producer calls for sendOffsets; the adapter tells the clients apart by it. */
  _getInternalClient(): unknown {
    return {}
  }
  get events(): never {
    throw new Error('not implemented') // as in @confluentinc/kafka-javascript
  }
  async run(options: Record<string, unknown>): Promise<void> {
    if ('autoCommit' in options) throw new Error("'autoCommit' is not supported in run()")
    this.runOptions = options
    this.eachBatch = options.eachBatch as typeof this.eachBatch
  }
  async commitOffsets(): Promise<void> {}
  assignment() {
    return this.current
  }
  deliver(partition: number, offset: number, timestamp: number, highWatermark: string): Promise<void> {
    return this.eachBatch({
      batch: { topic: 'in', partition, highWatermark, messages: [{ offset: String(offset), value: encodeBinaryRecords([timestamp], [0], [1], 1) }] },
      heartbeat: async () => undefined,
      resolveOffset: () => undefined,
    })
  }
}

describe('KafkaConsumerAdapter with a librdkafka-style (@confluentinc/kafka-javascript) consumer', () => {
  it('runs without autoCommit, reads the assignment before each batch, and takes highWatermark -1001 as unknown', async () => {
    const consumer = new LibrdkafkaLikeConsumer()
    const adapter = new KafkaConsumerAdapter({
      consumer, producer: { send: async () => undefined }, decoder: binaryDecoder({ channels: 1 }), outputTopic: 'out', stateStore: new FileStateStore(tempDir()),
      processor: () => new WindowProcessor({ type: 'tumbling', size: 10, keyCount: 1, channels: 1 }),
    })
    await adapter.run()
    expect(consumer.runOptions).toMatchObject({ eachBatchAutoResolve: false })
    consumer.current = [0, 1].map((partition) => ({ topic: 'in', partition }))
    await consumer.deliver(0, 0, 1000, '-1001')
    // Partition 1 is assigned but has no data yet: it holds the combined watermark back (as with KafkaJS's GROUP_JOIN).
    expect(adapter.watermark).toBe(-Infinity)
    expect(adapter.metrics().consumerLag).toBeNull()
    await consumer.deliver(1, 0, 500, '5')
    expect(adapter.watermark).toBe(499)
    expect(adapter.metrics().consumerLag).toBe(4)
    // Partition 0 is revoked: it is forgotten at the next batch and no longer holds anything back.
    consumer.current = [{ topic: 'in', partition: 1 }]
    await consumer.deliver(1, 1, 600, '5')
    expect(adapter.heldPartitions().map((p) => p.partition)).toEqual([1])
    adapter.close()
  })
})
