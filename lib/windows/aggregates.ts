// The aggregates every window engine computes (SlidingWindow, EventTimeWindows), in one list.

/** The aggregates a window can compute (NaN is a missing value; see docs/windows.md, NaN policy). */
export type AggregateName = 'count' | 'sum' | 'mean' | 'min' | 'max' | 'var' | 'std' | 'first' | 'last'

/** Every aggregate, in the order the native engines number them. */
export const AGGREGATES = ['count', 'sum', 'mean', 'min', 'max', 'var', 'std', 'first', 'last'] as const satisfies readonly AggregateName[]

// The list names every aggregate: tsc fails here if AggregateName gains a name AGGREGATES lacks.
const listsEveryAggregate: Exclude<AggregateName, (typeof AGGREGATES)[number]> extends never ? true : false = true
void listsEveryAggregate
