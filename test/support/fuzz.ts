// Fuzzing the parsers of untrusted bytes (ONNX, safetensors): damaged inputs must load or throw SluiceError,
// nothing else. The damage helpers draw from the test's seeded generator, in a fixed order.
import { SluiceError } from '../../lib/index'

/**
 * Parses `trials` damaged inputs (`damaged(trial)` makes each); rethrows anything that is not a SluiceError,
 * naming the trial. Prints how many still parsed and the error codes; returns the count of each code.
 */
export function fuzzParser(name: string, trials: number, damaged: (trial: number) => Uint8Array, parse: (bytes: Uint8Array) => void): Map<string, number> {
  const codes = new Map<string, number>()
  let parsed = 0
  for (let trial = 0; trial < trials; trial++) {
    const bytes = damaged(trial)
    try {
      parse(bytes)
      parsed++
    } catch (error) {
      if (!(error instanceof SluiceError)) throw new Error(`trial ${trial} threw ${String(error)}\n${(error as Error).stack}`)
      codes.set(error.code, (codes.get(error.code) ?? 0) + 1)
    }
  }
  console.log(`${name}: ${parsed} of ${trials} damaged inputs still parsed; errors by code ${JSON.stringify(Object.fromEntries(codes))}`)
  return codes
}

/** Damaged copies of `valid`: trial t damages a fresh copy with kinds[t % kinds.length]. */
export function inTurn(valid: Uint8Array, kinds: ((bytes: Uint8Array) => Uint8Array)[]): (trial: number) => Uint8Array {
  return (trial) => kinds[trial % kinds.length]!(valid.slice())
}

/** The first 0 … length − 1 bytes. */
export function truncated(bytes: Uint8Array, random: () => number): Uint8Array {
  return bytes.subarray(0, Math.floor(random() * bytes.length))
}

/** About 1 … `most` random bytes overwritten with random values, in place. */
export function overwritten(bytes: Uint8Array, random: () => number, most: number): Uint8Array {
  for (let k = 0; k < 1 + random() * most; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
  return bytes
}

/** 1 … `most` random bytes inserted at a random place. */
export function inserted(bytes: Uint8Array, random: () => number, most: number): Uint8Array {
  const at = Math.floor(random() * bytes.length)
  const extra = Uint8Array.from({ length: 1 + Math.floor(random() * most) }, () => Math.floor(random() * 256))
  return Uint8Array.from([...bytes.subarray(0, at), ...extra, ...bytes.subarray(at)])
}
