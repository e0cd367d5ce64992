// The adapter drives one PartitionProcessor per topic-partition. Keys live in one partition (Kafka's
// key partitioning), so per-partition state is independent of which consumer owns which partition: a
// partition's snapshot moves to another consumer and continues exactly.
import type { KeyColumn, PackedKeys } from '../keys/key_column'
import { SluiceError } from '../runtime/errors'
import { EventTimeWindows, type EventTimeWindowsOptions } from '../windows/event_time_windows'
import { rowOf, windowFields } from './result_rows'

export interface EventColumns {
  timestamps: Float64Array
  /** Dense ids, string keys (a decoder and a processor with keys: 'string') or byte keys (both with keys: 'bytes'). */
  keys: Uint32Array | string[] | PackedKeys
  /** Row-major [event][channel]. */
  values: Float64Array
}

export interface PartitionProcessor<R> {
  /** Takes a batch of the partition's events (any order). The arrays are views reused after the call returns. */
  push(batch: EventColumns): void
  /**
   * The adapter advances the watermark at least every this much event time within a batch (e.g. so that
   * open windows stay within EventTimeWindows' horizon). Optional: undefined means no limit.
   */
  readonly watermarkStride?: number
  /** Raises the partition's watermark; returns the results it makes final (copied: they outlive the call). */
  advanceWatermark(watermark: number): R[]
  /** The whole state (versioned, checksummed bytes). */
  snapshot(): Uint8Array
  /** Replaces the state with a snapshot of a processor built with the same options. */
  restore(bytes: Uint8Array): void
  /**
   * Incremental checkpoints (optional; the adapter's `fullEvery`): the state changed since the last snapshot(),
   * restore() or snapshotDelta(), as bytes that applyDelta() of a processor standing at that checkpoint takes.
   */
  snapshotDelta?(): Uint8Array
  applyDelta?(bytes: Uint8Array): void
  close(): void
  /**
   * Interned keys with a maxKeys limit (optional): how many more keys fit now (Infinity: no limit set), and
   * which of `keys` the processor holds. The adapter dead-letters a message whose new keys would pass the
   * limit, instead of a push that refuses the whole batch.
   */
  keyRoom?(): number
  held?(keys: string[] | PackedKeys): Uint8Array
}

/** keyRoom() of a keyed object with a maxKeys option and a liveKeys metric. */
export function keyRoom(maxKeys: number | undefined, liveKeys: number | undefined): number {
  return maxKeys === undefined ? Infinity : maxKeys - (liveKeys ?? 0)
}

/** A fired window, one object per window (windows fire far less often than events arrive). */
export interface WindowResult {
  /** The dense id, or with string keys the key itself, or with byte keys the key's bytes (a copy). */
  key: number | string | Uint8Array
  start: number
  end: number
  count: number
  /** True for an update of a window that fired before (allowed lateness). */
  updated: boolean
  /** [channel][aggregate], as EventTimeWindows' `values`. */
  values: number[]
}

/** Whether windows (or a pipeline's) compute sketch aggregates, which have no incremental checkpoints. */
export function usesSketches(engine: { readonly quantiles: readonly number[]; readonly aggregates: readonly string[] }): boolean {
  return engine.quantiles.length > 0 || engine.aggregates.some((a) => a === 'distinct' || /^p\d+$/.test(a))
}

/** EventTimeWindows per partition. Watermarks come from the adapter (the partition's own watermark). */
export class WindowProcessor implements PartitionProcessor<WindowResult> {
  readonly windows: EventTimeWindows
  /** One window length (the default horizon is 4 lengths: room for a bound of up to 2 lengths). */
  readonly watermarkStride: number | undefined
  /** Events that fell into no live window, over the processor's life (restored with the snapshot's metrics). */
  get late(): number {
    return this.windows.metrics().late
  }

  /** Deltas per changed key (EventTimeWindows.snapshotDelta); absent with sketch aggregates, which have none. */
  readonly snapshotDelta?: () => Uint8Array
  readonly applyDelta?: (bytes: Uint8Array) => void

  constructor(options: Omit<EventTimeWindowsOptions, 'tracker'>) {
    if (typeof options !== 'object' || options === null) throw new SluiceError('options must be an object', 'ERR_INVALID_TYPE')
    this.windows = new EventTimeWindows({ ...options, tracker: undefined })
    this.watermarkStride = options.type === 'session' ? undefined : options.size
    const windows = this.windows
    if (!usesSketches(windows)) {
      this.snapshotDelta = () => windows.snapshotDelta()
      this.applyDelta = (bytes) => windows.applyDelta(bytes)
    }
  }

  push(batch: EventColumns): void {
    this.windows.push(batch)
  }

  advanceWatermark(watermark: number): WindowResult[] {
    // Only real advances: a lower or equal watermark changes nothing (and would count as ignored).
    if (!(watermark > this.windows.watermark) || watermark === Infinity) return []
    const fired = this.windows.advanceWatermark(watermark)
    const per = this.windows.valuesPerWindow
    const results: WindowResult[] = new Array(fired.length)
    const names = this.windows.keyKind === 'string' ? (fired.keys as string[]) : undefined
    const packed = this.windows.keyKind === 'bytes' ? (fired.keys as PackedKeys) : undefined
    for (let i = 0; i < fired.length; i++) {
      const fields = windowFields(fired, i)
      const key = names ? names[i]! : packed ? packed.bytes.slice(packed.offsets[i]!, packed.offsets[i + 1]!) : fields.key
      results[i] = { ...fields, key, updated: fired.updated[i] === 1, values: rowOf(fired.values, i, per) }
    }
    return results
  }

  keyRoom(): number {
    return keyRoom(this.windows.maxKeys, this.windows.metrics().liveKeys)
  }

  held(keys: string[] | PackedKeys): Uint8Array {
    return this.windows.held(keys as KeyColumn)
  }

  snapshot(): Uint8Array {
    return this.windows.snapshot()
  }

  restore(bytes: Uint8Array): void {
    this.windows.restore(bytes)
  }

  close(): void {
    this.windows.close()
  }
}
