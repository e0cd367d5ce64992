// The aggregates every window engine computes (SlidingWindow, EventTimeWindows), in one list.
import { SluiceError } from '../runtime/errors'
import { expectInteger } from '../runtime/validate'

/** The aggregates a window can compute (NaN is a missing value; see docs/windows.md, NaN policy). */
export type AggregateName = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'var' | 'std' | 'first' | 'last'

/** Every aggregate, in the order the native engines number them. */
export const AGGREGATES = ['count', 'sum', 'mean', 'min', 'max', 'var', 'std', 'first', 'last'] as const satisfies readonly AggregateName[]

/**
 * The exact-quantile names of count windows (SlidingWindow): p50, p90, p99 and p999 are the 0.5, 0.9, 0.99 and
 * 0.999 quantiles (linear interpolation between order statistics; see docs/windows.md, Quantiles).
 */
export type QuantileName = 'p50' | 'p90' | 'p99' | 'p999'

/** Every quantile name with its q. */
export const QUANTILE_NAMES: Readonly<Record<QuantileName, number>> = Object.freeze({ p50: 0.5, p90: 0.9, p99: 0.99, p999: 0.999 })

/**
 * The aggregates of EventTimeWindows beyond AGGREGATES: the quantile names (DDSketch estimates there, within
 * the `accuracy` option's relative error) and `distinct` (a HyperLogLog estimate of the distinct values).
 */
export type SketchAggregateName = QuantileName | 'distinct'
export type EventTimeAggregateName = AggregateName | SketchAggregateName
export const EVENT_TIME_AGGREGATES: readonly EventTimeAggregateName[] = [...AGGREGATES, ...(Object.keys(QUANTILE_NAMES) as QuantileName[]), 'distinct']

// The list names every aggregate: tsc fails here if AggregateName gains a name AGGREGATES lacks.
const listsEveryAggregate: Exclude<AggregateName, (typeof AGGREGATES)[number]> extends never ? true : false = true
void listsEveryAggregate

/**
 * The `quantiles` option of SlidingWindow and EventTimeWindows: numbers in [0, 1], none given twice nor
 * repeating a named quantile (p50 …) among `aggregates`; at most `room` of them (else `roomMessage`).
 */
export function expectQuantiles(value: unknown, aggregates: readonly string[], room: number, roomMessage: string): number[] {
  const quantiles = value ?? []
  if (!Array.isArray(quantiles)) throw new SluiceError('quantiles must be an array of numbers in [0, 1]', 'ERR_INVALID_TYPE')
  if (quantiles.length > room) throw new SluiceError(roomMessage, 'ERR_OUT_OF_RANGE')
  const seen = new Set(aggregates.filter((a) => a in QUANTILE_NAMES).map((a) => QUANTILE_NAMES[a as QuantileName]))
  for (const [i, q] of quantiles.entries()) {
    if (typeof q !== 'number') throw new SluiceError(`quantiles[${i}] must be a number`, 'ERR_INVALID_TYPE')
    if (!(q >= 0 && q <= 1)) throw new SluiceError(`quantiles[${i}] must be in [0, 1], got ${q}`, 'ERR_OUT_OF_RANGE')
    if (seen.has(q)) throw new SluiceError(`duplicate quantile ${q}`, 'ERR_INVALID_ARGUMENT')
    seen.add(q)
  }
  return quantiles as number[]
}

/** The sketch options, checked: DDSketch `accuracy` and HyperLogLog `distinctPrecision`. */
export interface SketchOptions {
  accuracy: number
  distinctPrecision: number
}

/**
 * The `accuracy` (in [1e-6, 1), default 0.01) and `distinctPrecision` (an integer in [4, 18], default 14)
 * options of EventTimeWindows and of the Pipeline's features; `prefix` names where they sit ('features.').
 */
export function expectSketchOptions(options: { accuracy?: unknown; distinctPrecision?: unknown }, prefix = ''): SketchOptions {
  const accuracy = options.accuracy ?? 0.01
  if (typeof accuracy !== 'number') throw new SluiceError(`${prefix}accuracy must be a number`, 'ERR_INVALID_TYPE')
  if (!(accuracy >= 1e-6 && accuracy < 1)) throw new SluiceError(`${prefix}accuracy must be in [1e-6, 1), got ${accuracy}`, 'ERR_OUT_OF_RANGE')
  const distinctPrecision = expectInteger(options.distinctPrecision ?? 14, `${prefix}distinctPrecision`, 4, 18)
  return { accuracy, distinctPrecision }
}
