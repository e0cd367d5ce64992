// The sketch-aggregate streams of the Kafka tests (in-memory consumer and broker): a WindowProcessor's
// options (sliding windows of DDSketch quantiles and HyperLogLog distinct) and a PipelineProcessor's (those
// as features under a forecast and z-score), and the uninterrupted references the adapter's output must equal.
import { EventTimeWindows, Pipeline, type EventTimeWindowsOptions, type LstmModel, type PipelineOptions } from '../../lib/index'
import { encodeBinaryRecords } from '../../lib/kafka/index'
import type { PartitionEvents } from './kafka_data'

export const CHANNELS = 2
export const KEYS = 3
export const SIZE = 100
export const DISORDER = 30
/** makeEvents never puts an event more than DISORDER behind the newest: with this bound none is late. */
export const BOUND = DISORDER

export const windowOptions: Omit<EventTimeWindowsOptions, 'tracker'> = {
  type: 'sliding', size: SIZE, slide: SIZE / 4, keyCount: KEYS, channels: CHANNELS,
  aggregates: ['count', 'p50', 'p99', 'distinct'], quantiles: [0.9], accuracy: 0.02, distinctPrecision: 10,
}

/** Features per row of pipelineOptions: 2 channels × (mean, p50, p99, distinct, q0.9). */
export const FEATURES = CHANNELS * 5

export const pipelineOptions = (model: LstmModel): Omit<PipelineOptions, 'inputs' | 'idleTimeout' | 'clock'> => ({
  keyCount: KEYS, channels: CHANNELS, window: { size: SIZE }, bound: BOUND, maxFill: 3,
  features: { aggregates: ['mean', 'p50', 'p99', 'distinct'], quantiles: [0.9], accuracy: 0.02, distinctPrecision: 10 },
  forecaster: { model, steps: 3 }, anomaly: { window: 6, warmup: 3, threshold: 1.5 },
})

/** JSON turns NaN into null: the rows as the output topic carries them. */
const nullable = (x: number) => (Number.isNaN(x) ? null : x)

export type Row = Record<string, unknown>

/** The fields of an output message that a WindowResult / PipelineRow carries (not the adapter's watermark). */
export const windowFields = (r: Row): Row => ({ count: r.count, updated: r.updated, values: r.values })
export const rowFields = (r: Row): Row => ({ count: r.count, filled: r.filled, values: r.values, forecast: r.forecast, score: r.score, flagged: r.flagged })

/** The windows of one uninterrupted EventTimeWindows per partition, by output message key. */
export function referenceWindows(topic: string, data: PartitionEvents[]): Map<string, Row> {
  const rows = new Map<string, Row>()
  data.forEach((events, p) => {
    const w = new EventTimeWindows({ ...windowOptions, horizon: 4000 }) // the whole partition in one push (the horizon changes no result)
    w.push({ timestamps: Float64Array.from(events.timestamps), keys: Uint32Array.from(events.keys), values: Float64Array.from(events.values) })
    const f = w.advanceWatermark(Math.max(...events.timestamps) - BOUND - 1)
    for (let i = 0; i < f.length; i++) {
      const values = Array.from(f.values.subarray(i * w.valuesPerWindow, (i + 1) * w.valuesPerWindow), nullable)
      rows.set(`${topic}/${p}/${f.key[i]}/${f.start[i]}/${f.end[i]}`, { count: f.count[i], updated: false, values })
    }
    w.close()
  })
  return rows
}

/** The rows of one uninterrupted Pipeline per partition, one process() per message (one event each). */
export function referenceRows(topic: string, data: PartitionEvents[], model: LstmModel): Map<string, Row> {
  const rows = new Map<string, Row>()
  data.forEach((events, p) => {
    const pipeline = new Pipeline({ ...pipelineOptions(model), inputs: 1 })
    for (let i = 0; i < events.timestamps.length; i++) {
      const r = pipeline.process({ timestamps: Float64Array.of(events.timestamps[i]!), keys: Uint32Array.of(events.keys[i]!), values: Float64Array.from(events.values.slice(i * CHANNELS, (i + 1) * CHANNELS)), now: 0 })
      for (let j = 0; j < r.length; j++) {
        rows.set(`${topic}/${p}/${r.key[j]}/${r.start[j]}/${r.end[j]}`, {
          count: r.count[j], filled: r.filled[j] === 1,
          values: Array.from(r.values.subarray(j * FEATURES, (j + 1) * FEATURES), nullable),
          forecast: Array.from(r.forecast.subarray(j * FEATURES, (j + 1) * FEATURES), nullable),
          score: nullable(r.score[j]!), flagged: r.flagged[j] === 1,
        })
      }
    }
    pipeline.close()
  })
  return rows
}

/** One binary record per message (the reference pipeline takes one process() per message). */
export function messagesOf(events: PartitionEvents): Buffer[] {
  return events.timestamps.map((t, i) => encodeBinaryRecords([t], [events.keys[i]!], events.values.slice(i * CHANNELS, (i + 1) * CHANNELS), CHANNELS))
}
