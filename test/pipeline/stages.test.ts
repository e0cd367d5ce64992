// Stages the user chooses: a sink whose promise paces the source (Pipeline.drain: the source at most one
// batch ahead of the sink; a failing sink commits nothing as done), and a user detector in place of the
// built-in z-score (its flags counted).
import { describe, expect, it } from 'vitest'
import { LstmModel, Pipeline, SluiceError, type PipelineOptions, type ResultBatch, type SourceBatch } from '../../lib/index'
import { expectSluiceError } from '../helpers'

const SIZE = 10, KEYS = 3

/** In order: per key one event per window, `windows` windows, batches of `batch` events. */
function stream(windows = 60, batch = 6): SourceBatch[] {
  const events: [number, number, number][] = []
  for (let i = 0; i < windows; i++) for (let k = 0; k < KEYS; k++) events.push([i * SIZE + k, k, Math.sin(i / 5 + k) * 10 + (i % 17 === 0 ? 40 : 0)])
  const batches: SourceBatch[] = []
  for (let at = 0; at < events.length; at += batch) {
    const part = events.slice(at, at + batch)
    batches.push({ timestamps: Float64Array.from(part, (e) => e[0]), keys: Uint32Array.from(part, (e) => e[1]), values: Float64Array.from(part, (e) => e[2]) })
  }
  return batches
}

function pipeline(extra: Partial<PipelineOptions> = {}): Pipeline {
  return new Pipeline({ keyCount: KEYS, channels: 1, window: { size: SIZE }, bound: SIZE, clock: () => 0, ...extra })
}

/** A source that counts its reads and notes whether it was returned. */
function countingSource(batches: SourceBatch[], onRead: (reads: number) => void = () => {}) {
  const state = { reads: 0, returned: false }
  async function* source() {
    try {
      for (const b of batches) {
        state.reads++
        onRead(state.reads)
        yield b
      }
    } finally {
      state.returned = true
    }
  }
  return { state, source: source() }
}

/** The rows of a result batch as plain objects (the columns are the sink's only until it resolves). */
function rowsOf(batch: ResultBatch): { key: number; start: number; values: number; forecast: number }[] {
  return Array.from({ length: batch.length }, (_, r) => ({ key: batch.key[r]!, start: batch.start[r]!, values: batch.values[r]!, forecast: batch.forecast[r]! }))
}

const tick = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

describe('Pipeline.drain: a sink with backpressure', () => {
  it('reads the next source batch only after the sink accepted the previous result (at most one batch ahead)', async () => {
    const batches = stream()
    const p = pipeline()
    let accepted = 0, sinkCalls = 0, mostAhead = 0
    const { state, source } = countingSource(batches, (reads) => {
      mostAhead = Math.max(mostAhead, reads - accepted)
    })
    const received: ReturnType<typeof rowsOf> = []
    await p.drain(source, {
      sink: async (batch) => {
        sinkCalls++
        // One result per source batch, then the final one: the sink sees batch i when exactly i were read.
        expect(state.reads).toBe(Math.min(sinkCalls, batches.length))
        received.push(...rowsOf(batch))
        await tick(2)
        expect(p.metrics().acknowledged).toBe(sinkCalls - 1)
        accepted++
      },
    })
    expect(mostAhead).toBe(1)
    expect(state.reads).toBe(batches.length)
    expect(sinkCalls).toBe(batches.length + 1)
    expect(p.metrics().acknowledged).toBe(p.metrics().batchesOut)
    // The sink got every row process() gives.
    const reference = pipeline()
    const expected = [...batches.map((b) => reference.process(b)), reference.finish()].flatMap(rowsOf)
    expect(received).toEqual(expected)
    expect(received.length).toBeGreaterThan(KEYS * 50)
  })

  it.each([
    ['throws', (): Promise<void> => { throw new Error('disk full') }],
    ['rejects', (): Promise<void> => Promise.reject(new Error('disk full'))],
  ])('a sink that %s: the error surfaces, the source is returned, nothing after it is read or committed as done', async (_how, fail) => {
    const batches = stream()
    const p = pipeline({ forecaster: { model: LstmModel.create({ inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 3 }), mode: 'state' } })
    const { state, source } = countingSource(batches)
    const received: ReturnType<typeof rowsOf> = []
    let calls = 0, checkpoint: Uint8Array | undefined
    await expect(p.drain(source, {
      sink: (batch) => {
        if (++calls === 8) return fail()
        received.push(...rowsOf(batch))
        checkpoint = p.snapshot() // the state after this batch: committed with it once the sink accepted it
        return tick(1)
      },
    })).rejects.toThrow('disk full')
    expect(state.returned).toBe(true)
    expect(state.reads).toBe(8)
    const m = p.metrics()
    expect(m.batchesOut).toBe(8)
    expect(m.acknowledged).toBe(7)
    // The refused batch's rows were produced but not accepted: the pipeline stops rather than go on without them.
    expectSluiceError(() => p.process(batches[8]!), 'ERR_INVALID_STATE', /sink refused result batch 8/)
    expectSluiceError(() => p.snapshot(), 'ERR_INVALID_STATE')
    // Back to the last accepted batch and on from there: exactly the uninterrupted rows.
    p.restore(checkpoint!)
    await p.drain(batches.slice(7), { sink: (batch) => { received.push(...rowsOf(batch)) } })
    const reference = pipeline({ forecaster: { model: LstmModel.create({ inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 3 }), mode: 'state' } })
    const expected = [...batches.map((b) => reference.process(b)), reference.finish()].flatMap(rowsOf)
    expect(received).toEqual(expected)
  })

  it('stops on abort with the reason after the sink accepted the batch in hand', async () => {
    const p = pipeline()
    const controller = new AbortController()
    const { state, source } = countingSource(stream())
    let calls = 0
    await expect(p.drain(source, {
      signal: controller.signal,
      sink: async () => {
        if (++calls === 3) controller.abort(new Error('shutting down'))
        await tick(1)
      },
    })).rejects.toThrow('shutting down')
    expect(state.returned).toBe(true)
    expect(state.reads).toBe(3)
    expect(p.metrics().acknowledged).toBe(3)
    expect(p.process(stream()[3]!).length).toBeGreaterThanOrEqual(0) // still usable
  })

  it('refuses a sink that is not a function', async () => {
    const p = pipeline()
    for (const options of [{}, { sink: 'console' }, null]) {
      const error = await p.drain(stream(), options as never).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(SluiceError)
      expect((error as SluiceError).code).toBe('ERR_INVALID_TYPE')
    }
    expect(p.metrics().batchesIn).toBe(0)
  })
})

describe('Pipeline detector: the user’s own, in place of the z-score', () => {
  it('runs on each finished batch, keeps what it writes, and counts its flags', () => {
    const seen: number[] = []
    const detector = (batch: ResultBatch) => {
      seen.push(batch.length)
      for (let r = 0; r < batch.length; r++) {
        batch.score[r] = batch.values[r]!
        batch.flagged[r] = batch.values[r]! > 30 ? 1 : 0
      }
    }
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 5 })
    const p = pipeline({ detector, forecaster: { model, mode: 'state' } })
    const results = [...stream().map((b) => p.process(b)), p.finish()]
    expect(seen).toEqual(results.map((r) => r.length))
    let flagged = 0
    for (const r of results) {
      for (let i = 0; i < r.length; i++) {
        expect(r.score[i]).toBe(r.values[i]) // the detector's score, not a z-score
        flagged += r.flagged[i]!
      }
    }
    expect(flagged).toBeGreaterThan(0)
    expect(p.metrics().flaggedRows).toBe(flagged)
    // It sees the forecasts too (state mode: from the second row of a key on).
    expect(results.some((r) => r.forecast.some((f) => !Number.isNaN(f)))).toBe(true)
  })

  it('works without a forecaster; without a detector the built-in z-score scores the same stream', () => {
    const p = pipeline({ detector: (batch) => batch.flagged.fill(1) })
    let rows = 0
    for (const b of stream()) rows += p.process(b).length
    rows += p.finish().length
    expect(p.metrics().flaggedRows).toBe(rows)
    const model = LstmModel.create({ inputSize: 1, hiddenSize: 4, outputSize: 1, seed: 5 })
    const builtIn = pipeline({ forecaster: { model, mode: 'state' } })
    const scored = stream().map((b) => builtIn.process(b)).some((r) => r.score.some((s) => !Number.isNaN(s)))
    expect(scored).toBe(true)
  })

  it('refuses anomaly together with a detector, and a detector that is not a function', () => {
    expectSluiceError(() => pipeline({ detector: () => {}, anomaly: { threshold: 3 } }), 'ERR_INVALID_ARGUMENT', /detector.*anomaly/)
    expectSluiceError(() => pipeline({ detector: 'zscore' as never }), 'ERR_INVALID_TYPE')
  })

  it('a detector that throws fails the batch and stops the pipeline (its rows were not delivered)', () => {
    let calls = 0
    const p = pipeline({ detector: () => {
      if (++calls === 5) throw new Error('detector bug')
    } })
    const batches = stream()
    for (let i = 0; i < 4; i++) p.process(batches[i]!)
    expect(() => p.process(batches[4]!)).toThrow('detector bug')
    expectSluiceError(() => p.process(batches[5]!), 'ERR_INVALID_STATE', /stopped/)
  })
})
