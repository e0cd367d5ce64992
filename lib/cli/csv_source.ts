// A CSV file as pipeline input: a column mapping names the time, key, value and label columns. The whole
// file is read and checked before the first batch comes out, so a bad file never yields partial output.
import { readFileSync } from 'node:fs'
import { SluiceError } from '../runtime/errors'
import type { SourceBatch } from '../pipeline/pipeline'
import { expectInteger } from '../runtime/validate'

export interface CsvMapping {
  /** Column of the event time: numbers (any integral unit) or ISO-8601 dates (→ epoch milliseconds). */
  time: string
  /** Column of the key (any text; ids are given in order of first appearance). Default: one key. */
  key?: string
  /** Value columns, in channel order. Empty cells are missing values (NaN, forward-filled later). */
  value: readonly string[]
  /** Column of 0/1 anomaly labels. */
  label?: string
}

export interface CsvTable {
  rows: number
  channels: number
  timestamps: Float64Array
  keys: Uint32Array
  /** Key texts by id. */
  keyNames: string[]
  values: Float64Array
  labels?: Uint8Array
}

/** Splits one CSV line (RFC 4180 quotes, "" inside quotes). */
function splitLine(line: string): string[] {
  if (!line.includes('"')) return line.split(',')
  const cells: string[] = []
  let cell = '', quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cell += '"'; i++ } else if (ch === '"') quoted = false
      else cell += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') { cells.push(cell); cell = '' } else cell += ch
  }
  cells.push(cell)
  return cells
}

/**
 * Reads and checks a CSV file (or its text): header row, every mapped column present, numeric cells,
 * timestamps strictly increasing per key. Errors: ERR_INVALID_ARGUMENT (mapping, missing file),
 * ERR_MALFORMED_DATA (content, with the line number).
 */
export function readCsv(pathOrText: string | { text: string }, mapping: CsvMapping): CsvTable {
  if (typeof mapping !== 'object' || mapping === null || typeof mapping.time !== 'string' || !Array.isArray(mapping.value) || mapping.value.length === 0) {
    throw new SluiceError('the column mapping needs { time: column, value: [columns…] } (key and label optional)', 'ERR_INVALID_ARGUMENT')
  }
  let text: string
  let name: string
  if (typeof pathOrText === 'string') {
    name = pathOrText
    try {
      text = readFileSync(pathOrText, 'utf8')
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      throw new SluiceError(`cannot read CSV file ${pathOrText}: ${code === 'ENOENT' ? 'no such file' : String((error as Error).message)}`, 'ERR_INVALID_ARGUMENT')
    }
  } else {
    name = 'CSV text'
    text = pathOrText.text
  }
  const lines = text.split(/\r?\n/)
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop()
  if (lines.length < 2) throw new SluiceError(`${name}: needs a header row and at least one data row`, 'ERR_MALFORMED_DATA')
  const header = splitLine(lines[0]!).map((h) => h.trim())
  const column = (col: string, what: string) => {
    const i = header.indexOf(col)
    if (i < 0) throw new SluiceError(`${name}: no column '${col}' for ${what}; the columns are: ${header.join(', ')}`, 'ERR_INVALID_ARGUMENT')
    return i
  }
  const timeCol = column(mapping.time, 'the time')
  const keyCol = mapping.key === undefined ? -1 : column(mapping.key, 'the key')
  const valueCols = mapping.value.map((v) => column(v, 'a value'))
  const labelCol = mapping.label === undefined ? -1 : column(mapping.label, 'the label')
  const rows = lines.length - 1, C = valueCols.length
  const timestamps = new Float64Array(rows), keys = new Uint32Array(rows), values = new Float64Array(rows * C)
  const labels = labelCol >= 0 ? new Uint8Array(rows) : undefined
  const keyIds = new Map<string, number>(), keyNames: string[] = []
  const lastTime: number[] = [], lastLine: number[] = []
  for (let r = 0; r < rows; r++) {
    const lineNo = r + 2
    const cells = splitLine(lines[r + 1]!)
    if (cells.length !== header.length) throw new SluiceError(`${name} line ${lineNo}: ${cells.length} cells, the header has ${header.length}`, 'ERR_MALFORMED_DATA')
    const timeText = cells[timeCol]!.trim()
    let t = timeText === '' ? NaN : Number(timeText)
    if (Number.isNaN(t) && timeText !== '') t = Date.parse(timeText)
    if (!Number.isFinite(t)) throw new SluiceError(`${name} line ${lineNo}: time '${timeText}' in column '${mapping.time}' is neither a number nor a date`, 'ERR_MALFORMED_DATA')
    timestamps[r] = t
    let k = 0
    if (keyCol >= 0) {
      const keyText = cells[keyCol]!.trim()
      let id = keyIds.get(keyText)
      if (id === undefined) {
        id = keyNames.length
        keyIds.set(keyText, id)
        keyNames.push(keyText)
      }
      k = id
    } else if (keyNames.length === 0) keyNames.push('all')
    keys[r] = k
    if (lastTime[k] !== undefined && !(t > lastTime[k]!)) {
      const what = t === lastTime[k] ? 'repeats' : 'is before'
      throw new SluiceError(`${name} line ${lineNo}: time ${timeText} ${what} line ${lastLine[k]}'s${keyCol >= 0 ? ` for key '${keyNames[k]}'` : ''}; the file must be sorted by time per key, without duplicates`, 'ERR_MALFORMED_DATA')
    }
    lastTime[k] = t
    lastLine[k] = lineNo
    for (let c = 0; c < C; c++) {
      const cell = cells[valueCols[c]!]!.trim()
      const v = cell === '' ? NaN : Number(cell)
      if (cell !== '' && !Number.isFinite(v)) throw new SluiceError(`${name} line ${lineNo}: '${cell}' in column '${mapping.value[c]}' is not a number`, 'ERR_MALFORMED_DATA')
      values[r * C + c] = v
    }
    if (labels) {
      const cell = cells[labelCol]!.trim()
      if (cell !== '0' && cell !== '1') throw new SluiceError(`${name} line ${lineNo}: label '${cell}' in column '${mapping.label}' must be 0 or 1`, 'ERR_MALFORMED_DATA')
      labels[r] = cell === '1' ? 1 : 0
    }
  }
  const table: CsvTable = { rows, channels: C, timestamps, keys, keyNames, values }
  if (labels) table.labels = labels
  return table
}

export interface CsvSourceOptions {
  /** Rows go to input key % inputs. Default 1. */
  inputs?: number
  /** Rows per batch (per input). Default 256. */
  batchSize?: number
}

/** Batches of a checked table in file order, each row to input key % inputs. */
export function* tableBatches(table: CsvTable, options: CsvSourceOptions = {}): Generator<SourceBatch> {
  const inputs = expectInteger(options.inputs ?? 1, 'inputs', 1, 1 << 16)
  const batchSize = expectInteger(options.batchSize ?? 256, 'batchSize', 1, 1 << 24)
  const C = table.channels
  const pending: number[][] = Array.from({ length: inputs }, () => [])
  const emit = (input: number): SourceBatch => {
    const rows = pending[input]!
    pending[input] = []
    const batch: SourceBatch = {
      input,
      timestamps: Float64Array.from(rows, (r) => table.timestamps[r]!),
      keys: Uint32Array.from(rows, (r) => table.keys[r]!),
      values: new Float64Array(rows.length * C),
    }
    rows.forEach((r, i) => (batch.values as Float64Array).set(table.values.subarray(r * C, (r + 1) * C), i * C))
    if (table.labels) batch.labels = Uint8Array.from(rows, (r) => table.labels![r]!)
    return batch
  }
  for (let r = 0; r < table.rows; r++) {
    const input = table.keys[r]! % inputs
    pending[input]!.push(r)
    if (pending[input]!.length >= batchSize) yield emit(input)
  }
  for (let i = 0; i < inputs; i++) if (pending[i]!.length > 0) yield emit(i)
}

/** readCsv + tableBatches: the file is checked completely before the first batch. */
export function csvSource(path: string, mapping: CsvMapping, options: CsvSourceOptions = {}): Generator<SourceBatch> {
  return tableBatches(readCsv(path, mapping), options)
}
