// Comparing EventTimeWindows' fired windows with the naive reference's (test/reference), shared by the
// property and gap tests.
import { expect } from 'vitest'
import type { FiredWindows } from '../../lib/index'
import type { Aggregate, ReferenceWindow } from '../reference/event_time_reference'

export const ALL: Aggregate[] = ['count', 'sum', 'mean', 'min', 'max', 'var', 'std', 'first', 'last']
export const LEAN: Aggregate[] = ['count', 'sum', 'mean', 'min', 'max']

/** Equal within 1e-9 relative (NaN only for NaN). */
export function close(actual: number, expected: number, what: string): void {
  if (Number.isNaN(expected)) {
    expect(actual, what).toBeNaN()
    return
  }
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected))
  if (!(Math.abs(actual - expected) <= tolerance)) expect(actual, what).toBe(expected)
}

/** The same windows in the same order: key, bounds, count, updated flag exactly, values by close(). */
export function compareFired(actual: FiredWindows, expected: ReferenceWindow[], perWindow: number, label: string): void {
  expect(actual.length, `${label}: number of windows`).toBe(expected.length)
  for (let w = 0; w < expected.length; w++) {
    const e = expected[w]
    const where = `${label} window ${w} (key ${e.key}, [${e.start}, ${e.end}))`
    expect([actual.key[w], actual.start[w], actual.end[w], actual.count[w], actual.updated[w]], where).toEqual([e.key, e.start, e.end, e.count, e.updated ? 1 : 0])
    for (let j = 0; j < perWindow; j++) close(actual.values[w * perWindow + j], e.values[j], `${where} value ${j}`)
  }
}
