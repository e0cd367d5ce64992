// A Pipeline per partition behind the adapter's processor interface: the adapter's per-partition watermark
// (and, for idle partitions, the combined one) drives the pipeline, so the rows equal those of one Pipeline
// fed the partition's messages directly, whatever the batch cuts and whichever consumer owns the partition.
import { SluiceError } from '../runtime/errors'
import { Pipeline, type PipelineOptions, type ResultBatch } from '../pipeline/pipeline'
import type { KeyColumn, PackedKeys } from '../keys/key_column'
import { keyRoom, usesSketches, type EventColumns, type PartitionProcessor } from './processor'
import { rowOf, windowFields } from './result_rows'

/** One Pipeline result row, one object per row (as WindowResult is one per window). NaN becomes null in JSON. */
export interface PipelineRow {
  /** The entity key: a dense id, the string key (a pipeline with keys: 'string'), or the key's bytes (keys: 'bytes'). */
  key: number | string | Uint8Array
  start: number
  end: number
  /** Events in the window; 0 for a forward-filled row. */
  count: number
  filled: boolean
  /** The row's features after forward fill: [channel][aggregate] (window means per channel by default). */
  values: number[]
  /** The forecast of this row's features from the key's earlier rows (NaN: none). */
  forecast: number[]
  /** max |z| of the residual over channels (NaN while warming up, for filled rows, without a forecast). */
  score: number
  flagged: boolean
  /** Only with `labels: true`. */
  label?: number
}

/** Pipeline options without the parts the adapter owns (inputs, idleness, clock); `bound` must be the adapter's. */
export type PipelineProcessorOptions = Omit<PipelineOptions, 'inputs' | 'idleTimeout' | 'clock'>

/**
 * Pipeline (tracker → windows → forward fill → scaler → forecast → residual z-score) per partition. Build it
 * with the adapter's `bound`, `keyCount` and the decoder's `channels`. The inner pipeline has one input and
 * no idleness: the adapter handles idleness and hands an idle partition the combined watermark.
 */
export class PipelineProcessor implements PartitionProcessor<PipelineRow> {
  readonly pipeline: Pipeline
  /** One window slide: keeps a pushed run within the pipeline's window horizon (as WindowProcessor). */
  readonly watermarkStride: number
  private rows: PipelineRow[] = []

  constructor(options: PipelineProcessorOptions) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.pipeline = new Pipeline({ ...options, inputs: 1, idleTimeout: Infinity })
    this.watermarkStride = this.pipeline.slide
    const pipeline = this.pipeline
    if (!usesSketches(pipeline)) {
      this.snapshotDelta = () => {
        this.checkTaken('snapshotDelta')
        return pipeline.snapshotDelta()
      }
      this.applyDelta = (bytes) => pipeline.applyDelta(bytes)
    }
  }

  /** Deltas per changed key (Pipeline.snapshotDelta); absent with sketch features, which have none. */
  readonly snapshotDelta?: () => Uint8Array
  readonly applyDelta?: (bytes: Uint8Array) => void

  /** Events late for the pipeline's windows, over its life (restored with the snapshot's metrics). */
  get late(): number {
    return this.pipeline.metrics().lateEvents
  }

  push(batch: EventColumns): void {
    // The pipeline's own tracker (same bound) fires what the batch's watermark closes; the rows wait for
    // advanceWatermark, which the adapter calls after every push.
    const kind = Array.isArray(batch.keys) ? 'string' : batch.keys instanceof Uint32Array ? 'dense' : 'bytes'
    if (kind !== this.pipeline.keyKind) {
      throw new SluiceError(`the decoder's keys ('${kind}') and the Pipeline's (keys: '${this.pipeline.keyKind}') differ: build both with the same kind`, 'ERR_INVALID_TYPE')
    }
    this.collect(this.pipeline.process({ timestamps: batch.timestamps, keys: batch.keys, values: batch.values, now: 0 }))
  }

  advanceWatermark(watermark: number): PipelineRow[] {
    if (Number.isFinite(watermark) && watermark > this.pipeline.metrics().watermark) this.collect(this.pipeline.advanceTo(watermark))
    const out = this.rows
    this.rows = []
    return out
  }

  snapshot(): Uint8Array {
    this.checkTaken('snapshot')
    return this.pipeline.snapshot()
  }

  /** Rows not yet handed out are not in the pipeline's state: a checkpoint refuses rather than lose them. */
  private checkTaken(call: string): void {
    if (this.rows.length > 0) throw new SluiceError(`${this.rows.length} rows were not taken by advanceWatermark() before ${call}()`, 'ERR_INVALID_STATE')
  }

  restore(bytes: Uint8Array): void {
    this.pipeline.restore(bytes)
    this.rows = []
  }

  close(): void {
    this.pipeline.close()
  }

  keyRoom(): number {
    return keyRoom(this.pipeline.maxKeys, this.pipeline.metrics().liveKeys)
  }

  held(keys: string[] | PackedKeys): Uint8Array {
    return this.pipeline.held(keys as KeyColumn)
  }

  private collect(batch: ResultBatch): void {
    const C = this.pipeline.features // per row: [channel][aggregate] of the chosen features
    const kind = this.pipeline.keyKind
    const keys = kind !== 'dense' && batch.length > 0 ? this.pipeline.keysOf(batch.key) : undefined
    const names = kind === 'string' ? (keys as string[] | undefined) : undefined
    const packed = kind === 'bytes' ? (keys as PackedKeys | undefined) : undefined
    for (let r = 0; r < batch.length; r++) {
      const row: PipelineRow = {
        ...windowFields(batch, r),
        ...(names && { key: names[r]! }),
        ...(packed && { key: packed.bytes.slice(packed.offsets[r]!, packed.offsets[r + 1]!) }),
        filled: batch.filled[r] === 1,
        values: rowOf(batch.values, r, C),
        forecast: rowOf(batch.forecast, r, C),
        score: batch.score[r]!,
        flagged: batch.flagged[r] === 1,
      }
      if (batch.label) row.label = batch.label[r]!
      this.rows.push(row)
    }
  }
}
