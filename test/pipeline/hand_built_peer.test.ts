// The pipeline benchmark's hand-built peer (bench/peers/hand_built_pipeline.js: plain-JS watermarks, windows,
// forward fill and z-score, onnxruntime-node's LSTM) gives the Pipeline's rows on the same stream, so the
// benchmark compares equal work: counts exactly, means to the last bits, forecasts and scores within float tolerance.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type PipelineForecaster, type SourceBatch } from '../../lib/index'
import { mulberry32 } from '../../lib/runtime/random'
import { HandBuiltPipeline, type HandBuiltRows } from '../../bench/peers/hand_built_pipeline'
import { buildOnnxLstmModel } from '../support/onnx_lstm_model'

const ort = createRequire(__filename)('onnxruntime-node')

const SIZE = 100, KEYS = 5, C = 2, INPUTS = 2, BOUND = 150, MAX_FILL = 3, H = 8

/** Per key one to three events per window, some windows skipped (a few for longer than MAX_FILL), some NaN
 * values, some events behind the watermark (late); shuffled within the bound, keys split over the inputs. */
function stream(seed: number): SourceBatch[] {
  const random = mulberry32(seed)
  const events: { t: number; k: number; v: [number, number]; arrival: number }[] = []
  for (let k = 0; k < KEYS; k++) {
    for (let i = 0; i < 120; i++) {
      if (random() < 0.08 || (k === 1 && i >= 50 && i < 56)) continue
      for (let e = Math.floor(random() * 3); e >= 0; e--) {
        const t = i * SIZE + Math.floor(random() * SIZE)
        const v: [number, number] = [Math.sin(i / 7 + k) * 3 + random(), random() < 0.05 ? NaN : Math.cos(i / 5) + k]
        const late = random() < 0.02 ? 4 * SIZE : 0
        events.push({ t, k, v, arrival: t + Math.floor(random() * BOUND) + late })
      }
    }
  }
  events.sort((a, b) => a.arrival - b.arrival)
  const batches: SourceBatch[] = []
  for (let at = 0; at < events.length; at += 11) {
    const input = (at / 11) % INPUTS
    const part = events.slice(at, at + 11)
    batches.push({ input, timestamps: Float64Array.from(part, (e) => e.t), keys: Uint32Array.from(part, (e) => e.k), values: Float64Array.from(part.flatMap((e) => e.v)), now: 0 })
  }
  return batches
}

interface Row { count: number; filled: number; values: number[]; forecast: number[]; score: number; flagged: number }

function collect(into: Map<string, Row>, rows: HandBuiltRows | ReturnType<Pipeline['process']>): void {
  for (let r = 0; r < rows.length; r++) {
    const id = `${rows.key[r]}@${rows.start[r]}`
    expect(into.has(id), `row ${id} twice`).toBe(false)
    into.set(id, {
      count: rows.count[r]!, filled: rows.filled[r]!, score: rows.score[r]!, flagged: rows.flagged[r]!,
      values: Array.from(rows.values.subarray(r * C, r * C + C)), forecast: Array.from(rows.forecast.subarray(r * C, r * C + C)),
    })
  }
}

function expectClose(actual: number, expected: number, tolerance: number, what: string): void {
  if (Number.isNaN(expected)) expect(actual, what).toBeNaN()
  else expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected)))
}

describe('the hand-built pipeline peer (benchmark) agrees with Pipeline', () => {
  const cases: [string, Omit<PipelineForecaster, 'model'> | undefined][] = [
    ['no model', undefined],
    ['state mode, level', { mode: 'state' }],
    ['state mode, change', { mode: 'state', target: 'change' }],
    ['window mode (4 steps), change', { mode: 'window', steps: 4, target: 'change' }],
  ]
  it.each(cases)('%s: the same rows, forecasts and scores', async (_name, forecaster) => {
    const model = LstmModel.create({ inputSize: C, hiddenSize: H, outputSize: C, seed: 7 })
    const session = forecaster
      ? await ort.InferenceSession.create(buildOnnxLstmModel(model.weights(), { withState: forecaster.mode === 'state' }), { intraOpNumThreads: 1, logSeverityLevel: 3 })
      : undefined
    const anomaly = { window: 20, warmup: 5, threshold: 2.5 }
    const pipeline = new Pipeline({ inputs: INPUTS, keyCount: KEYS, channels: C, window: { size: SIZE, horizon: 20 * SIZE }, bound: BOUND, maxFill: MAX_FILL, clock: () => 0, anomaly, ...(forecaster ? { forecaster: { model, ...forecaster } } : {}) })
    const peer = new HandBuiltPipeline({ inputs: INPUTS, keyCount: KEYS, channels: C, size: SIZE, bound: BOUND, maxFill: MAX_FILL, panes: 24, anomaly, ...(forecaster ? { forecaster: { ort, session, hiddenSize: H, ...forecaster } } : {}) })
    const ours = new Map<string, Row>(), theirs = new Map<string, Row>()
    for (const batch of stream(3)) {
      collect(ours, pipeline.process(batch))
      collect(theirs, await peer.process(batch))
    }
    collect(ours, pipeline.finish())
    collect(theirs, await peer.finish())
    expect(peer.late).toBe(pipeline.metrics().lateEvents)
    expect(peer.late).toBeGreaterThan(0)
    expect([...theirs.keys()].sort()).toEqual([...ours.keys()].sort())
    let forecasts = 0, scores = 0, flagged = 0
    for (const [id, row] of ours) {
      const peerRow = theirs.get(id)!
      expect({ count: peerRow.count, filled: peerRow.filled }, id).toEqual({ count: row.count, filled: row.filled })
      // Means up to the order of summation.
      row.values.forEach((v, c) => expectClose(peerRow.values[c]!, v, 1e-12, `${id} values[${c}]`))
      row.forecast.forEach((f, c) => expectClose(peerRow.forecast[c]!, f, 1e-4, `${id} forecast[${c}]`))
      expectClose(peerRow.score, row.score, 1e-3, `${id} score`)
      expect(peerRow.flagged, `${id} flagged`).toBe(row.flagged)
      if (!Number.isNaN(row.forecast[0]!)) forecasts++
      if (!Number.isNaN(row.score)) scores++
      flagged += row.flagged
    }
    // The comparison covers forward-filled rows and, with a model, real forecasts and scores.
    expect(pipeline.metrics().filledRows).toBeGreaterThan(0)
    if (forecaster) {
      expect(forecasts).toBeGreaterThan(ours.size / 2)
      expect(scores).toBeGreaterThan(ours.size / 3)
      expect(flagged).toBeGreaterThan(0)
    }
    pipeline.close()
    model.close()
    await session?.release()
  })
})
