// Registers a KafkaConsumerAdapter's metrics() with prom-client, an optional peer (not a dependency): it is
// looked up from the application's working directory, so the registry and the metric classes come from
// the same prom-client the application uses; or the caller passes its module in.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { SluiceError } from '../runtime/errors'
import type { KafkaAdapterMetrics, KafkaPartitionMetrics } from './consumer_adapter'

/** The part of prom-client used here. */
export interface PromClient {
  Gauge: new (config: { name: string; help: string; labelNames?: string[]; registers?: unknown[]; collect?: () => void }) => PromMetric
  Counter: new (config: { name: string; help: string; labelNames?: string[]; registers?: unknown[]; collect?: () => void }) => PromMetric
}

/** The part of a prom-client Gauge or Counter that registerPrometheus uses. */
export interface PromMetric {
  reset(): void
  set?(labels: Record<string, string>, value: number): void
  inc?(labels: Record<string, string>, value: number): void
}

/** What registerPrometheus reads at each scrape: a KafkaConsumerAdapter, or anything with its metrics(). */
export interface MetricsSource {
  metrics(): KafkaAdapterMetrics
}

/** prom-client as the application resolves it, or an ERR_NOT_SUPPORTED error saying it is not installed. */
export function loadPromClient(): PromClient {
  try {
    return createRequire(join(process.cwd(), 'index.js'))('prom-client') as PromClient
  } catch (error) {
    throw new SluiceError(`prom-client is not installed (npm install prom-client): ${(error as Error).message}`, 'ERR_NOT_SUPPORTED')
  }
}

const PARTITION_METRICS: { name: string; help: string; counter: boolean; value: (p: KafkaPartitionMetrics) => number | null }[] = [
  { name: 'sluice_kafka_consumer_lag', help: 'High watermark of the last batch minus the next offset (messages)', counter: false, value: (p) => p.consumerLag },
  { name: 'sluice_kafka_watermark', help: 'The partition watermark (event time)', counter: false, value: (p) => (Number.isFinite(p.watermark) ? p.watermark : null) },
  { name: 'sluice_kafka_watermark_lag_seconds', help: 'Wall clock minus the watermark (event time in ms)', counter: false, value: (p) => (Number.isFinite(p.watermarkLag) ? p.watermarkLag / 1000 : null) },
  { name: 'sluice_kafka_events_total', help: 'Events processed', counter: true, value: (p) => p.events },
  { name: 'sluice_kafka_results_total', help: 'Windows fired / rows produced', counter: true, value: (p) => p.results },
  { name: 'sluice_kafka_dead_letters_total', help: 'Messages sent to the dead-letter topic', counter: true, value: (p) => p.deadLetters },
  { name: 'sluice_kafka_late_events_total', help: 'Late events (the processor count)', counter: true, value: (p) => p.late },
  { name: 'sluice_kafka_checkpoints_total', help: 'Checkpoints written', counter: true, value: (p) => p.checkpoints },
  { name: 'sluice_kafka_checkpoint_bytes_total', help: 'Bytes the state store wrote for checkpoints', counter: true, value: (p) => p.checkpointBytes },
  { name: 'sluice_kafka_snapshot_bytes_total', help: 'Bytes of the snapshots taken for checkpoints', counter: true, value: (p) => p.snapshotBytes },
  { name: 'sluice_kafka_checkpoint_seconds_total', help: 'Time spent in checkpoints', counter: true, value: (p) => p.checkpointMs / 1000 },
  { name: 'sluice_kafka_last_checkpoint_bytes', help: 'Bytes the state store wrote for the last checkpoint', counter: false, value: (p) => p.lastCheckpointBytes },
]

/**
 * Registers the adapter's metrics in a prom-client Registry, read from metrics() at each scrape: per
 * partition (labels topic, partition) and per adapter. One adapter per registry (the names are fixed).
 */
export function registerPrometheus(adapter: MetricsSource, registry: unknown, client: PromClient = loadPromClient()): void {
  const registers = [registry]
  const labelNames = ['topic', 'partition']
  for (const spec of PARTITION_METRICS) {
    const Kind = spec.counter ? client.Counter : client.Gauge
    new Kind({
      name: spec.name, help: spec.help, labelNames, registers,
      collect(this: PromMetric) {
        this.reset()
        for (const p of adapter.metrics().partitions) {
          const value = spec.value(p)
          if (value === null) continue
          const labels = { topic: p.topic, partition: String(p.partition) }
          if (spec.counter) this.inc!(labels, value)
          else this.set!(labels, value)
        }
      },
    })
  }
  new client.Gauge({
    name: 'sluice_kafka_batch_latency_seconds', help: 'Batch latency (decode to checkpoint) over the recent batches', labelNames: ['quantile'], registers,
    collect(this: PromMetric) {
      this.reset()
      const m = adapter.metrics()
      if (!Number.isNaN(m.batchLatencyP50)) {
        this.set!({ quantile: '0.5' }, m.batchLatencyP50 / 1000)
        this.set!({ quantile: '0.99' }, m.batchLatencyP99 / 1000)
      }
    },
  })
  for (const [name, help, key] of [
    ['sluice_kafka_processor_retries_total', 'Batches retried after their processor threw', 'processorRetries'],
    ['sluice_kafka_processor_failures_total', 'Batches dead-lettered after the retries', 'processorFailures'],
  ] as const) {
    new client.Counter({
      name, help, registers,
      collect(this: PromMetric) {
        this.reset()
        this.inc!({}, adapter.metrics()[key])
      },
    })
  }
}
