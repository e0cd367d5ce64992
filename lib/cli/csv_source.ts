// A CSV file as pipeline input, for the `sluice` command: a column mapping names the time, key, value and
// label columns. The whole file is read and checked before the first batch comes out, so a bad file never
// yields partial output. Kept inside the CLI, not public API: the package exports no CSV reader.
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

const QUOTE = 0x22, COMMA = 0x2c, CR = 0x0d, LF = 0x0a

/** One record of a CSV text. */
interface CsvRecord {
  /** The physical line (from 1) the record starts on; a quoted line break inside it counts a line too. */
  line: number
  cells: string[]
  /** Nothing but whitespace on its line (trailing blank lines are not records of the file). */
  blank: boolean
}

/**
 * The records of a CSV text (RFC 4180) in one pass over its characters. A field that starts with a quote
 * runs to its closing quote and may hold commas, line breaks and doubled quotes (""); records end at LF or
 * CRLF (a lone CR is text); the last record may lack its line break. A quote inside an unquoted field, text
 * after a closing quote and a quote never closed are ERR_MALFORMED_DATA with their line.
 */
function parseRecords(text: string, name: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let state: 'fieldStart' | 'unquoted' | 'quoted' | 'quoteInQuoted' | 'closed' = 'fieldStart'
  let cells: string[] = []
  // The current field is `cell` + text[from, i): slices are copied only at a doubled quote and at its end.
  let cell = '', from = 0
  let line = 1, recordLine = 1, recordStart = 0, quoteLine = 1
  const malformed = (at: number, what: string) => new SluiceError(`${name} line ${at}: ${what}`, 'ERR_MALFORMED_DATA')
  const endField = (to: number) => {
    cells.push(cell + text.slice(from, to))
    cell = ''
  }
  const endRecord = (to: number) => {
    endField(to)
    records.push({ line: recordLine, cells, blank: text.slice(recordStart, to).trim() === '' })
    cells = []
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i)
    if (state === 'quoted') {
      if (ch === QUOTE) state = 'quoteInQuoted'
      else if (ch === LF) line++
      continue
    }
    if (state === 'quoteInQuoted') {
      if (ch === QUOTE) {
        // "" inside quotes: keep the first quote, skip the second.
        cell += text.slice(from, i)
        from = i + 1
        state = 'quoted'
        continue
      }
      // The quote before this character closed the field.
      cell += text.slice(from, i - 1)
      from = i
      state = 'closed'
    }
    const lineBreak = ch === LF ? 1 : ch === CR && text.charCodeAt(i + 1) === LF ? 2 : 0
    if (ch === COMMA) {
      endField(i)
      from = i + 1
      state = 'fieldStart'
    } else if (lineBreak > 0) {
      endRecord(i)
      i += lineBreak - 1
      line++
      recordLine = line
      recordStart = from = i + 1
      state = 'fieldStart'
    } else if (state === 'closed') {
      throw malformed(line, `'${text[i]}' after the closing quote of a field (a quoted field ends at its closing quote)`)
    } else if (ch === QUOTE) {
      if (state === 'unquoted') throw malformed(line, 'a quote inside an unquoted field (quote the whole field and double the quotes in it)')
      state = 'quoted'
      quoteLine = line
      from = i + 1
    } else {
      state = 'unquoted'
    }
  }
  if (state === 'quoted') throw malformed(quoteLine, 'a quoted field opens here and is never closed')
  if (state === 'quoteInQuoted') {
    cell += text.slice(from, text.length - 1)
    from = text.length
  }
  if (recordStart < text.length) endRecord(text.length)
  return records
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
  if (typeof pathOrText !== 'string' && (typeof pathOrText !== 'object' || pathOrText === null || typeof pathOrText.text !== 'string')) {
    throw new SluiceError('readCsv needs a file path or { text: string }', 'ERR_INVALID_TYPE')
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
  const records = parseRecords(text, name)
  while (records.length > 0 && records[records.length - 1]!.blank) records.pop()
  if (records.length < 2) throw new SluiceError(`${name}: needs a header row and at least one data row`, 'ERR_MALFORMED_DATA')
  const header = records[0]!.cells.map((h) => h.trim())
  const column = (col: string, what: string) => {
    const i = header.indexOf(col)
    if (i < 0) throw new SluiceError(`${name}: no column '${col}' for ${what}; the columns are: ${header.join(', ')}`, 'ERR_INVALID_ARGUMENT')
    return i
  }
  const timeCol = column(mapping.time, 'the time')
  const keyCol = mapping.key === undefined ? -1 : column(mapping.key, 'the key')
  const valueCols = mapping.value.map((v) => column(v, 'a value'))
  const labelCol = mapping.label === undefined ? -1 : column(mapping.label, 'the label')
  const rows = records.length - 1, C = valueCols.length
  const timestamps = new Float64Array(rows), keys = new Uint32Array(rows), values = new Float64Array(rows * C)
  const labels = labelCol >= 0 ? new Uint8Array(rows) : undefined
  const keyIds = new Map<string, number>(), keyNames: string[] = []
  const lastTime: number[] = [], lastLine: number[] = []
  for (let r = 0; r < rows; r++) {
    const { line: lineNo, cells } = records[r + 1]!
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
