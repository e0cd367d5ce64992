// The aggregates every window engine computes (SlidingWindow, EventTimeWindows), in one list.

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
