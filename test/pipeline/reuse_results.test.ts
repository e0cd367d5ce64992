// reuseResults: every result batch is written into one buffer the pipeline rewrites. The rows must be
// exactly those of a pipeline with a fresh buffer per batch (sync, async, with a forecaster and labels), the
// buffer must be the same object while it is large enough, a transferred (detached) buffer is replaced, and
// readable() (which reads ahead of its consumer) refuses such a pipeline.
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, type PipelineOptions, type ResultBatch, type SourceBatch } from '../../lib/index'
import { expectSluiceError } from '../helpers'

const SIZE = 10, KEYS = 4

/** Per key one event per window (some windows skipped: forward-filled rows), batches of varying length. */
function stream(windows = 80): SourceBatch[] {
  const events: [number, number, number, number][] = []
  for (let i = 0; i < windows; i++) {
    for (let k = 0; k < KEYS; k++) {
      if ((i + k) % 7 === 3) continue
      events.push([i * SIZE + k, k, Math.sin(i / 5 + k) * 10 + (i % 13 === 0 ? 30 : 0), i % 11 === 0 ? 1 : 0])
    }
  }
  const batches: SourceBatch[] = []
  for (let at = 0, n = 1; at < events.length; at += n, n = (n * 5) % 23 + 1) {
    const part = events.slice(at, at + n)
    batches.push({
      timestamps: Float64Array.from(part, (e) => e[0]), keys: Uint32Array.from(part, (e) => e[1]),
      values: Float64Array.from(part, (e) => e[2]), labels: Uint8Array.from(part, (e) => e[3]),
    })
  }
  return batches
}

/** Every column of a result batch, copied (a reused result is rewritten by the next call). */
function copyOf(batch: ResultBatch) {
  return {
    length: batch.length, key: Array.from(batch.key), start: Array.from(batch.start), end: Array.from(batch.end),
    count: Array.from(batch.count), filled: Array.from(batch.filled), values: Array.from(batch.values),
    forecast: Array.from(batch.forecast), score: Array.from(batch.score), flagged: Array.from(batch.flagged),
    label: batch.label && Array.from(batch.label), watermark: batch.watermark, final: batch.final,
    late: { input: batch.late.input, timestamps: Array.from(batch.late.timestamps), keys: Array.from(batch.late.keys) },
  }
}

function options(model: LstmModel | undefined, reuseResults: boolean): PipelineOptions {
  return {
    keyCount: KEYS, channels: 1, window: { size: SIZE, horizon: 20 * SIZE }, bound: SIZE, clock: () => 0, labels: true, reuseResults,
    ...(model ? { forecaster: { model, mode: 'state' as const }, anomaly: { window: 8, threshold: 2 } } : {}),
  }
}

async function allResults(p: Pipeline, batches: SourceBatch[], async: boolean) {
  const results: ReturnType<typeof copyOf>[] = []
  for (const b of batches) results.push(copyOf(async ? await p.processAsync(b) : p.process(b)))
  // A late event (behind the watermark) and an explicit advance go through the same buffer.
  results.push(copyOf(async ? await p.processAsync({ timestamps: new Float64Array([0]), keys: new Uint32Array([1]), values: new Float64Array([1]), labels: new Uint8Array([0]) }) : p.process({ timestamps: new Float64Array([0]), keys: new Uint32Array([1]), values: new Float64Array([1]), labels: new Uint8Array([0]) })))
  results.push(copyOf(async ? await p.finishAsync() : p.finish()))
  return results
}

describe('Pipeline reuseResults', () => {
  for (const withModel of [false, true]) {
    for (const async of [false, true]) {
      it(`gives exactly the rows of fresh result buffers (${withModel ? 'state-mode forecaster' : 'no model'}, ${async ? 'async' : 'sync'})`, async () => {
        const model = withModel ? LstmModel.create({ inputSize: 1, hiddenSize: 6, outputSize: 1, seed: 3 }) : undefined
        const batches = stream()
        const fresh = new Pipeline(options(model, false)), reused = new Pipeline(options(model, true))
        const expected = await allResults(fresh, batches, async)
        const got = await allResults(reused, batches, async)
        expect(expected.reduce((n, r) => n + r.length, 0)).toBeGreaterThan(KEYS * 70)
        expect(expected.some((r) => r.late.timestamps.length === 1)).toBe(true)
        if (withModel) expect(expected.some((r) => r.forecast.some((f) => !Number.isNaN(f)))).toBe(true)
        expect(got).toEqual(expected)
        fresh.close()
        reused.close()
        model?.close()
      })
    }
  }

  it('rewrites one buffer while it is large enough, grows it for a larger batch and replaces a detached one', () => {
    const batches = stream()
    const fresh = new Pipeline(options(undefined, false)), reused = new Pipeline(options(undefined, true))
    const buffers = new Set<ArrayBufferLike>()
    for (const b of batches) {
      const r = reused.process(b), f = fresh.process(b)
      buffers.add(r.key.buffer)
      expect(r.key.buffer).toBe(r.values.buffer)
      expect(f.key.buffer).not.toBe(buffers.values().next().value)
    }
    // Batches of up to 23 events: a few growths at most, far fewer buffers than batches.
    expect(batches.length).toBeGreaterThan(20)
    expect(buffers.size).toBeLessThan(6)
    // The caller transfers the buffer away: the next result gets a new one, with the right rows.
    const before = reused.advanceTo(2000)
    expect(copyOf(before)).toEqual(copyOf(fresh.advanceTo(2000)))
    expect(before.length).toBeGreaterThan(0)
    const transferred = structuredClone(before.values.buffer, { transfer: [before.values.buffer as ArrayBuffer] })
    expect(transferred.byteLength).toBeGreaterThan(0)
    expect(before.values.length).toBe(0) // detached
    const next = { timestamps: new Float64Array([2005, 2006]), keys: new Uint32Array([0, 1]), values: new Float64Array([5, 6]), labels: new Uint8Array([0, 1]) }
    fresh.process(next)
    reused.process(next)
    const a = copyOf(fresh.finish()), b = reused.finish()
    expect(b.key.buffer.byteLength).toBeGreaterThan(0)
    expect(copyOf(b)).toEqual(a)
    expect(a.length).toBeGreaterThan(0)
    fresh.close()
    reused.close()
  })

  it('refuses a non-boolean option and readable() (the stream reads ahead of its consumer)', () => {
    expectSluiceError(() => new Pipeline({ ...options(undefined, true), reuseResults: 1 as unknown as boolean }), 'ERR_INVALID_TYPE', /reuseResults/)
    const p = new Pipeline(options(undefined, true))
    expectSluiceError(() => p.readable(stream()), 'ERR_INVALID_STATE', /reuseResults/)
    p.close()
  })
})
