// The reference exact quantile: sort, then linear interpolation between order statistics (numpy's and
// pandas' default: h = (n − 1)·q), with sluice's documented rules where a neighbour is infinite.

/** The q-quantile of the non-NaN `values` (NaN when there are none). */
export function naiveQuantile(values: readonly number[], q: number): number {
  const sorted = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  const n = sorted.length
  if (n === 0) return NaN
  const h = (n - 1) * q
  const low = Math.floor(h)
  if (low + 1 >= n) return sorted[n - 1]! + 0
  const f = h - low
  const a = sorted[low]! + 0, b = sorted[low + 1]! + 0
  if (f === 0 || a === b) return a
  if (!Number.isFinite(a) && !Number.isFinite(b)) return NaN
  if (!Number.isFinite(a)) return a
  if (!Number.isFinite(b)) return b
  if (!Number.isFinite(b - a)) return a * (1 - f) + b * f
  return a + (b - a) * f
}
