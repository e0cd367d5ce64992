/** Stable error codes. They are part of the API: match on `error.code`, not on the message. */
export type SluiceErrorCode =
  | 'ERR_INVALID_TYPE' // an argument has the wrong type (e.g. Float32Array where Float64Array is needed)
  | 'ERR_INVALID_LENGTH' // an array has the wrong length
  | 'ERR_INVALID_ARGUMENT' // a value is of the right type but not acceptable (NaN timestamp, bad option)
  | 'ERR_OUT_OF_RANGE' // an index, key or size is outside its allowed range
  | 'ERR_INVALID_STATE' // the object cannot do this now (closed, not fitted…)
  | 'ERR_MALFORMED_DATA' // bytes that do not parse (model file, snapshot)
  | 'ERR_NOT_SUPPORTED' // a valid request this version does not support
  | 'ERR_OUT_OF_MEMORY' // a native allocation failed
  | 'ERR_NATIVE_LOAD' // the native addon could not be loaded

/** The one error class of sluice. Thrown by TypeScript checks and by native code alike. */
export class SluiceError extends Error {
  readonly code: SluiceErrorCode

  constructor(message: string, code: SluiceErrorCode) {
    super(message)
    this.name = 'SluiceError'
    this.code = code
  }
}
