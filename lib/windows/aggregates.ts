// The aggregates every window engine computes (SlidingWindow, EventTimeWindows), in one list.

/** The aggregates a window can compute (NaN is a missing value; see the README's NaN policy). */
export const AGGREGATES = ['count', 'sum', 'mean', 'min', 'max', 'var', 'std', 'first', 'last'] as const
export type AggregateName = (typeof AGGREGATES)[number]
