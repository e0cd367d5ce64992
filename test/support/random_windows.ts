// Random window definitions for the property and gap tests of EventTimeWindows. The values are drawn in a
// fixed order from the test's generator, so a seed still names one case.
import type { Aggregate } from '../reference/event_time_reference'
import { ALL, LEAN } from './fired_windows'

export interface WindowRanges {
  /** Share of cases that ask only for the lean aggregates (count, sum, mean, min, max). */
  leanShare: number
  /** The aggregate asked for when the random choice kept none. */
  fallback: Aggregate
  /** Size range [lo, hi] with few panes per window, and with many (over 16: the Two-Stacks path). */
  size: [number, number]
  manyPanesSize: [number, number]
  /** Share of cases without allowed lateness; the others allow 1 … maxLateness(size). */
  noLatenessShare: number
  maxLateness: (size: number) => number
}

/** Aggregates, size, slide, offset, gap and allowed lateness of one random case. */
export function randomWindows(r: () => number, type: 'tumbling' | 'sliding' | 'session', manyPanes: boolean, ranges: WindowRanges) {
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1))
  const aggregates = (r() < ranges.leanShare ? LEAN : ALL).filter(() => r() < 0.6)
  if (aggregates.length === 0) aggregates.push(ranges.fallback)
  const size = manyPanes ? int(...ranges.manyPanesSize) : int(...ranges.size)
  const slide = type === 'sliding' ? (manyPanes ? int(1, Math.max(1, Math.floor(size / 17))) : int(1, size)) : size
  const offset = type === 'session' ? 0 : int(-(slide - 1), slide - 1)
  const gap = int(1, 30)
  const allowedLateness = r() < ranges.noLatenessShare ? 0 : int(1, ranges.maxLateness(size))
  return { aggregates, size, slide, offset, gap, allowedLateness }
}
