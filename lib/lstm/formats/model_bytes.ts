// The bytes of a model file, given either as a path or as bytes already in memory.
import fs from 'node:fs'
import { SluiceError } from '../../runtime/errors'

/**
 * A path is read whole; a Uint8Array (Buffer included) is used as it is, without a copy. Either way the result
 * is a plain Uint8Array view, so that slice() copies (Buffer#slice would return a view instead).
 */
export function modelBytes(pathOrBytes: unknown, what: string): Uint8Array {
  if (pathOrBytes instanceof Uint8Array) return plain(pathOrBytes)
  if (typeof pathOrBytes !== 'string') {
    throw new SluiceError(`${what}: expected a file path or a Uint8Array, got ${pathOrBytes === null ? 'null' : typeof pathOrBytes}`, 'ERR_INVALID_TYPE')
  }
  try {
    return plain(fs.readFileSync(pathOrBytes))
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    const failure = new SluiceError(`${what}: cannot read ${pathOrBytes}: ${reason}`, 'ERR_INVALID_ARGUMENT')
    ;(failure as { cause?: unknown }).cause = error
    throw failure
  }
}

function plain(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
