// Stages the user chooses around the Pipeline's own pass: a detector over each finished result batch (in
// place of the built-in rolling z-score), and a sink whose promise paces the source (Pipeline.drain).
// See docs/pipeline.md ("Your own detector", "Sink").
import { SluiceError } from '../runtime/errors'
import type { ResultBatch } from './pipeline'

/**
 * Scores a finished result batch in place: it reads the columns (values, forecast, …) and may write
 * `score` and `flagged` (1 = anomaly; they arrive as NaN and 0). Called once per result batch, empty ones
 * included, before the batch is returned. Its own state is not in the pipeline's snapshot.
 */
export type PipelineDetector = (batch: ResultBatch) => void

/**
 * Receives each result batch; the pipeline reads the next source batch only after the returned promise
 * resolves. The batch's columns are the sink's until then (keep a copy to hold them longer).
 */
export type PipelineSink = (batch: ResultBatch) => Promise<void> | void

export interface PipelineDrainOptions {
  sink: PipelineSink
  signal?: AbortSignal
}

/** The `detector` option, checked: a function, and never together with `anomaly` (which configures the built-in one). */
export function checkDetector(detector: unknown, anomalyGiven: boolean): PipelineDetector | undefined {
  if (detector === undefined) return undefined
  if (typeof detector !== 'function') throw new SluiceError('detector must be a function (batch) => void', 'ERR_INVALID_TYPE')
  if (anomalyGiven) throw new SluiceError('give either detector (your own) or anomaly (options of the built-in z-score), not both', 'ERR_INVALID_ARGUMENT')
  return detector as PipelineDetector
}

/** Runs the detector on a finished batch; returns how many rows it flagged. */
export function runDetector(detector: PipelineDetector, batch: ResultBatch): number {
  detector(batch)
  let flagged = 0
  const column = batch.flagged
  for (let r = 0; r < batch.length; r++) if (column[r] !== 0) flagged++
  return flagged
}

export function checkSink(sink: unknown): PipelineSink {
  if (typeof sink !== 'function') throw new SluiceError('sink must be a function (batch) => Promise<void> | void', 'ERR_INVALID_TYPE')
  return sink as PipelineSink
}

/**
 * Hands each result to the sink and waits for it before asking for the next one, so the source (read by
 * `results` on demand) is never more than one batch ahead of what the sink accepted. `accepted` runs when
 * the sink resolved for a batch; `refused` when it threw or rejected, before the error propagates (leaving
 * the loop returns `results`, which returns the source).
 */
export async function drainInto(results: AsyncIterable<ResultBatch>, sink: PipelineSink, accepted: () => void, refused: (error: unknown) => void): Promise<void> {
  for await (const batch of results) {
    try {
      await sink(batch)
    } catch (error) {
      refused(error)
      throw error
    }
    accepted()
  }
}
