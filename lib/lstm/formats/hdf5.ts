// Read-only access to HDF5 files (Keras' weights) through jsfive, a pure-JavaScript HDF5 reader (no native
// code, no WebAssembly), loaded only when a Keras file is read.
//
// jsfive trusts the file: a damaged B-tree can make it loop for ever (a child node claiming its parent's
// level is appended to the list being walked) and a hostile size can make it allocate without bound. So it
// runs in a worker thread with a memory limit, and the caller waits for it synchronously (Atomics.wait)
// with a time limit: the worker copies the file's whole tree (groups, attributes, dataset shapes, float
// data) into plain objects, and past either limit it is terminated and the file refused. Everything here
// then reads those objects, checking every shape and type before use; failures are SluiceError
// (ERR_MALFORMED_DATA, or ERR_NOT_SUPPORTED for valid data sluice does not read).
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads'
import { SluiceError } from '../../runtime/errors'

export interface Hdf5ReadLimits {
  /** Milliseconds the file may take to read (default 10,000 plus 1 per KiB). */
  timeoutMs?: number
}

/** A copied HDF5 object. */
type Hdf5Node =
  | { kind: 'group'; attrs: Record<string, unknown>; children: Record<string, Hdf5Node> }
  | { kind: 'dataset'; attrs: Record<string, unknown>; shape: unknown; dtype: unknown; values?: Float64Array; skipped?: string }
  | { kind: 'unreadable'; reason: string }

/** Limits of the tree copied: far above any Keras model's, far below what would exhaust memory. */
const MAX_DEPTH = 24
const MAX_OBJECTS = 100_000

// The worker: plain CommonJS, run with `eval`. It requires jsfive by the path the caller resolved.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { jsfivePath, bytes, port, signal, maxDepth, maxObjects } = workerData
let objects = 0
function attrsOf(node) {
  let attrs
  try { attrs = node.attrs } catch (error) { return { __unreadable: String(error && error.message || error) } }
  const out = {}
  for (const key of Object.keys(attrs || {})) {
    const value = attrs[key]
    try { structuredClone(value); out[key] = value } catch { out[key] = null }
  }
  return out
}
function copy(node, depth) {
  if (++objects > maxObjects) throw new Error('more than ' + maxObjects + ' objects')
  try {
    const attrs = attrsOf(node)
    if (Array.isArray(node.keys) && typeof node.get === 'function') {
      const children = {}
      if (depth < maxDepth) {
        for (const key of node.keys) {
          let child
          try { child = node.get(key) } catch (error) { children[key] = { kind: 'unreadable', reason: String(error && error.message || error).slice(0, 200) }; continue }
          children[key] = child == null ? { kind: 'unreadable', reason: 'a dangling link' } : copy(child, depth + 1)
        }
      }
      return { kind: 'group', attrs, children }
    }
    const shape = node.shape
    const dtype = node.dtype
    const out = { kind: 'dataset', attrs, shape: Array.isArray(shape) ? shape.slice() : shape, dtype: typeof dtype === 'string' ? dtype : String(dtype) }
    if (typeof dtype === 'string' && /^[<>]f[248]$/.test(dtype) && Array.isArray(shape)) {
      // Each float takes at least two bytes of the file: a larger shape is a lie, not a reason to allocate.
      const count = shape.reduce((a, b) => a * b, 1)
      if (!Number.isSafeInteger(count) || count > bytes.length / 2) out.skipped = 'its shape [' + shape.join(', ') + '] is larger than the file'
      else out.values = Float64Array.from(node.value)
    }
    return out
  } catch (error) {
    return { kind: 'unreadable', reason: String(error && error.message || error).slice(0, 200) }
  }
}
let message
try {
  const hdf5 = require(jsfivePath)
  const file = new hdf5.File(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength), 'file')
  message = { tree: copy(file, 0) }
} catch (error) {
  message = { error: String(error && error.message || error).slice(0, 300) }
}
port.postMessage(message)
Atomics.store(signal, 0, 1)
Atomics.notify(signal, 0)
`

let jsfivePath: string | undefined

function resolveJsfive(): string {
  if (jsfivePath === undefined) {
    try {
      jsfivePath = require.resolve('jsfive')
    } catch (error) {
      throw new SluiceError(`reading HDF5 (Keras) files needs the package 'jsfive', which could not be found: ${(error as Error).message}`, 'ERR_NOT_SUPPORTED')
    }
  }
  return jsfivePath
}

/** Reads the whole HDF5 tree in a worker, within the time and memory limits. */
function readTree(bytes: Uint8Array, file: string, limits: Hdf5ReadLimits): Hdf5Node {
  const timeoutMs = limits.timeoutMs ?? 10_000 + Math.ceil(bytes.length / 1024)
  const signal = new Int32Array(new SharedArrayBuffer(4))
  const { port1, port2 } = new MessageChannel()
  // Memory: the copied file, jsfive's plain-array reads (8 bytes and more per value) and its bookkeeping.
  const memoryMb = Math.min(8192, 256 + Math.ceil((bytes.length * 24) / 2 ** 20))
  const worker = new Worker(workerSource, {
    eval: true,
    // A view of a larger buffer (an entry of a stored zip) would clone the whole buffer: copy just the view.
    workerData: { jsfivePath: resolveJsfive(), bytes: bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(), port: port2, signal, maxDepth: MAX_DEPTH, maxObjects: MAX_OBJECTS },
    transferList: [port2],
    resourceLimits: { maxOldGenerationSizeMb: memoryMb },
    stdout: true,
    stderr: true, // jsfive prints warnings about attribute types it skips
  })
  worker.unref()
  try {
    const waited = Atomics.wait(signal, 0, 0, timeoutMs)
    const received = receiveMessageOnPort(port1)
    if (waited === 'timed-out' || received === undefined) {
      throw new SluiceError(`${file}: the HDF5 data could not be read within ${timeoutMs} ms and ${memoryMb} MB (a damaged or hostile file)`, 'ERR_MALFORMED_DATA')
    }
    const message = received.message as { tree?: Hdf5Node; error?: string }
    if (message.tree === undefined) throw new SluiceError(`${file}: not a readable HDF5 file: ${message.error ?? 'unknown error'}`, 'ERR_MALFORMED_DATA')
    return message.tree
  } finally {
    void worker.terminate()
    port1.close()
  }
}

/** Strings in HDF5 attributes: fixed-length ones come NUL-padded. */
function cleanString(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const end = value.indexOf('\0')
  return end === -1 ? value : value.slice(0, end)
}

const own = (record: object, key: string) => Object.prototype.hasOwnProperty.call(record, key)

/** An HDF5 group (or the file's root) of a file read by Hdf5Group.open. */
export class Hdf5Group {
  private constructor(private readonly node: Extract<Hdf5Node, { kind: 'group' }>, readonly path: string, private readonly file: string) {}

  /** Reads `bytes` as an HDF5 file; `file` names it in messages. */
  static open(bytes: Uint8Array, file: string, limits: Hdf5ReadLimits = {}): Hdf5Group {
    const tree = readTree(bytes, file, limits)
    if (tree.kind !== 'group') throw new SluiceError(`${file}: not a readable HDF5 file${tree.kind === 'unreadable' ? `: ${tree.reason}` : ''}`, 'ERR_MALFORMED_DATA')
    return new Hdf5Group(tree, '', file)
  }

  private where(name?: string): string {
    const path = name === undefined ? this.path : `${this.path}/${name}`
    return `${this.file}: '${path || '/'}'`
  }

  keys(): string[] {
    return Object.keys(this.node.children)
  }

  private lookup(name: string): Hdf5Node | undefined {
    let node: Hdf5Node = this.node
    for (const part of name.split('/').filter((p) => p !== '')) {
      if (node.kind !== 'group' || !own(node.children, part)) return undefined
      node = node.children[part]!
    }
    return node
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined
  }

  private object(name: string): Hdf5Node {
    const node = this.lookup(name)
    if (node === undefined) throw new SluiceError(`${this.where(name)} is missing`, 'ERR_MALFORMED_DATA')
    if (node.kind === 'unreadable') throw new SluiceError(`${this.where(name)} is unreadable: ${node.reason}`, 'ERR_MALFORMED_DATA')
    return node
  }

  /** The group at `name` (a path relative to this group). */
  group(name: string): Hdf5Group {
    const node = this.object(name)
    if (node.kind !== 'group') throw new SluiceError(`${this.where(name)} is not a group`, 'ERR_MALFORMED_DATA')
    return new Hdf5Group(node, `${this.path}/${name}`, this.file)
  }

  hasAttribute(name: string): boolean {
    return own(this.node.attrs, name)
  }

  /** A string attribute (NUL padding removed), or undefined when absent. */
  stringAttribute(name: string): string | undefined {
    if (!own(this.node.attrs, name)) return undefined
    const value = this.node.attrs[name]
    const text = cleanString(Array.isArray(value) && value.length === 1 ? value[0] : value)
    if (text === undefined) throw new SluiceError(`${this.where()}: attribute '${name}' is not a string`, 'ERR_MALFORMED_DATA')
    return text
  }

  /**
   * A list-of-strings attribute, or undefined when absent. Keras splits lists too long for one object header
   * into `name0`, `name1`, … (save_attributes_to_hdf5_group); those are joined.
   */
  stringListAttribute(name: string): string[] | undefined {
    const attrs = this.node.attrs
    const parts: unknown[] = []
    if (own(attrs, name)) parts.push(attrs[name])
    else for (let k = 0; own(attrs, `${name}${k}`); k++) parts.push(attrs[`${name}${k}`])
    if (parts.length === 0) return undefined
    const strings: string[] = []
    for (const part of parts) {
      for (const item of Array.isArray(part) ? part : [part]) {
        const text = cleanString(item)
        if (text === undefined) throw new SluiceError(`${this.where()}: attribute '${name}' is not a list of strings`, 'ERR_MALFORMED_DATA')
        strings.push(text)
      }
    }
    return strings
  }

  private dataset(name: string): Extract<Hdf5Node, { kind: 'dataset' }> {
    const node = this.object(name)
    if (node.kind !== 'dataset') throw new SluiceError(`${this.where(name)} is not a dataset`, 'ERR_MALFORMED_DATA')
    return node
  }

  /** The shape of the dataset at `name`. */
  shapeOf(name: string): number[] {
    const { shape } = this.dataset(name)
    if (!Array.isArray(shape) || shape.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
      throw new SluiceError(`${this.where(name)} is not a dataset with a simple shape`, 'ERR_MALFORMED_DATA')
    }
    return shape as number[]
  }

  /** The float dataset at `name` with exactly `shape`, as float32 (float16 and float64 data are converted). */
  floats(name: string, shape: number[], what: string): Float32Array {
    const where = `${this.where(name)} (${what})`
    const actual = this.shapeOf(name)
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      throw new SluiceError(`${where} has shape [${actual.join(', ')}], expected [${shape.join(', ')}]`, 'ERR_MALFORMED_DATA')
    }
    const node = this.dataset(name)
    if (typeof node.dtype !== 'string' || !/^[<>]f[248]$/.test(node.dtype)) {
      throw new SluiceError(`${where} has data type ${JSON.stringify(node.dtype)}${own(node.attrs, 'dtype') ? ` (${String(node.attrs.dtype)})` : ''}; weights must be float16, float32 or float64`, 'ERR_NOT_SUPPORTED')
    }
    if (node.values === undefined) throw new SluiceError(`${where} is unreadable: ${node.skipped ?? 'no data'}`, 'ERR_MALFORMED_DATA')
    const count = shape.reduce((a, b) => a * b, 1)
    if (node.values.length !== count) throw new SluiceError(`${where} holds ${node.values.length} values, expected ${count}`, 'ERR_MALFORMED_DATA')
    return Float32Array.from(node.values)
  }
}
