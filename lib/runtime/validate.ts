// Argument checks shared by every class. They run before any native call, so a bad argument never
// changes state; native code checks bounds again.
import { SluiceError } from './errors'

type TypedArrayConstructor = Float64ArrayConstructor | Float32ArrayConstructor | Uint32ArrayConstructor | Int32ArrayConstructor | Uint8ArrayConstructor

/** Throws ERR_INVALID_TYPE unless `value` is an instance of one of `types`. */
export function expectTypedArray<T extends TypedArrayConstructor>(value: unknown, name: string, ...types: T[]): InstanceType<T> {
  for (const type of types) if (value instanceof type) return value as InstanceType<T>
  throw new SluiceError(`${name} must be a ${types.map((t) => t.name).join(' or ')}, got ${describe(value)}`, 'ERR_INVALID_TYPE')
}

/** Throws ERR_INVALID_LENGTH unless `array.length === length`. */
export function expectLength(array: ArrayLike<unknown>, length: number, name: string): void {
  if (array.length !== length) {
    throw new SluiceError(`${name} must have length ${length}, got ${array.length}`, 'ERR_INVALID_LENGTH')
  }
}

/** Throws ERR_INVALID_LENGTH unless `array.length` is a multiple of `unit`. */
export function expectMultipleOf(array: ArrayLike<unknown>, unit: number, name: string, unitName: string): void {
  if (array.length % unit !== 0) {
    throw new SluiceError(`${name}.length (${array.length}) must be a multiple of ${unitName} (${unit})`, 'ERR_INVALID_LENGTH')
  }
}

/** An integer in [min, max]; ERR_INVALID_TYPE for a non-number, ERR_OUT_OF_RANGE outside the bounds. */
export function expectInteger(value: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new SluiceError(`${name} must be an integer, got ${describe(value)}`, 'ERR_INVALID_TYPE')
  }
  if (value < min || value > max) {
    throw new SluiceError(`${name} must be in [${min}, ${max}], got ${value}`, 'ERR_OUT_OF_RANGE')
  }
  return value
}

/** A finite number; ERR_INVALID_TYPE for a non-number, ERR_INVALID_ARGUMENT for NaN or ±Infinity. */
export function expectFinite(value: unknown, name: string): number {
  if (typeof value !== 'number') throw new SluiceError(`${name} must be a number, got ${describe(value)}`, 'ERR_INVALID_TYPE')
  if (!Number.isFinite(value)) throw new SluiceError(`${name} must be finite, got ${value}`, 'ERR_INVALID_ARGUMENT')
  return value
}

/** One of `choices`; ERR_INVALID_ARGUMENT otherwise. */
export function expectOneOf<T extends string>(value: unknown, name: string, choices: readonly T[]): T {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T
  throw new SluiceError(`${name} must be one of ${choices.join(', ')}, got ${describe(value)}`, 'ERR_INVALID_ARGUMENT')
}

/**
 * A new typed array of `length` elements. A length the API allows but the engine cannot hold (V8's limit,
 * or memory) is ERR_OUT_OF_MEMORY naming `name`, not a bare RangeError ("Invalid typed array length").
 */
export function allocate<T extends TypedArrayConstructor>(type: T, length: number, name: string): InstanceType<T> {
  try {
    return new type(length) as InstanceType<T>
  } catch (error) {
    if (error instanceof RangeError) {
      throw new SluiceError(`cannot allocate ${name}: ${length} elements of ${type.name} (${error.message})`, 'ERR_OUT_OF_MEMORY')
    }
    throw error
  }
}

/** An options argument: undefined (then `{}`) or an object; ERR_INVALID_TYPE for null or anything else. */
export function expectOptions<T extends object>(value: T | undefined | null, name = 'options'): T {
  if (value === undefined) return {} as T
  if (typeof value !== 'object' || value === null) throw new SluiceError(`${name} must be an object, got ${describe(value)}`, 'ERR_INVALID_TYPE')
  return value
}

/** An output array: the caller's, checked for type and capacity, or a new one of `length` elements. */
export function outputArray<T extends TypedArrayConstructor>(out: unknown, type: T, length: number, name = 'out'): InstanceType<T> {
  if (out === undefined) return allocate(type, length, name)
  const array = expectTypedArray(out, name, type)
  if (array.length < length) {
    throw new SluiceError(`${name} must hold at least ${length} elements, got ${array.length}`, 'ERR_INVALID_LENGTH')
  }
  return array
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (ArrayBuffer.isView(value)) return value.constructor.name
  if (Array.isArray(value)) return 'Array'
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return typeof value === 'number' ? String(value) : typeof value
}
