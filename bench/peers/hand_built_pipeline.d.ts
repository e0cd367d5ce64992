// Types of hand_built_pipeline.js for the TypeScript tests.
import type { ResultBatch } from '../../lib/pipeline/pipeline'

/** The Pipeline's result columns, without labels, late events and the final flag. */
export type HandBuiltRows = Omit<ResultBatch, 'label' | 'late' | 'final'>

export interface HandBuiltPipelineOptions {
  inputs?: number
  keyCount: number
  channels: number
  size: number
  bound?: number
  maxFill?: number
  panes?: number
  anomaly?: { window?: number; warmup?: number; minStd?: number; threshold?: number; excludeFlagged?: boolean }
  forecaster?: { ort: unknown; session: unknown; hiddenSize: number; mode?: 'window' | 'state'; steps?: number; target?: 'level' | 'change' }
}

export class HandBuiltPipeline {
  constructor(options: HandBuiltPipelineOptions)
  readonly late: number
  process(batch: { input?: number; timestamps: Float64Array; keys?: Uint32Array; values: Float64Array | Float32Array }): Promise<HandBuiltRows>
  finish(): Promise<HandBuiltRows>
}
