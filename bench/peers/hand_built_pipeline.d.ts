// Types of hand_built_pipeline.js for the TypeScript tests.
export interface HandBuiltRows {
  length: number
  watermark: number
  key: Uint32Array
  start: Float64Array
  end: Float64Array
  count: Float64Array
  filled: Uint8Array
  values: Float64Array
  forecast: Float64Array
  score: Float64Array
  flagged: Uint8Array
}

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
