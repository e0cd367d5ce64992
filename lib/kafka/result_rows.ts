// Column batches (fired windows, pipeline result batches) → one plain object per row, as the adapter hands
// results on: the fields every row has, and a row's slice of a [row][width] column.

/** The columns every window-shaped batch has. */
export interface WindowColumns {
  key: Uint32Array
  start: Float64Array
  end: Float64Array
  count: Float64Array
}

/** Row `i`'s key, start, end and count. */
export function windowFields(columns: WindowColumns, i: number): { key: number; start: number; end: number; count: number } {
  return { key: columns.key[i]!, start: columns.start[i]!, end: columns.end[i]!, count: columns.count[i]! }
}

/** Row `i` of a row-major column of `width` numbers per row, as an array. */
export function rowOf(column: Float64Array, i: number, width: number): number[] {
  return Array.from(column.subarray(i * width, (i + 1) * width))
}
