// How many elements a tensor's dimensions describe, for the model file parsers (ONNX, safetensors).

/**
 * The product of `dims`, or undefined as soon as it exceeds `limit`: checked against the bytes a file
 * really holds before anything is allocated, and never large enough to lose precision.
 */
export function elementCount(dims: readonly number[], limit: number): number | undefined {
  if (dims.includes(0)) return 0
  let count = 1
  for (const dim of dims) {
    count *= dim
    if (count > limit) return undefined
  }
  return count
}
