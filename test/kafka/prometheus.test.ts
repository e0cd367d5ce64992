// registerPrometheus with the real prom-client, when it is installed (an optional peer, not a dependency):
// skipped otherwise. Run it with prom-client resolvable from the working directory (or NODE_PATH).
import { describe, expect, it } from 'vitest'
import { FileStateStore, KafkaConsumerAdapter, WindowProcessor, binaryDecoder, encodeBinaryRecords, loadPromClient, registerPrometheus, type WindowResult } from '../../lib/kafka/index'
import { expectSluiceError } from '../helpers'
import { FakeConsumer, FakeProducer } from '../support/fake_kafka'
import { tempDirs } from '../support/temp_dirs'
import { makeEvents } from '../support/kafka_data'

const tempDir = tempDirs('sluice-kafka-prom-')

function promClient(): ReturnType<typeof loadPromClient> | undefined {
  try {
    return loadPromClient()
  } catch {
    return undefined
  }
}
const client = promClient() as (ReturnType<typeof loadPromClient> & { Registry: new () => { getSingleMetricAsString(name: string): Promise<string>; metrics(): Promise<string> } }) | undefined

describe('registerPrometheus', () => {
  it.skipIf(client !== undefined)('without prom-client: ERR_NOT_SUPPORTED', () => {
    expectSluiceError(() => loadPromClient(), 'ERR_NOT_SUPPORTED', /prom-client/)
  })

  it.skipIf(client === undefined)('registers sluice_kafka_* metrics with topic/partition labels, read from metrics() at each scrape', async () => {
    const consumer = new FakeConsumer()
    const producer = new FakeProducer(consumer.log)
    const adapter = new KafkaConsumerAdapter<WindowResult>({
      consumer, producer, decoder: binaryDecoder({ channels: 1 }),
      processor: () => new WindowProcessor({ type: 'tumbling', size: 100, keyCount: 4, channels: 1, aggregates: ['count'] }),
      stateStore: new FileStateStore(tempDir()), outputTopic: 'out', deadLetterTopic: 'dlq', keyCount: 4, onError: () => undefined,
    })
    const registry = new client!.Registry()
    registerPrometheus(adapter, registry, client)
    await adapter.run()
    const events = makeEvents(5, 300, 0, 10, 0, 4, 1)
    const messages = events.timestamps.map((t, i) => ({ offset: i, value: encodeBinaryRecords([t], [events.keys[i]!], [events.values[i]!], 1) }))
    messages[7] = { offset: 7, value: Buffer.from('bad') }
    await consumer.deliver(2, messages.slice(0, 150), 400)
    await consumer.deliver(2, messages.slice(150), 400)
    const m = adapter.metrics().partitions[0]!
    const text = await registry.metrics()
    expect(text).toContain(`sluice_kafka_events_total{topic="in",partition="2"} 299`)
    expect(text).toContain(`sluice_kafka_dead_letters_total{topic="in",partition="2"} 1`)
    expect(text).toContain(`sluice_kafka_consumer_lag{topic="in",partition="2"} 100`)
    expect(text).toContain(`sluice_kafka_results_total{topic="in",partition="2"} ${m.results}`)
    expect(text).toContain(`sluice_kafka_checkpoints_total{topic="in",partition="2"} 2`)
    expect(text).toContain(`sluice_kafka_watermark{topic="in",partition="2"} ${m.watermark}`)
    expect(text).toMatch(/sluice_kafka_batch_latency_seconds\{quantile="0.99"\} [0-9.e-]+/)
    expect(text).toContain('sluice_kafka_processor_failures_total 0')
    expect(m.results).toBeGreaterThan(0)
    adapter.close()
  })
})
